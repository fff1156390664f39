"""``ggt eval``: score a restorer's predictions against a GGT dataset split (the paper's Table 2).

Predictions are files named ``<id>.<ext>`` in one folder, matched to dataset rows by id. The
submission is checked first and every problem is reported precisely (missing ids, extra files,
duplicate ids, wrong size, undecodable image); valid predictions are scored anyway and the result
says whether it is ``complete``. FR metrics compare the prediction with the row's HQ; NR metrics
look at the prediction alone; VLM-R asks a judge about (LQ, prediction).

Per-image scores are cached in a JSONL file keyed by (prediction bytes, reference bytes, metric,
options), so re-running after adding metrics or fixing a few files recomputes only what changed.
Means are over images: per category, and overall over every scored image.

The JSON result (:meth:`EvalResult.to_json`) is what the leaderboard reads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ggt_hf import __version__
from ggt_hf.constants import CATEGORIES, IMAGE_EXTENSIONS, Col
from ggt_hf.errors import GGTError
from ggt_hf.images import probe_image, read_file_bytes
from ggt_hf.io_utils import append_jsonl, atomic_write_json, atomic_write_text, read_jsonl
from ggt_hf.metrics.specs import MetricSpec, paper_metrics

logger = logging.getLogger(__name__)

RESULTS_FORMAT = "ggt-eval-results"
RESULTS_VERSION = 1


@dataclass
class SubmissionProblems:
    """Everything wrong with a predictions folder, item by item."""

    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    duplicates: dict[str, list[str]] = field(default_factory=dict)
    invalid: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.duplicates or self.invalid)

    def lines(self) -> list[str]:
        """One human-readable line per problem."""
        out = [f"missing prediction for id {i!r}" for i in self.missing]
        out += [f"extra file {f!r} matches no id in the split" for f in self.extra]
        out += [f"id {i!r} has several files: {', '.join(fs)}" for i, fs in self.duplicates.items()]
        out += [f"{i}: {reason}" for i, reason in self.invalid.items()]
        return out


def scan_predictions(pred_dir: str | os.PathLike) -> tuple[dict[str, Path], dict[str, list[str]], list[str]]:
    """Map id → prediction file; also duplicates (id → files) and non-image files."""
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise FileNotFoundError(f"predictions folder {pred_dir} does not exist")
    found: dict[str, list[Path]] = defaultdict(list)
    others = []
    for path in sorted(pred_dir.iterdir()):
        if path.name.startswith("."):
            continue
        if path.suffix.lower() in IMAGE_EXTENSIONS and (path.is_file() or path.is_symlink()):
            found[path.stem].append(path)
        else:
            others.append(path.name)
    dups = {k: [p.name for p in v] for k, v in found.items() if len(v) > 1}
    return {k: v[0] for k, v in found.items() if len(v) == 1}, dups, others


def load_reference(dataset: str, split: str = "test", config: str | None = None):
    """The split of a packed GGT dataset (local folder or Hub repo id), images left encoded."""
    from datasets import Image, load_dataset

    ds = load_dataset(dataset, config, split=split)
    return ds.cast_column(Col.HQ, Image(decode=False)).cast_column(Col.LQ, Image(decode=False))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:20]


@dataclass
class EvalResult:
    """Per-image, per-category and overall scores of one evaluation."""

    model: str
    dataset: str
    split: str
    specs: list[MetricSpec]
    per_image: dict[str, dict[str, Any]]
    problems: SubmissionProblems
    options: dict[str, Any]
    skipped_metrics: dict[str, str] = field(default_factory=dict)

    def _mean(self, ids: list[str]) -> dict[str, float]:
        out = {}
        for spec in self.specs:
            values = [self.per_image[i][spec.name] for i in ids if spec.name in self.per_image[i]]
            values = [v for v in values if v is not None and math.isfinite(v)]
            if values:
                out[spec.name] = sum(values) / len(values)
        return out

    @property
    def per_category(self) -> dict[str, dict[str, float]]:
        groups: dict[str, list[str]] = defaultdict(list)
        for image_id, row in self.per_image.items():
            groups[row["category"]].append(image_id)
        return {c: self._mean(groups[c]) for c in CATEGORIES if groups.get(c)}

    @property
    def overall(self) -> dict[str, float]:
        return self._mean(list(self.per_image))

    def table_rows(self) -> dict[str, dict[str, float]]:
        """Rows of the Table-2-shaped table: categories then ``overall``."""
        return {**self.per_category, "overall": self.overall}

    def to_json(self) -> dict[str, Any]:
        counts = defaultdict(int)
        for row in self.per_image.values():
            counts[row["category"]] += 1
        return {
            "format": RESULTS_FORMAT,
            "version": RESULTS_VERSION,
            "ggt_hf_version": __version__,
            "model": self.model,
            "dataset": self.dataset,
            "split": self.split,
            "complete": self.problems.ok and not self.skipped_metrics,
            "counts": dict(counts),
            "metrics": [s.to_dict() for s in self.specs],
            "skipped_metrics": self.skipped_metrics,
            "conversions": self.conversion_counts,
            "overall": self.overall,
            "per_category": self.per_category,
            "per_image": self.per_image,
            "problems": {
                "missing": self.problems.missing,
                "extra": self.problems.extra,
                "duplicates": self.problems.duplicates,
                "invalid": self.problems.invalid,
            },
            "options": self.options,
        }

    @property
    def conversion_counts(self) -> dict[str, int]:
        """How many predictions each conversion to 8-bit RGB was applied to (see ``per_image``)."""
        counts: dict[str, int] = defaultdict(int)
        for row in self.per_image.values():
            for note in row.get("conversions", []):
                counts[note] += 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def markdown(self) -> str:
        from ggt_hf.evaluation.tables import category_table

        return category_table(self.table_rows(), [s.name for s in self.specs])

    def write(self, json_path: str | os.PathLike, csv_path: str | os.PathLike | None = None) -> None:
        """Write the JSON results file and (default: beside it) the per-category CSV."""
        json_path = Path(json_path)
        atomic_write_json(json_path, self.to_json())
        csv_path = Path(csv_path) if csv_path else json_path.with_suffix(".csv")
        names = [s.name for s in self.specs]
        lines = [",".join(["category", "n", *names])]
        counts = self.to_json()["counts"]
        for name, row in self.table_rows().items():
            n = sum(counts.values()) if name == "overall" else counts.get(name, 0)
            lines.append(",".join([name, str(n), *(f"{row[m]:.6g}" if m in row else "" for m in names)]))
        atomic_write_text(csv_path, "\n".join(lines) + "\n")


def check_submission(
    ds, preds: dict[str, Path], dups: dict[str, list[str]], others: list[str]
) -> tuple[SubmissionProblems, list[int]]:
    """Compare predictions with the split; returns the problems and the row indices to score."""
    problems = SubmissionProblems(duplicates=dups, extra=list(others))
    ids = ds[Col.ID]
    known = set(ids)
    problems.extra += sorted(p.name for k, p in preds.items() if k not in known)
    problems.extra += sorted(f for k, files in dups.items() if k not in known for f in files)
    rows = []
    for index, image_id in enumerate(ids):
        path = preds.get(image_id)
        if path is None:
            if image_id not in dups:
                problems.missing.append(image_id)
            continue
        try:
            header = probe_image(read_file_bytes(path), path.name)
        except GGTError as exc:
            problems.invalid[image_id] = exc.reason
            continue
        expected = (ds[index][Col.WIDTH], ds[index][Col.HEIGHT])
        if (header.width, header.height) != expected:
            problems.invalid[image_id] = (
                f"wrong size {header.width}×{header.height}, expected {expected[0]}×{expected[1]}"
            )
            continue
        rows.append(index)
    return problems, rows


def evaluate(
    pred_dir: str | os.PathLike,
    dataset: str,
    *,
    split: str = "test",
    config: str | None = None,
    metrics: list[MetricSpec] | None = None,
    model: str | None = None,
    cache: str | os.PathLike | None = None,
    judge=None,
    device: str | None = None,
    crop_border: int = 0,
    y_channel: bool | None = None,
    progress: bool | None = None,
) -> EvalResult:
    """Evaluate the predictions in ``pred_dir`` on ``dataset``'s ``split``.

    ``metrics=None`` means the paper's metrics (VLM-R only when a ``judge`` is given); those whose
    weights are missing are skipped with their reason recorded. Explicitly requested metrics must
    be available.
    """
    from ggt_hf.metrics.engine import MetricEngine

    explicit = metrics is not None
    specs = (
        list(metrics) if explicit else [s for s in paper_metrics() if s.mode != "VLM" or judge is not None]
    )
    if judge is None and any(s.mode == "VLM" for s in specs):
        raise ValueError("VLM-R needs a judge (e.g. --judge heuristic)")
    image_specs = [s for s in specs if s.mode != "VLM"]
    ds = load_reference(dataset, split, config)
    preds, dups, others = scan_predictions(pred_dir)
    problems, rows = check_submission(ds, preds, dups, others)

    engine = MetricEngine(image_specs, device=device, crop_border=crop_border, y_channel=y_channel)
    if explicit:
        engine.prepare()  # an explicitly requested metric must be available
        skipped = {}
    else:
        skipped = engine.drop_unavailable()
        for name, reason in skipped.items():
            logger.warning("skipping %s: %s", name, reason)
    engine_specs = list(engine.specs)
    names = CATEGORIES
    per_image: dict[str, dict[str, Any]] = {}
    for index in rows:
        row = ds[index]
        per_image[row[Col.ID]] = {"category": names[row[Col.CATEGORY]]}
    options = {"crop_border": crop_border, "y_channel": y_channel, "judge": getattr(judge, "name", None)}
    _score_images(ds, rows, preds, engine, per_image, problems, options, cache, progress)
    if judge is not None and any(s.mode == "VLM" for s in specs):
        _score_vlm(ds, rows, preds, judge, per_image)
    used = [s for s in specs if s in engine_specs or s.mode == "VLM"]
    return EvalResult(
        model or Path(pred_dir).name, dataset, split, used, per_image, problems, options, skipped
    )


def _cache_key(pred: bytes, ref: bytes, metric: str, options: dict[str, Any]) -> str:
    opts = json.dumps({k: options[k] for k in ("crop_border", "y_channel")}, sort_keys=True)
    return f"{_digest(pred)}:{_digest(ref)}:{metric}:{_digest(opts.encode())}"


def _score_images(ds, rows, preds, engine, per_image, problems, options, cache, progress) -> None:
    from ggt_hf.metrics.engine import PairItem

    specs = engine.specs
    if not specs or not rows:
        return
    cached = {r["key"]: r["value"] for r in read_jsonl(cache)} if cache else {}
    todo, keys = [], {}
    for index in rows:
        row = ds[index]
        image_id = row[Col.ID]
        pred, ref = read_file_bytes(preds[image_id]), row[Col.HQ]["bytes"]
        keys[image_id] = {
            s: _cache_key(pred, ref, s, options) for s in [*(s.name for s in specs), "conversions"]
        }
        for name, key in keys[image_id].items():
            if key in cached and (name != "conversions" or cached[key]):
                per_image[image_id][name] = cached[key]
        if any(s.name not in per_image[image_id] for s in specs):
            todo.append(PairItem(image_id, pred, ref))
    for image_id, scores in engine.score_pairs(todo, progress=progress, total=len(todo), errors="return"):
        if isinstance(scores, Exception):
            problems.invalid[image_id] = getattr(scores, "reason", str(scores))
            per_image.pop(image_id, None)
            continue
        per_image[image_id].update(scores)
        notes = engine.conversions.get(image_id, [])
        if notes:  # say so when a prediction was not 8-bit RGB
            per_image[image_id]["conversions"] = notes
        if cache:
            for name, value in {**scores, "conversions": notes}.items():
                append_jsonl(
                    cache, {"key": keys[image_id][name], "id": image_id, "metric": name, "value": value}
                )


def _score_vlm(ds, rows, preds, judge, per_image) -> None:
    import io

    from PIL import Image

    for index in rows:
        row = ds[index]
        image_id = row[Col.ID]
        if image_id not in per_image:
            continue
        lq = Image.open(io.BytesIO(row[Col.LQ]["bytes"])).convert("RGB")
        out = Image.open(preds[image_id]).convert("RGB")
        verdict = judge.judge(lq, out)
        per_image[image_id]["vlm_r"] = 1.0 if verdict.success else 0.0
        per_image[image_id]["vlm_failed"] = verdict.failed
