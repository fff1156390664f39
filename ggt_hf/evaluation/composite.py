"""The GGT-100K composite score (paper, Table 1): per-metric min-max across systems, group means, Avg.

For systems ``i`` and metrics ``j``::

    m̃_ij  = (m_ij − min_j) / (max_j − min_j)      higher-is-better metrics
    m̃_ij  = (max_j − m_ij) / (max_j − min_j)      lower-is-better metrics (inverted: 1 = best)
    s_i^a  = mean of m̃_ij over the metrics j of group a (fidelity, perceptual, vlm)
    Avg_i  = mean of s_i^a over the groups a

``min_j`` / ``max_j`` are taken across the compared systems, so the composite is *relative*: adding
or removing a system changes everybody's scores. Direction and group of each metric come from
:mod:`ggt_hf.metrics.specs` (never hard-coded here).

Edge cases (the rules this module implements):

* **Ties** — when ``max_j == min_j`` every system with a value gets ``m̃ = 1.0`` for that metric: all
  share the best value. This includes the **single system** case, where every normalised value,
  group score and Avg is 1.0.
* **Missing values** — ``None``, NaN and ±inf (any non-finite number), or a metric absent from a
  system's mapping, are *missing*: ``m̃`` is ``None`` and the value is left out of that system's
  group mean (the other systems are normalised among themselves). A metric with no finite value at
  all is ignored entirely (listed in :attr:`CompositeResult.ignored_metrics`).
* **Empty group** — a group without any normalised value for a system gets ``s = None``; that
  system's Avg is the mean of the groups it has (listed in :attr:`CompositeResult.groups_used`), and
  ``None`` when it has none. Such an Avg is not directly comparable with a three-group Avg; the
  tables and JSON keep ``groups_used`` so readers can see it.
* **Groupless metrics** — metrics whose spec has ``group=None`` (extras such as ``gmsd``) are
  normalised too (handy for tables) but never enter a group score or Avg.
* **Unknown metrics** — a metric name missing from the specs table raises ``KeyError`` naming it.
  Names are matched case-insensitively (``"PSNR"`` is ``psnr``) and stored under the spec's name.
* **Ranking** — best Avg first; equal Avg keep the input order; systems without Avg come last.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ggt_hf.metrics.specs import GROUPS, METRICS, MetricSpec, get_spec

#: Display titles of the composite groups (tables, plots).
GROUP_TITLES: dict[str, str] = {"fidelity": "Fidelity", "perceptual": "Perceptual", "vlm": "VLM"}


@dataclass
class CompositeResult:
    """Raw values, normalised values, group scores and Avg of every system.

    Attributes:
        systems: system names in input order.
        raw: system → metric → raw value (``None`` when missing or non-finite).
        normalised: system → metric → ``m̃`` in [0, 1], 1 = best (``None`` when missing).
        groups: system → group → ``s`` (``None`` when the system has no metric of that group).
        avg: system → Avg (``None`` when the system has no group score).
        metrics: metric names considered, in column order.
        groups_used: system → the groups whose scores entered its Avg.
        ignored_metrics: metrics with no finite value for any system (left out of everything).
    """

    systems: list[str]
    raw: dict[str, dict[str, float | None]]
    normalised: dict[str, dict[str, float | None]]
    groups: dict[str, dict[str, float | None]]
    avg: dict[str, float | None]
    metrics: list[str] = field(default_factory=list)
    groups_used: dict[str, list[str]] = field(default_factory=dict)
    ignored_metrics: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.metrics:
            seen = {m for row in self.raw.values() for m in row}
            self.metrics = [m for m in METRICS if m in seen]
        if not self.groups_used:
            self.groups_used = {
                s: [g for g in GROUPS if self.groups.get(s, {}).get(g) is not None] for s in self.systems
            }

    @property
    def specs(self) -> list[MetricSpec]:
        """The specs of :attr:`metrics`, in column order."""
        return [get_spec(m) for m in self.metrics]

    @property
    def present_groups(self) -> list[str]:
        """Groups (in :data:`GROUPS` order) with a score for at least one system."""
        return [g for g in GROUPS if any(self.groups.get(s, {}).get(g) is not None for s in self.systems)]

    def ranking(self) -> list[str]:
        """Systems by Avg, best first; ties keep the input order; systems without Avg come last."""
        order = {s: i for i, s in enumerate(self.systems)}

        def key(system: str) -> tuple[int, float, int]:
            value = self.avg.get(system)
            return (1, 0.0, order[system]) if value is None else (0, -value, order[system])

        return sorted(self.systems, key=key)


def _value(system: str, metric: str, value: object) -> float | None:
    """``value`` as a finite float, or ``None`` when missing / non-finite; ``TypeError`` otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"system {system!r}, metric {metric!r}: expected a number or None, got {value!r}")
    number = float(value)
    return number if math.isfinite(number) else None


