"""The judge protocol: a :class:`Judge` looks at an LQ input and a restored output and returns a
:class:`Verdict` over the paper's five aspects (:data:`ggt_hf.constants.JUDGE_ASPECTS`).

It sits below every package that judges or is judged: real VLM judges (Gemini, OpenAI, a local
Qwen-VL) implement it in :mod:`ggt_hf.backends`, QC stage 2 (:mod:`ggt_hf.qc.loop`) and VLM-R
(:mod:`ggt_hf.evaluation.vlm_r`) consume it, and :mod:`ggt_hf.judging.heuristic` is the offline
stand-in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from PIL import Image

from ggt_hf.constants import JUDGE_ASPECTS


@dataclass
class Verdict:
    """A judge's decision on one restoration."""

    aspects: dict[str, bool]
    reasons: dict[str, str] = field(default_factory=dict)
    feedback: str | None = None  # corrective instructions, used for re-prompting in QC

    def __post_init__(self) -> None:
        missing = set(JUDGE_ASPECTS) - set(self.aspects)
        if missing:
            raise ValueError(f"verdict lacks aspect(s) {', '.join(sorted(missing))}")

    @property
    def success(self) -> bool:
        return all(self.aspects[a] for a in JUDGE_ASPECTS)

    @property
    def failed(self) -> list[str]:
        return [a for a in JUDGE_ASPECTS if not self.aspects[a]]


@runtime_checkable
class Judge(Protocol):
    """Anything that judges a restoration of ``lq`` into ``out``."""

    name: str

    def judge(self, lq: Image.Image, out: Image.Image, *, prompt: str | None = None) -> Verdict: ...
