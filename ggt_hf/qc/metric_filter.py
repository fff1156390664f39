"""QC stage 1: keep a candidate only if no-reference metrics say the HQ improves on the LQ.

For each configured metric the *improvement* is ``hq − lq`` for higher-is-better metrics and
``lq − hq`` for lower-is-better ones (directions come from the metric specs table); the check
passes when the improvement reaches the metric's threshold. "Little or negative improvement"
fails, and by default the item is then excluded, as in the paper (the QC loop's ``stage1_fail``).

``thresholds="paper"`` (the default) follows the paper: its no-reference metrics (NIQE, MUSIQ,
MANIQA, TOPIQ-NR, AFINE-NR) that have weights on this machine, each needing an improvement of at
least its margin of :data:`STAGE1_MARGINS` ("little" improvement: the paper gives no number, so the
margins are an assumption, about 1 % of each metric's usual range). ``margins`` overrides single
metrics, ``min_improvement`` sets one margin for all. When none of them has weights (offline), PIQE,
which needs none, is the fallback; :attr:`MetricFilter.note` says which case applied and the build report repeats it. Explicit
thresholds (``{"musiq": 1.0, ...}``) are used as given; unavailable metrics are reported, not
silently dropped (``MetricFilter.unavailable``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from ggt_hf.metrics.specs import get_spec, paper_metrics
from ggt_hf.records import QCCheck

#: ``thresholds`` value meaning "the paper's NR metrics, PIQE as the offline fallback".
PAPER = "paper"
#: The weight-free metric used when none of the paper's NR metrics is available.
FALLBACK_METRIC = "piqe"

#: "Little" improvement per metric, in the metric's own units (improvement = better direction
#: positive): a candidate must improve each metric by at least this much to pass stage 1 in
#: ``"paper"`` mode. The paper ("exclude samples where no-reference perceptual metrics show little or
#: negative improvement") gives no number: these are an assumption, about 1 % of each metric's usual
#: score range (NIQE ~0–10, MUSIQ 0–100, MANIQA / TOPIQ-NR 0–1, A-FINE ~−2–2, PIQE 0–100).
STAGE1_MARGINS: dict[str, float] = {
    "niqe": 0.1,
    "musiq": 1.0,
    "maniqa": 0.01,
    "topiq_nr": 0.01,
    "afine_nr": 0.02,
    "piqe": 1.0,
}


@dataclass
class MetricFilterConfig:
    """Metric name → minimum improvement; ``require`` all or any metric to pass.

    In ``"paper"`` mode each metric's threshold is its margin: ``margins[name]`` when given, else
    ``min_improvement`` when set (one margin for every metric), else :data:`STAGE1_MARGINS`."""

    thresholds: dict[str, float] | str = PAPER
    require: str = "all"
    device: str | None = None
    max_side: int = 1024
    min_improvement: float | None = None
    margins: dict[str, float] = field(default_factory=dict)

    def margin(self, name: str) -> float:
        """The ``"paper"``-mode threshold of metric ``name`` (see the class docstring)."""
        if name in self.margins:
            return float(self.margins[name])
        if self.min_improvement is not None:
            return float(self.min_improvement)
        return STAGE1_MARGINS.get(name, 0.0)

    def __post_init__(self) -> None:
        if self.require not in ("all", "any"):
            raise ValueError(f"require must be 'all' or 'any', got {self.require!r}")
        if isinstance(self.thresholds, str):
            if self.thresholds != PAPER:
                raise ValueError(f"metric thresholds must be a mapping or {PAPER!r}, got {self.thresholds!r}")
        elif self.margins:
            raise ValueError(
                "stage-1 margins apply to thresholds 'paper'; explicit thresholds are the margins"
            )
        for name in self.margins if isinstance(self.thresholds, str) else self.thresholds:
            if get_spec(name).mode != "NR":
                raise ValueError(f"stage-1 metric {name!r} is not a no-reference metric")


class MetricFilter:
    """Scores LQ and HQ with NR metrics and applies the thresholds."""

    def __init__(self, config: MetricFilterConfig | None = None) -> None:
        from ggt_hf.metrics.engine import MetricEngine

        self.config = config or MetricFilterConfig()
        paper = self.config.thresholds == PAPER
        if paper:
            self.thresholds = {s.name: self.config.margin(s.name) for s in paper_metrics("NR")}
        else:
            self.thresholds = dict(self.config.thresholds)
        self.engine = MetricEngine(list(self.thresholds), device=self.config.device, workers=1)
        self.unavailable = self.engine.drop_unavailable()
        if paper and not self.engine.specs:
            self.thresholds[FALLBACK_METRIC] = self.config.margin(FALLBACK_METRIC)
            self.engine = MetricEngine([FALLBACK_METRIC], device=self.config.device, workers=1)
        if not self.engine.specs:
            raise ValueError(f"no stage-1 metric is available here: {self.unavailable}")
        self.note = stage1_note([s.name for s in self.engine.specs], self.unavailable)

    def settings(self) -> dict[str, Any]:
        """What this filter applies, for the provenance of every candidate it checked: the metrics
        that ran with their margins (minimum improvements) and whether all or any must pass."""
        return {
            "margins": {s.name: self.thresholds[s.name] for s in self.engine.specs},
            "require": self.config.require,
        }

    def _scores(self, *images: Image.Image) -> list[dict[str, float]]:
        from ggt_hf.metrics.engine import PairItem

        items = []
        for i, img in enumerate(images):
            small = img.convert("RGB")
            small.thumbnail((self.config.max_side, self.config.max_side))
            items.append(PairItem(str(i), small))
        return [scores for _, scores in self.engine.score_pairs(items, progress=False)]

    def check(self, lq: Image.Image, hq: Image.Image) -> tuple[bool, list[QCCheck]]:
        """``(passed, checks)`` for one candidate."""
        lq_scores, hq_scores = self._scores(lq, hq)
        checks = []
        for spec in self.engine.specs:
            gain = hq_scores[spec.name] - lq_scores[spec.name]
            improvement = -gain if spec.lower_better else gain
            need = self.thresholds[spec.name]
            ok = improvement >= need
            checks.append(
                QCCheck(
                    "metric",
                    spec.name,
                    ok,
                    improvement,
                    f"{spec.title} {lq_scores[spec.name]:.3g} → {hq_scores[spec.name]:.3g} "
                    f"(improvement {improvement:+.3g}, need ≥ {need:+.3g})",
                )
            )
        decide = all if self.config.require == "all" else any
        return decide(c.passed for c in checks), checks


def stage1_note(used: list[str], unavailable: dict[str, str] | None = None) -> str:
    """One line for logs and the build report: which stage-1 metrics ran, and whether PIQE was
    only the offline fallback for the paper's metrics."""
    paper = {s.name for s in paper_metrics("NR")}
    names = ", ".join(get_spec(n).title for n in used) or "none"
    if used == [FALLBACK_METRIC] or (used and not set(used) & paper):
        why = "; ".join(f"{k}: {v}" for k, v in (unavailable or {}).items())
        return (
            f"Stage 1 metric filter: {names} — the offline fallback, not the paper's NR metrics "
            f"(fetch their weights with `ggt metrics fetch`){f'; {why}' if why else ''}"
        )
    return f"Stage 1 metric filter: {names} (the paper's no-reference metrics with weights here)"