def _canonical(system: str, row: Mapping[str, object]) -> dict[str, object]:
    """``row`` keyed by spec names (``KeyError`` for unknown names, ``ValueError`` for duplicates)."""
    out: dict[str, object] = {}
    for name, value in row.items():
        spec = get_spec(name)
        if spec.name in out:
            raise ValueError(f"system {system!r}: metric {spec.name!r} given twice (as {name!r})")
        out[spec.name] = value
    return out


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def composite(
    raw: Mapping[str, Mapping[str, float | None]], metrics: Sequence[str] | None = None
) -> CompositeResult:
    """The paper's composite over the systems of ``raw`` (system → metric name → value).

    Args:
        raw: raw metric values per system; ``None`` / NaN mark a missing value.
        metrics: metric names to consider, in column order. Default: every metric found in ``raw``,
            in the specs table order (the paper's column order). Metrics of ``raw`` not listed are
            dropped; listed metrics absent from ``raw`` are missing for every system (and ignored).

    Returns:
        A :class:`CompositeResult`; see the module docstring for ties and missing values.

    Raises:
        KeyError: a metric name (in ``raw`` or ``metrics``) unknown to :mod:`ggt_hf.metrics.specs`.
        TypeError: a value that is neither a real number nor ``None``.
    """
    systems = [str(s) for s in raw]
    rows = {str(s): _canonical(str(s), row) for s, row in raw.items()}
    if metrics is None:
        seen = {m for row in rows.values() for m in row}
        specs = [spec for name, spec in METRICS.items() if name in seen]
    else:
        specs = list({spec.name: spec for spec in (get_spec(m) for m in metrics)}.values())
    names = [spec.name for spec in specs]

    values = {s: {m: _value(s, m, rows[s].get(m)) for m in names} for s in systems}
    normalised: dict[str, dict[str, float | None]] = {s: {} for s in systems}
    ignored: list[str] = []
    for spec in specs:
        finite = [v for s in systems if (v := values[s][spec.name]) is not None]
        if not finite:
            ignored.append(spec.name)
        lo, hi = (min(finite), max(finite)) if finite else (0.0, 0.0)
        for s in systems:
            v = values[s][spec.name]
            if v is None:
                normalised[s][spec.name] = None
            elif hi == lo:
                normalised[s][spec.name] = 1.0  # a tie: everyone shares the best value
            elif spec.lower_better:
                normalised[s][spec.name] = (hi - v) / (hi - lo)
            else:
                normalised[s][spec.name] = (v - lo) / (hi - lo)

    groups: dict[str, dict[str, float | None]] = {}
    avg: dict[str, float | None] = {}
    used: dict[str, list[str]] = {}
    for s in systems:
        groups[s] = {
            g: _mean([v for spec in specs if spec.group == g and (v := normalised[s][spec.name]) is not None])
            for g in GROUPS
        }
        used[s] = [g for g in GROUPS if groups[s][g] is not None]
        avg[s] = _mean([groups[s][g] for g in used[s]])  # type: ignore[misc]
    return CompositeResult(
        systems=systems,
        raw=values,
        normalised=normalised,
        groups=groups,
        avg=avg,
        metrics=names,
        groups_used=used,
        ignored_metrics=ignored,
    )
