"""Restorer evaluation, the MFM benchmark and their tables, composite scores and plots."""
