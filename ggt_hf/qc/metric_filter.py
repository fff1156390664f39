"""QC stage 1: keep a candidate only if no-reference metrics say the HQ improves on the LQ.

For each configured metric the *improvement* is ``hq − lq`` for higher-is-better metrics and
``lq − hq`` for lower-is-better ones (directions come from the metric specs table); the check
passes when the improvement reaches the metric's threshold. "Little or negative improvement"
rejects. Learned metrics (MUSIQ, MANIQA, TOPIQ-NR, ...) are used when their weights are present;
offline, only weight-free ones (PIQE) run, and unavailable metrics are reported, not silently
dropped (``MetricFilter.unavailable``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

from ggt_hf.metrics.specs import get_spec
from ggt_hf.records import QCCheck


@dataclass
class MetricFilterConfig:
    """Metric name → minimum improvement; ``require`` all or any metric to pass."""

    thresholds: dict[str, float] = field(default_factory=lambda: {"piqe": 0.0})
    require: str = "all"
    device: str | None = None
    max_side: int = 1024

    def __post_init__(self) -> None:
        if self.require not in ("all", "any"):
            raise ValueError(f"require must be 'all' or 'any', got {self.require!r}")
        for name in self.thresholds:
            if get_spec(name).mode != "NR":
                raise ValueError(f"stage-1 metric {name!r} is not a no-reference metric")


class MetricFilter:
    """Scores LQ and HQ with NR metrics and applies the thresholds."""

    def __init__(self, config: MetricFilterConfig | None = None) -> None:
        from ggt_hf.metrics.engine import MetricEngine

        self.config = config or MetricFilterConfig()
        self.engine = MetricEngine(list(self.config.thresholds), device=self.config.device, workers=1)
        self.unavailable = self.engine.drop_unavailable()
        if not self.engine.specs:
            raise ValueError(f"no stage-1 metric is available here: {self.unavailable}")

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
            need = self.config.thresholds[spec.name]
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
