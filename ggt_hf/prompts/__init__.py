"""Restoration prompts: the paper's prompting strategies; the templates are the ``*.txt`` files beside this module."""
