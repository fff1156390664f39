"""QC stage 2: generate, check, and regenerate with a corrective prompt — up to 3 attempts.

Each attempt restores the LQ with the current prompt, then runs every check:

* stage 1 metric filter (:mod:`ggt_hf.qc.metric_filter`), when configured;
* automatic geometry and colour checks (:mod:`ggt_hf.judging.geometry`: shift, scale, rotation,
  global colour shift) — beyond the paper, because MFMs often move or crop the scene;
* the judge (a VLM client or any :class:`~ggt_hf.judging.verdict.Judge`) over the five aspects.

The first attempt that passes everything is accepted. A stage-1 failure excludes the item, as the
paper does ("exclude samples where no-reference perceptual metrics show little or negative
improvement"): the geometry checks and the judge are not run, nothing is regenerated, and the
attempt's ``metadata["stage1"]`` records the margins and why (``stage1_fail="regenerate"`` treats
it like any other rejection instead). Any other rejection turns the judge's feedback and
the failed checks' reasons into the next prompt (:func:`ggt_hf.prompts.strategies.corrective_prompt`).
Every attempt is returned, so rejected candidates become negatives and every verdict keeps its
reason. A safety refusal stops the item (re-asking would be refused again); a backend failure
that survived the retry wrapper counts as a failed attempt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from ggt_hf.backends.base import BackendError, BackendRefused, ImageBackend, RestoreRequest
from ggt_hf.constants import JUDGE_ASPECTS, MAX_QC_ATTEMPTS
from ggt_hf.prompts.strategies import corrective_prompt
from ggt_hf.records import QCCheck

logger = logging.getLogger(__name__)

#: What a stage-1 (metric filter) failure does: exclude the item (the paper) or regenerate it.
STAGE1_FAIL = ("exclude", "regenerate")


def metric_group_passes(passed: list[bool], require: str) -> bool:
    """Whether stage 1 passes: every metric (``require="all"``) or at least one (``"any"``)."""
    return (all if require == "all" else any)(passed)


@dataclass
class QCConfig:
    """What stage 2 runs; ``None`` switches a part off."""

    metric_filter: Any = None  # MetricFilter instance (built once, reused across items)
    geometry: Any = "default"  # GeometryTolerances, "default", or None to skip
    max_attempts: int = MAX_QC_ATTEMPTS
    stage1_fail: str = "exclude"  # the paper; "regenerate": re-prompt like any other rejection

    def __post_init__(self) -> None:
        if not 1 <= self.max_attempts <= MAX_QC_ATTEMPTS:
            raise ValueError(f"max_attempts must be between 1 and {MAX_QC_ATTEMPTS}, got {self.max_attempts}")
        if self.stage1_fail not in STAGE1_FAIL:
            raise ValueError(f"stage1_fail must be one of {STAGE1_FAIL}, got {self.stage1_fail!r}")

    def excludes(self, checks: list[QCCheck]) -> bool:
        """Whether ``checks`` exclude the item: the policy is ``"exclude"`` and stage 1 failed
        (all or any of its metrics, as the filter's ``require`` says)."""
        if self.metric_filter is None or self.stage1_fail != "exclude":
            return False
        metric = [c.passed for c in checks if c.stage == "metric"]
        return bool(metric) and not metric_group_passes(metric, self.metric_require)

    @property
    def metric_require(self) -> str:
        """``"all"`` or ``"any"``: how many stage-1 metrics must pass (the filter's ``require``)."""
        return getattr(getattr(self.metric_filter, "config", None), "require", "all")

    def stage1_record(self, checks: list[QCCheck]) -> dict[str, Any]:
        """What stage 1 applied to a candidate, for its provenance: the filter's metrics and margins
        (:meth:`MetricFilter.settings`), the policy, and whether it excluded the item."""
        settings = getattr(self.metric_filter, "settings", None)
        return {
            **(settings() if settings else {}),
            "on_fail": self.stage1_fail,
            "excluded": self.excludes(checks),
        }


@dataclass
class Attempt:
    """One generation and its checks."""

    attempt: int
    prompt: str
    seed: int | None
    image: Image.Image | None = None
    checks: list[QCCheck] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    feedback: str | None = None
    metric_require: str = "all"  # stage 1 passes when all / any of its metrics pass

    def failed_checks(self) -> list[QCCheck]:
        """The checks that reject this attempt. Stage-1 metric checks count as one group: with
        ``metric_require="any"`` a failed metric does not reject when another metric passed."""
        metric = [c.passed for c in self.checks if c.stage == "metric"]
        metric_ok = bool(metric) and metric_group_passes(metric, self.metric_require)
        return [c for c in self.checks if not c.passed and not (c.stage == "metric" and metric_ok)]

    @property
    def accepted(self) -> bool:
        return self.image is not None and self.error is None and not self.failed_checks()

    @property
    def reasons(self) -> list[str]:
        """Why it was rejected (empty when accepted)."""
        if self.error:
            return [self.error]
        return [f"{c.stage}/{c.name}: {c.reason}" for c in self.failed_checks()]


def run_checks(
    lq: Image.Image, hq: Image.Image, prompt: str, judge, config: QCConfig, category: str | None = None
) -> tuple[list[QCCheck], str | None]:
    """All stage-1/auto/judge checks of one candidate and the judge's feedback (geometry and colour
    tolerances per ``category``: :meth:`GeometryTolerances.for_category`)."""
    checks: list[QCCheck] = []
    if config.metric_filter is not None:
        checks += config.metric_filter.check(lq, hq)[1]
        if config.excludes(checks):
            return checks, None  # excluded: no geometry check, no judge call
    if config.geometry is not None:
        from ggt_hf.judging.geometry import GeometryTolerances, check_geometry

        tolerances = (
            GeometryTolerances.for_category(category) if config.geometry == "default" else config.geometry
        )
        checks += check_geometry(lq, hq, tolerances)
    feedback = None
    if judge is not None:
        verdict = judge.judge(lq, hq, prompt=prompt)
        feedback = verdict.feedback
        for aspect in JUDGE_ASPECTS:
            checks.append(
                QCCheck("judge", aspect, bool(verdict.aspects[aspect]), None, verdict.reasons.get(aspect))
            )
    return checks, feedback


def generate_with_qc(
    item_id: str,
    lq: Image.Image,
    prompt: str,
    backend: ImageBackend,
    judge,
    config: QCConfig,
    *,
    seed: int | None = None,
    category: str | None = None,
) -> list[Attempt]:
    """Attempts for one item, stopping at the first accepted one (see module docstring)."""
    attempts: list[Attempt] = []
    current = prompt
    for n in range(1, config.max_attempts + 1):
        attempt_seed = None if seed is None else seed + n - 1
        attempt = Attempt(n, current, attempt_seed, metric_require=config.metric_require)
        attempts.append(attempt)
        try:
            result = backend.restore(RestoreRequest(lq, current or None, attempt_seed, item_id))
        except BackendRefused as exc:
            attempt.error = f"refused: {exc.reason}"
            if exc.safety:
                break
            continue
        except BackendError as exc:
            attempt.error = f"failed: {exc.reason}"
            continue
        attempt.image, attempt.metadata = result.image, dict(result.metadata)
        attempt.metadata["usage"] = dict(vars(result.usage))
        attempt.metadata["model_id"] = result.model_id
        attempt.checks, attempt.feedback = run_checks(lq, result.image, current, judge, config, category)
        if config.metric_filter is not None:
            attempt.metadata["stage1"] = config.stage1_record(attempt.checks)
            if attempt.metadata["stage1"]["excluded"]:
                logger.info("%s: excluded at stage 1: %s", item_id, "; ".join(attempt.reasons))
                break
        if attempt.accepted:
            break
        hints = [attempt.feedback] if attempt.feedback else []
        hints += [r for r in attempt.reasons if r.startswith(("auto/", "metric/"))]
        current = corrective_prompt(prompt, "; ".join(hints) or None)
        logger.info("%s: attempt %d rejected: %s", item_id, n, "; ".join(attempt.reasons))
    return attempts
