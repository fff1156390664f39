"""Tables of evaluation results: the paper's Table-1 shape (systems × metrics + composite) and its
Table-2 shape (categories × metrics), as Markdown, plus CSV and JSON of a composite.

Column headers carry the metric direction from :mod:`ggt_hf.metrics.specs` (``PSNR↑``, ``LPIPS↓``);
the best value of each Table-1 column is **bold** (all tied values are bold). Group scores and
``Avg.`` are normalised composites, higher is better. Missing values print as ``—`` in Markdown and
as empty cells in CSV (``null`` in JSON).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ggt_hf.constants import CATEGORIES
from ggt_hf.evaluation.composite import GROUP_TITLES, CompositeResult
from ggt_hf.files.io_utils import atomic_write_text
from ggt_hf.metrics.specs import MetricSpec, get_spec

MISSING = "—"


def _specs(metrics: Sequence[str | MetricSpec]) -> list[MetricSpec]:
    return [m if isinstance(m, MetricSpec) else get_spec(m) for m in metrics]


def _cell(text: object) -> str:
    """Markdown-safe table cell text (pipes escaped, newlines flattened)."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _fmt(value: float | None, digits: int) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def _best(values: Sequence[float | None], lower_better: bool) -> float | None:
    finite = [v for v in values if v is not None]
    if not finite:
        return None
    return min(finite) if lower_better else max(finite)


def _render(header: list[str], rows: list[list[str]], title: str | None) -> str:
    lines = [f"### {title}", ""] if title else []
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def markdown_table(
    result: CompositeResult,
    metrics: Sequence[str | MetricSpec] | None = None,
    *,
    digits: int = 4,
    title: str | None = None,
    sort: bool = False,
    extra: Mapping[str, Mapping[str, str]] | None = None,
) -> str:
    """The Table-1 Markdown: one row per system, metric columns, group scores and ``Avg.``.

    Args:
        result: a :func:`~ggt_hf.evaluation.composite.composite` result.
        metrics: metric columns (names or specs); default: ``result.metrics``. The group scores
            and Avg are those of ``result`` whatever columns are shown.
        digits: decimals of every number.
        title: optional heading above the table.
        sort: rows in ranking order (best Avg first) instead of the input order.
        extra: more columns after ``Avg.`` (title → system → text, ``-`` when absent), e.g. Human.

    Group columns appear only for groups with a score for some system. The best value of every
    column is bold, the direction coming from the metric's spec (groups and Avg: higher is better).
    """
    specs = _specs(result.metrics if metrics is None else metrics)
    groups = result.present_groups
    systems = result.ranking() if sort else list(result.systems)
    extra = dict(extra or {})
    header = ["System", *(f"{s.title}{s.arrow}" for s in specs), *(GROUP_TITLES[g] for g in groups), "Avg."]
    header += [f"{title}↑" for title in extra]

    columns: list[tuple[list[float | None], bool]] = []  # (values in row order, lower_better)
    for spec in specs:
        columns.append(([result.raw.get(s, {}).get(spec.name) for s in systems], spec.lower_better))
    for group in groups:
        columns.append(([result.groups.get(s, {}).get(group) for s in systems], False))
    columns.append(([result.avg.get(s) for s in systems], False))

    rows = [[_cell(s)] for s in systems]
    for values, lower_better in columns:
        best = _best(values, lower_better)
        for row, value in zip(rows, values, strict=True):
            text = _fmt(value, digits)
            row.append(f"**{text}**" if value is not None and value == best else text)
    for column in extra.values():
        for row, system in zip(rows, systems, strict=True):
            row.append(column.get(system, "-"))
    return _render(header, rows, title)


def category_table(
    per_category: Mapping[str, Mapping[str, float | None]],
    metrics: Sequence[str | MetricSpec],
    *,
    digits: int = 4,
    title: str | None = None,
) -> str:
    """The Table-2 Markdown: one row per category, then ``overall``; metric columns with arrows.

    ``per_category`` maps a row name to metric → value; an ``overall`` row (if present) is moved
    last and printed bold-labelled. Missing values print as ``—``. No cell is bolded: the rows
    are categories of one system, not competitors.
    """
    specs = _specs(metrics)
    header = ["Category", *(f"{s.title}{s.arrow}" for s in specs)]
    # categories, then ``overall``, then other rows (e.g. the LQ inputs of a set without ground truth)
    known = [c for c in per_category if c in CATEGORIES]
    others = [c for c in per_category if c not in CATEGORIES and c != "overall"]
    names = known + (["overall"] if "overall" in per_category else []) + others
    rows = []
    for name in names:
        row = per_category[name]
        label = "**overall**" if name == "overall" else _cell(name)
        rows.append([label, *(_fmt(_metric_value(row, s), digits) for s in specs)])
    return _render(header, rows, title)


def _metric_value(row: Mapping[str, float | None], spec: MetricSpec) -> float | None:
    value = row.get(spec.name)
    if value is None:
        return None
    value = float(value)
    return value if value == value else None  # NaN → missing


def _csv_number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def write_csv(result: CompositeResult, path: str | os.PathLike) -> Path:
    """Write one row per system (input order) and return ``path``.

    Columns: ``system``, ``rank`` (1 = best Avg; empty without Avg), each metric's raw value
    (header = metric name), each metric's normalised value (``<metric>_norm``), the group
    scores (``<group>``), ``avg`` and ``groups_used`` (``;``-joined). Numbers are written with
    full precision (``repr``); missing values are empty cells.
    """
    rank = {s: i for i, s in enumerate(result.ranking(), start=1) if result.avg.get(s) is not None}
    groups = result.present_groups
    header = [
        "system",
        "rank",
        *result.metrics,
        *(f"{m}_norm" for m in result.metrics),
        *groups,
        "avg",
        "groups_used",
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for s in result.systems:
        writer.writerow(
            [
                s,
                rank.get(s, ""),
                *(_csv_number(result.raw[s].get(m)) for m in result.metrics),
                *(_csv_number(result.normalised[s].get(m)) for m in result.metrics),
                *(_csv_number(result.groups[s].get(g)) for g in groups),
                _csv_number(result.avg.get(s)),
                ";".join(result.groups_used.get(s, [])),
            ]
        )
    path = Path(path)
    atomic_write_text(path, buffer.getvalue())
    return path


def to_json(result: CompositeResult) -> dict[str, Any]:
    """A JSON-serialisable dict of ``result`` with the metric specs used.

    Keys: ``systems``, ``ranking``, ``metrics`` (name, title, mode, lower_better, group per metric),
    ``groups`` (groups present), ``raw``, ``normalised``, ``group_scores``, ``avg``,
    ``groups_used`` and ``ignored_metrics``. Missing values are ``null``.
    """
    return {
        "systems": list(result.systems),
        "ranking": result.ranking(),
        "metrics": [s.to_dict() for s in result.specs],
        "groups": result.present_groups,
        "raw": {s: dict(row) for s, row in result.raw.items()},
        "normalised": {s: dict(row) for s, row in result.normalised.items()},
        "group_scores": {s: dict(row) for s, row in result.groups.items()},
        "avg": dict(result.avg),
        "groups_used": {s: list(g) for s, g in result.groups_used.items()},
        "ignored_metrics": list(result.ignored_metrics),
    }
