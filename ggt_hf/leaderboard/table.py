"""Results files → the leaderboard's pandas DataFrames, driven by the metric specs table.

Column titles, sort directions and composite groups all come from :mod:`ggt_hf.metrics.specs`
(``PSNR↑``, ``LPIPS↓``, as in :mod:`ggt_hf.evaluation.tables`); the composite (group scores and
``Avg``) is :func:`ggt_hf.evaluation.composite.composite` computed among the rows shown, so it is
relative to the systems on the board (the paper's definition). Only the latest result of each model
is shown. Filters hide rows (category without scores, model type, name query, incomplete runs) or
metric columns (groups); they never change a value.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from ggt_hf.constants import CATEGORIES
from ggt_hf.evaluation.composite import GROUP_TITLES, composite
from ggt_hf.hub.locations import hub_repo_id
from ggt_hf.leaderboard.ownership import model_key
from ggt_hf.metrics.specs import GROUPS, METRICS, MetricSpec

#: Category choices of the board: the overall mean first, then each category.
TABLE_CATEGORIES: tuple[str, ...] = ("overall", *CATEGORIES)
#: Submission kinds shown in the Type column.
MODEL_TYPES: tuple[str, ...] = ("predictions", "model")
#: Group filter name of the metrics outside the paper's composite (spec group ``None``).
EXTRA_GROUP = "extra"
HUB_URL = "https://huggingface.co"
logger = logging.getLogger(__name__)


def column_title(spec: MetricSpec) -> str:
    """The column header of a metric, with its direction (``PSNR↑``)."""
    return f"{spec.title}{spec.arrow}"


_BY_TITLE: dict[str, MetricSpec] = {column_title(s): s for s in METRICS.values()}
_HIGHER_BETTER_COLUMNS = {"Avg", *GROUP_TITLES.values()}


def latest_per_model(results: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The most recent result of each model row (by submission time, then file name).

    Rows are keyed by :func:`~ggt_hf.leaderboard.ownership.model_key` and belong to the owner of
    their earliest result (``leaderboard.owner``; ``None`` for results from before owners were
    recorded): a later result replaces the row only when it records the same owner, so a result
    another account slipped in under the name is never shown (and logged).
    """
    ordered = sorted(results, key=_key)
    first: dict[str, dict[str, Any]] = {}
    latest: dict[str, dict[str, Any]] = {}
    for result in ordered:
        meta = result.get("leaderboard", {})
        key = model_key(str(meta.get("model") or result.get("model")))
        if key not in first:
            first[key] = latest[key] = result
        elif meta.get("owner") == first[key].get("leaderboard", {}).get("owner"):
            latest[key] = result
        else:
            logger.warning(
                "ignoring result %s for %r: submitted by %r, the row belongs to %r",
                *(meta.get("file"), key, meta.get("owner"), first[key].get("leaderboard", {}).get("owner")),
            )
    return list(latest.values())


def _key(result: dict[str, Any]) -> tuple[str, str]:
    meta = result.get("leaderboard", {})
    return meta.get("submitted_at", ""), meta.get("file", "")


def model_link(name: str, repo: str | None) -> str:
    """``name`` as a Markdown link to its Hub repo when it has one (local paths are not linked)."""
    label = name.replace("|", "\\|").replace("[", "\\[").replace("]", "\\]")
    if hub_repo_id(repo) is not None:  # the text only: a results row never names a server path
        return f"[{label}]({HUB_URL}/{repo})"
    return label


def _scores(result: dict[str, Any], category: str) -> dict[str, float]:
    if category == "overall":
        return dict(result.get("overall") or {})
    return dict((result.get("per_category") or {}).get(category) or {})


def _wanted(spec: MetricSpec, groups: Sequence[str] | None) -> bool:
    return groups is None or (spec.group or EXTRA_GROUP) in groups


