"""Restoration prompts: the paper's prompting strategies, with templates kept as files.

Strategies (``make_strategy(spec)``):

* ``none`` — no prompt (for restorers that take none);
* ``fixed`` — one generic restoration prompt for every image (``prompts/fixed.txt``);
* ``fixed-no-change`` — the fixed prompt plus an explicit do-not-alter-content instruction
  (``prompts/fixed_no_change.txt``);
* ``adaptive:<vlm>`` — a VLM client (:func:`ggt_hf.backends.create_vlm`) looks at the LQ image and
  writes an image-specific prompt from ``prompts/adaptive_instruction.txt``: the degradations it
  sees and what must be preserved. ``adaptive:heuristic`` is the offline analyser-based stand-in.

:func:`corrective_prompt` turns a judge's feedback into the next attempt's prompt
(``prompts/corrective.txt``), for QC stage 2's regenerate loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from PIL import Image

from ggt_hf.backends.base import PromptResult, VLMClient


@cache
def template(name: str) -> str:
    """The text of ``ggt_hf/prompts/<name>.txt`` (trailing whitespace stripped)."""
    return resources.files("ggt_hf").joinpath("prompts", f"{name}.txt").read_text(encoding="utf-8").strip()


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
        if self.name == "none":
            return PromptResult("")
        if self.name == "fixed":
            return PromptResult(template("fixed"))
        if self.name == "fixed-no-change":
            return PromptResult(template("fixed_no_change"))
        assert self.vlm is not None
        instruction = template("adaptive_instruction").format(category=category or "unknown")
        return self.vlm.describe(image, instruction=instruction, item_id=item_id)

    @property
    def label(self) -> str:
        return self.name if self.vlm is None else f"adaptive:{self.vlm.name}"


STRATEGIES = ("none", "fixed", "fixed-no-change", "adaptive:<vlm>")


def make_strategy(spec: str, **vlm_kwargs: Any) -> PromptStrategy:
    """``fixed`` / ``fixed-no-change`` / ``none`` / ``adaptive:<vlm name>`` → a strategy."""
    if spec in ("none", "fixed", "fixed-no-change"):
        return PromptStrategy(spec)
    kind, _, vlm_name = spec.partition(":")
    if kind != "adaptive" or not vlm_name:
        raise ValueError(f"unknown prompt strategy {spec!r}; expected one of {', '.join(STRATEGIES)}")
    from ggt_hf.backends import create_vlm

    return PromptStrategy("adaptive", vlm=create_vlm(vlm_name, **vlm_kwargs))


def corrective_prompt(prompt: str, feedback: str | None) -> str:
    """The prompt of the next attempt after a rejection with the judge's ``feedback``."""
    if not feedback:
        return prompt
    return template("corrective").format(prompt=prompt, feedback=feedback)
