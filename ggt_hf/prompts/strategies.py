"""Restoration prompts: the paper's prompting strategies, with templates kept as files.

Strategies (``make_strategy(spec)``):

* ``none`` — no prompt (for restorers that take none);
* ``fixed`` — one generic restoration prompt for every image (``prompt_texts/fixed.txt``);
* ``fixed-no-change`` — the fixed prompt plus an explicit do-not-alter-content instruction
  (``prompt_texts/fixed_no_change.txt``);
* ``adaptive:<vlm>`` — a VLM client (:func:`ggt_hf.backends.create_vlm`) looks at the LQ image and
  writes an image-specific prompt from ``prompt_texts/adaptive_instruction.txt``: the degradations it
  sees and what must be preserved. ``adaptive:heuristic`` is the offline analyser-based stand-in.

:func:`corrective_prompt` turns a judge's feedback into the next attempt's prompt
(``prompt_texts/corrective.txt``), for QC stage 2's regenerate loop.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from ggt_hf.backends.base import PromptResult, VLMClient
from ggt_hf.prompt_texts import template

#: The one registry of prompt strategies: those that need no VLM, name → template file (``None``:
#: no prompt), plus ``adaptive:<vlm>``. Every other list of strategies derives from it.
FIXED_STRATEGIES: dict[str, str | None] = {
    "none": None,
    "fixed": "fixed",
    "fixed-no-change": "fixed_no_change",
}
ADAPTIVE = "adaptive"
STRATEGIES = (*FIXED_STRATEGIES, f"{ADAPTIVE}:<vlm>")


def fixed_prompt(name: str) -> str | None:
    """The text of the fixed strategy ``name`` (``None`` for ``none``)."""
    file = FIXED_STRATEGIES[name]
    return None if file is None else template(file)


def check_strategy(spec: str) -> None:
    """Refuse a spec that names no strategy, with a "did you mean" for a near miss (an adaptive
    strategy's VLM name is checked where the client is made).

    Raises:
        ValueError: names the spec, the closest strategy and every strategy.
    """
    kind, _, vlm_name = spec.partition(":")
    if spec in FIXED_STRATEGIES or (kind == ADAPTIVE and vlm_name):
        return
    close = difflib.get_close_matches(kind, [*FIXED_STRATEGIES, ADAPTIVE], n=1)
    guess = f"{ADAPTIVE}:{vlm_name or '<vlm>'}" if close == [ADAPTIVE] else (close or [None])[0]
    hint = f"did you mean {guess!r}? " if guess else ""
    raise ValueError(f"unknown prompt strategy {spec!r}; {hint}expected one of {', '.join(STRATEGIES)}")


@dataclass
class PromptStrategy:
    """A prompting strategy; ``vlm`` is set for adaptive ones."""

    name: str
    vlm: VLMClient | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def prompt(
        self, image: Image.Image, *, category: str | None = None, item_id: str = "<item>"
    ) -> PromptResult:
        """The restoration prompt for ``image`` (and, for adaptive strategies, the analysis)."""
        if self.name in FIXED_STRATEGIES:
            return PromptResult(fixed_prompt(self.name) or "")
        assert self.vlm is not None
        instruction = template("adaptive_instruction").format(category=category or "unknown")
        return self.vlm.describe(image, instruction=instruction, item_id=item_id)

    @property
    def label(self) -> str:
        return self.name if self.vlm is None else f"{ADAPTIVE}:{self.vlm.name}"


def make_strategy(spec: str, **vlm_kwargs: Any) -> PromptStrategy:
    """``fixed`` / ``fixed-no-change`` / ``none`` / ``adaptive:<vlm name>`` → a strategy."""
    check_strategy(spec)
    if spec in FIXED_STRATEGIES:
        return PromptStrategy(spec)
    from ggt_hf.backends import create_vlm

    return PromptStrategy(ADAPTIVE, vlm=create_vlm(spec.partition(":")[2], **vlm_kwargs))


def corrective_prompt(prompt: str, feedback: str | None) -> str:
    """The prompt of the next attempt after a rejection with the judge's ``feedback``."""
    if not feedback:
        return prompt
    return template("corrective").format(prompt=prompt, feedback=feedback)
