"""VLM-R: the success rate of restorations as judged by a vision-language model.

A :class:`~ggt_hf.judging.verdict.Judge` looks at an LQ input and a restored output and returns a
:class:`~ggt_hf.judging.verdict.Verdict` over the paper's five aspects (:data:`ggt_hf.constants.JUDGE_ASPECTS`); a restoration succeeds when every
aspect passes. VLM-R over a set is the fraction of successes. Real VLM judges (Gemini, OpenAI, a
local Qwen-VL) implement the same protocol in :mod:`ggt_hf.backends`; tests and offline runs use
:class:`ggt_hf.judging.heuristic.HeuristicJudge`, a deterministic, measurable stand-in
that is *not* a VLM.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from PIL import Image

from ggt_hf.constants import JUDGE_ASPECTS
from ggt_hf.judging.verdict import Judge, Verdict


@dataclass
class VlmRResult:
    """VLM-R over a set: the rate and every verdict by key."""

    judge: str
    verdicts: dict[str, Verdict]

    @property
    def rate(self) -> float:
        if not self.verdicts:
            return float("nan")
        return sum(v.success for v in self.verdicts.values()) / len(self.verdicts)

    def aspect_rates(self) -> dict[str, float]:
        """Pass rate of each aspect (which aspect fails most)."""
        n = max(1, len(self.verdicts))
        return {a: sum(v.aspects[a] for v in self.verdicts.values()) / n for a in JUDGE_ASPECTS}


def vlm_success_rate(judge: Judge, items: Iterable[tuple[str, Image.Image, Image.Image]]) -> VlmRResult:
    """Judge every ``(key, lq, out)`` and collect the verdicts."""
    return VlmRResult(judge.name, {key: judge.judge(lq, out) for key, lq, out in items})