def leaderboard_frame(
    results: Iterable[dict[str, Any]],
    *,
    category: str = "overall",
    groups: Sequence[str] | None = None,
    model_types: Sequence[str] | None = None,
    query: str | None = None,
    complete_only: bool = False,
    links: bool = True,
):
    """The leaderboard: one row per model (latest result), best ``Avg`` first.

    Args:
        results: result dicts as returned by ``LeaderboardStore.results()``.
        category: ``"overall"`` or a category of :data:`ggt_hf.constants.CATEGORIES`.
        groups: metric groups whose columns to show (``fidelity``, ``perceptual``, ``vlm``,
            ``extra``); default all.
        model_types: keep only these submission kinds (:data:`MODEL_TYPES`).
        query: keep models whose name contains it (case-insensitive).
        complete_only: drop results whose evaluation was incomplete.
        links: Model as a Markdown link to its Hub repo.
    """
    import pandas as pd

    if category not in TABLE_CATEGORIES:
        raise ValueError(f"unknown category {category!r}; choose from {', '.join(TABLE_CATEGORIES)}")
    rows = []
    for result in latest_per_model(results):
        meta = result.get("leaderboard", {})
        name = str(meta.get("model") or result.get("model"))
        kind = meta.get("model_type", "predictions")
        scores = _scores(result, category)
        if not scores or (model_types is not None and kind not in model_types):
            continue
        if (query and query.lower() not in name.lower()) or (complete_only and not result.get("complete")):
            continue
        counts = result.get("counts") or {}
        count = sum(counts.values()) if category == "overall" else counts.get(category, 0)
        rows.append((name, meta, kind, {k: v for k, v in scores.items() if k in METRICS}, result, count))

    specs = [s for s in METRICS.values() if any(s.name in r[3] for r in rows)]
    comp = composite({r[0]: r[3] for r in rows}, [s.name for s in specs]) if rows else None
    shown_groups = [g for g in GROUPS if groups is None or g in groups]
    records = []
    for name, meta, kind, scores, result, count in rows:
        record: dict[str, Any] = {
            "Model": model_link(name, meta.get("model_repo")) if links else name,
            "Type": kind,
            "Avg": comp.avg[name],
        }
        record.update({GROUP_TITLES[g]: comp.groups[name][g] for g in shown_groups})
        record.update({column_title(s): scores.get(s.name) for s in specs if _wanted(s, groups)})
        record.update(
            {
                "Images": count,
                "Complete": bool(result.get("complete")),
                "Submitted": meta.get("submitted_at", ""),
            }
        )
        records.append(record)
    columns = ["Model", "Type", "Avg", *(GROUP_TITLES[g] for g in shown_groups)]
    columns += [column_title(s) for s in specs if _wanted(s, groups)] + ["Images", "Complete", "Submitted"]
    frame = pd.DataFrame(records, columns=columns)
    frame = frame.sort_values("Avg", ascending=False, na_position="last", kind="stable").reset_index(
        drop=True
    )
    frame.insert(0, "Rank", range(1, len(frame) + 1))
    # columns with no value at all (e.g. the VLM group without a judge) are dropped
    return frame.drop(columns=[c for c in frame.columns[4:] if frame[c].isna().all() and c in _sortable()])


def _sortable() -> set[str]:
    return set(_BY_TITLE) | _HIGHER_BETTER_COLUMNS


def category_frame(results: Iterable[dict[str, Any]], metric: str, *, links: bool = True):
    """Models × (categories + overall) for one metric, best overall first (direction from its spec)."""
    import pandas as pd

    from ggt_hf.metrics.specs import get_spec

    spec = get_spec(metric)
    records = []
    for result in latest_per_model(results):
        meta = result.get("leaderboard", {})
        name = str(meta.get("model") or result.get("model"))
        record: dict[str, Any] = {"Model": model_link(name, meta.get("model_repo")) if links else name}
        for category in TABLE_CATEGORIES:
            record[category] = _scores(result, category).get(spec.name)
        records.append(record)
    frame = pd.DataFrame(records, columns=["Model", *TABLE_CATEGORIES])
    return frame.sort_values(
        "overall", ascending=spec.lower_better, na_position="last", kind="stable"
    ).reset_index(drop=True)


def sort_ascending(column: str) -> bool:
    """Whether ``column`` sorts best-first ascending: lower-is-better metrics and Rank do."""
    if column in _BY_TITLE:
        return _BY_TITLE[column].lower_better
    return column not in _HIGHER_BETTER_COLUMNS


def sort_frame(frame, column: str):
    """``frame`` sorted best-first by ``column`` (direction from the specs), missing values last."""
    if column not in frame.columns:
        raise KeyError(f"no column {column!r}; columns: {', '.join(frame.columns)}")
    return frame.sort_values(
        column, ascending=sort_ascending(column), na_position="last", kind="stable"
    ).reset_index(drop=True)


def column_datatypes(frame) -> list[str]:
    """``gr.Dataframe(datatype=...)`` of each column: markdown Model, numbers, bools, text."""
    import pandas as pd

    out = []
    for name in frame.columns:
        if name == "Model":
            out.append("markdown")
        elif pd.api.types.is_bool_dtype(frame[name]):
            out.append("bool")
        elif pd.api.types.is_numeric_dtype(frame[name]):
            out.append("number")
        else:
            out.append("str")
    return out
