"""The texts ggt sends to models, kept as files beside this module: the restoration prompts
(``fixed.txt``, ``fixed_no_change.txt``), the adaptive-prompt instruction, the corrective prompt and
the judge instruction.

They sit below :mod:`ggt_hf.backends` (a backend's default prompt, the judge instruction it sends)
and :mod:`ggt_hf.prompts` (the prompting strategies), which both read them through :func:`template`.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def template(name: str) -> str:
    """The text of ``ggt_hf/prompt_texts/<name>.txt`` (trailing whitespace stripped)."""
    return resources.files(__name__).joinpath(f"{name}.txt").read_text(encoding="utf-8").strip()
