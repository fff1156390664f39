"""Table 2's shape: one row per training setting of a model and the Improvement row (w/ − w/o).

``ggt eval --compare w/o=results_a.json w/=results_b.json [official=results_c.json]`` reads ``ggt
eval`` result files (:data:`~ggt_hf.evaluation.restorer_eval.RESULTS_FORMAT`) and lays their
``overall`` (or one category's) means side by side, in the paper's row order: ``official``, ``w/o``,
``w/``, then ``Improvement`` = ``w/`` − ``w/o`` per metric. Each difference is marked better or worse
by the metric's direction in :mod:`ggt_hf.metrics.specs` (a negative LPIPS difference is better),
never by its sign. VLM-R is shown in percent, as in the paper. Settings evaluated on different
datasets, splits or image counts are flagged in the notes: their rows are not comparable.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ggt_hf.files.io_utils import atomic_write_json, atomic_write_text
from ggt_hf.metrics.specs import METRICS, get_spec

#: The settings' conventional labels; Improvement is ``IMPROVED`` minus ``BASELINE``.
BASELINE, IMPROVED = "w/o", "w/"
IMPROVEMENT = "Improvement"


def parse_setting(text: str) -> tuple[str, str]:
    """``LABEL=results.json`` → (label, path)."""
    label, sep, path = text.partition("=")
    if not sep or not label or not path:
        raise ValueError(f"--compare {text!r}: expected LABEL=results.json (e.g. w/o=a.json w/=b.json)")
    return label, path


def load_results(path: str | os.PathLike) -> dict[str, Any]:
    """A ``ggt eval`` results file; a clear error for anything else."""
    from ggt_hf.evaluation.restorer_eval import RESULTS_FORMAT

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such results file") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != RESULTS_FORMAT:
        raise ValueError(f"{path}: not a `ggt eval` results file (format {RESULTS_FORMAT!r})")
    return data


@dataclass
class Comparison:
    """Rows (setting → metric → value), the Improvement row, and notes on comparability."""

    metrics: list[str]
    rows: dict[str, dict[str, float]]
    improvement: dict[str, float] = field(default_factory=dict)
    better: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    row: str = "overall"

    def _cell(self, metric: str, value: float | None, signed: bool = False) -> str:
        if value is None or not math.isfinite(value):
            return "—"
        percent = get_spec(metric).mode == "VLM"
        text = (
            f"{value * 100:{'+' if signed else ''}.1f}%" if percent else f"{value:{'+' if signed else ''}.4f}"
        )
        return text

    def markdown(self, title: str | None = None) -> str:
        specs = [get_spec(m) for m in self.metrics]
        lines = [f"### {title}", ""] if title else []
        lines.append("| GGT-100K | " + " | ".join(f"{s.title}{s.arrow}" for s in specs) + " |")
        lines.append("|---|" + "---:|" * len(specs))
        for label, values in self.rows.items():
            lines.append(
                f"| {label} | " + " | ".join(self._cell(m, values.get(m)) for m in self.metrics) + " |"
            )
        if self.improvement:
            cells = []
            for m in self.metrics:
                text = self._cell(m, self.improvement.get(m), signed=True)
                cells.append(f"**{text}**" if self.better.get(m) else text)
            lines.append(f"| {IMPROVEMENT} | " + " | ".join(cells) + " |")
            lines += [
                "",
                f"{IMPROVEMENT} = {IMPROVED} − {BASELINE}; bold: better in the metric's direction (↑/↓).",
            ]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "ggt-eval-comparison",
            "row": self.row,
            "metrics": [get_spec(m).to_dict() for m in self.metrics],
            "settings": self.rows,
            "improvement": self.improvement,
            "improved": self.better,
            "notes": self.notes,
        }

    def write(self, path: str | os.PathLike) -> dict[str, Path]:
        """Markdown at ``path`` plus ``.csv`` and ``.json`` beside it."""
        path = Path(path)
        atomic_write_text(path, self.markdown())
        csv_lines = [",".join(["setting", *self.metrics])]
        table = {**self.rows, **({IMPROVEMENT: self.improvement} if self.improvement else {})}
        for label, values in table.items():
            csv_lines.append(
                ",".join([label, *(f"{values[m]:.6g}" if m in values else "" for m in self.metrics)])
            )
        atomic_write_text(path.with_suffix(".csv"), "\n".join(csv_lines) + "\n")
        atomic_write_json(path.with_suffix(".json"), self.to_json())
        return {"markdown": path, "csv": path.with_suffix(".csv"), "json": path.with_suffix(".json")}


def _values(data: dict[str, Any], row: str, path: str) -> dict[str, float]:
    if row == "overall":
        return dict(data.get("overall") or {})
    per = data.get("per_category") or {}
    if row not in per:
        raise ValueError(f"{path}: no row {row!r} (has overall, {', '.join(per)})")
    return dict(per[row])


def compare(settings: list[tuple[str, str]], *, row: str = "overall") -> Comparison:
    """The comparison of ``(label, results path)`` settings (order kept; ``official`` first)."""
    if len(settings) < 2:
        raise ValueError("--compare needs at least two settings, e.g. w/o=a.json w/=b.json")
    labels = [label for label, _ in settings]
    if len(set(labels)) != len(labels):
        raise ValueError(f"--compare: a label is given twice ({', '.join(labels)})")
    loaded = {label: (path, load_results(path)) for label, path in settings}
    order = sorted(
        labels, key=lambda lb: ({"official": 0, BASELINE: 1, IMPROVED: 2}.get(lb, 3), labels.index(lb))
    )
    rows = {label: _values(loaded[label][1], row, loaded[label][0]) for label in order}
    seen = {m for values in rows.values() for m in values}
    metrics = [m for m in METRICS if m in seen]
    result = Comparison(metrics, rows, row=row)
    for key in ("dataset", "split"):
        found = {label: loaded[label][1].get(key) for label in order}
        if len(set(found.values())) > 1:
            result.notes.append(
                f"settings differ in {key}: " + ", ".join(f"{k}={v}" for k, v in found.items())
            )
    counts = {label: sum((loaded[label][1].get("counts") or {}).values()) for label in order}
    if len(set(counts.values())) > 1:
        result.notes.append(
            "settings scored different numbers of images: " + ", ".join(f"{k}={v}" for k, v in counts.items())
        )
    incomplete = [label for label in order if not loaded[label][1].get("complete", False)]
    if incomplete:
        result.notes.append(
            f"incomplete results (missing predictions or skipped metrics): {', '.join(incomplete)}"
        )
    if BASELINE in rows and IMPROVED in rows:
        for m in metrics:
            a, b = rows[BASELINE].get(m), rows[IMPROVED].get(m)
            if a is not None and b is not None:
                result.improvement[m] = b - a
                result.better[m] = (b < a) if get_spec(m).lower_better else (b > a)
    else:
        result.notes.append(f"no {IMPROVEMENT} row: label the settings {BASELINE}= and {IMPROVED}=")
    return result
