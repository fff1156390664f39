"""Restoration prompts: the paper's prompting strategies (:mod:`~ggt_hf.prompts.strategies`); the
texts they fill in are in :mod:`ggt_hf.prompt_texts`."""
