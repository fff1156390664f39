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
from ggt_hf.constants import CATEGORIES, IMAGE_EXTENSIONS
from ggt_hf.errors import GGTError, path_text
from ggt_hf.evaluation.references import Reference, open_reference
from ggt_hf.files.io_utils import append_jsonl, atomic_write_json, atomic_write_text, read_jsonl
from ggt_hf.files.walk import walk_files
from ggt_hf.imaging.images import decode_image, load_image, probe_image, read_file_bytes
from ggt_hf.metrics.specs import MetricSpec, paper_metrics

logger = logging.getLogger(__name__)

RESULTS_FORMAT = "ggt-eval-results"
RESULTS_VERSION = 1
#: Row name of the LQ inputs' own scores in tables of sets without ground truth.
LQ_ROW = "input (LQ)"


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


def scan_predictions(
    pred_dir: str | os.PathLike,
) -> tuple[dict[str, Path], dict[str, list[str]], list[str], dict[str, str]]:
    """Map id → prediction file; also duplicates (id → files), non-image files, and the entries
    refused while walking (relative path → reason: a link loop or one leaving the folder, a file name
    that is not UTF-8; see :func:`ggt_hf.files.walk.walk_files`).

    The folder is searched recursively, so ``ggt restore``'s mirrored category sub-folders
    (``restored/rain/x.png``) are read as they are; ids are file stems, and one id in two sub-folders
    is a duplicate. Hidden entries are skipped.
    """
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise FileNotFoundError(f"predictions folder {pred_dir} does not exist")
    walk = walk_files(pred_dir)
    refused = {path_text(os.path.relpath(p.path, pred_dir)): p.reason for p in walk.problems}
    found: dict[str, list[Path]] = defaultdict(list)
    others = []
    for path in sorted(walk.files):
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            found[path.stem].append(path)
        else:
            others.append(path.relative_to(pred_dir).as_posix())
    dups = {k: [p.relative_to(pred_dir).as_posix() for p in v] for k, v in found.items() if len(v) > 1}
    return {k: v[0] for k, v in found.items() if len(v) == 1}, dups, others, refused


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
    ground_truth: bool = True
    #: without ground truth: the NR scores of the LQ inputs themselves (the reference row), by id
    lq_per_image: dict[str, dict[str, Any]] = field(default_factory=dict)

    def _mean(self, ids: list[str], per_image: dict[str, dict[str, Any]] | None = None) -> dict[str, float]:
        per_image = self.per_image if per_image is None else per_image
        out = {}
        for spec in self.specs:
            values = [per_image[i][spec.name] for i in ids if spec.name in per_image[i]]
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

    @property
    def lq_overall(self) -> dict[str, float]:
        """Mean NR scores of the LQ inputs (empty when the set has ground truth)."""
        return self._mean(list(self.lq_per_image), self.lq_per_image)

    def table_rows(self) -> dict[str, dict[str, float]]:
        """Rows of the Table-2-shaped table: categories, ``overall``, and the LQ input row if any."""
        rows = {**self.per_category, "overall": self.overall}
        if self.lq_per_image:
            rows[LQ_ROW] = self.lq_overall
        return rows

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
            "ground_truth": self.ground_truth,
            **({"lq_reference": self._lq_json()} if self.lq_per_image else {}),
        }

    def _lq_json(self) -> dict[str, Any]:
        groups: dict[str, list[str]] = defaultdict(list)
        for image_id, row in self.lq_per_image.items():
            groups[row["category"]].append(image_id)
        return {
            "overall": self.lq_overall,
            "per_category": {
                c: self._mean(groups[c], self.lq_per_image) for c in CATEGORIES if groups.get(c)
            },
            "per_image": self.lq_per_image,
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
            n = sum(counts.values()) if name == "overall" else counts.get(name, len(self.lq_per_image))
            lines.append(",".join([name, str(n), *(f"{row[m]:.6g}" if m in row else "" for m in names)]))
        atomic_write_text(csv_path, "\n".join(lines) + "\n")


def check_submission(
    ref: Reference,
    preds: dict[str, Path],
    dups: dict[str, list[str]],
    others: list[str],
    refused: dict[str, str] | None = None,
) -> tuple[SubmissionProblems, list[int]]:
    """Compare predictions with the reference; returns the problems and the item indices to score.

    ``refused`` entries (see :func:`scan_predictions`) are reported as invalid under their path."""
    problems = SubmissionProblems(duplicates=dups, extra=list(others), invalid=dict(refused or {}))
    known = set(ref.ids)
    problems.extra += sorted(p.name for k, p in preds.items() if k not in known)
    problems.extra += sorted(f for k, files in dups.items() if k not in known for f in files)
    rows = []
    for index, image_id in enumerate(ref.ids):
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
        expected = ref.size(index)
        if (header.width, header.height) != expected:
            problems.invalid[image_id] = (
                f"wrong size {header.width}×{header.height}, expected {expected[0]}×{expected[1]}"
            )
            continue
        rows.append(index)
    return problems, rows


def _choose_specs(metrics, judge, has_hq: bool, dataset: str) -> list[MetricSpec]:
    """The metrics to compute; FR metrics on a set without ground truth are refused."""
    if metrics is None:
        specs = [s for s in paper_metrics() if s.mode != "VLM" or judge is not None]
        return specs if has_hq else [s for s in specs if s.mode != "FR"]
    specs = list(metrics)
    fr = [s.name for s in specs if s.mode == "FR"]
    if fr and not has_hq:
        raise ValueError(
            f"{dataset} has no ground truth (no HQ images): full-reference metrics "
            f"({', '.join(fr)}) cannot be computed; use no-reference metrics and VLM-R"
        )
    if judge is None and any(s.mode == "VLM" for s in specs):
        raise ValueError("VLM-R needs a judge (e.g. --judge heuristic or --judge gemini)")
    return specs


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

    ``dataset`` is a packed dataset (folder or Hub id; with or without HQ) or a folder of real LQ
    photos (:mod:`ggt_hf.evaluation.references`). ``metrics=None`` means the paper's metrics
    (no-reference only without ground truth; VLM-R only when a ``judge`` is given); those whose
    weights are missing are skipped with their reason recorded. Explicitly requested metrics must
    be available. Without ground truth the LQ inputs are scored too (:attr:`EvalResult.lq_reference`).
    """
    from ggt_hf.metrics.engine import MetricEngine

    ref = open_reference(dataset, split, config)
    specs = _choose_specs(metrics, judge, ref.has_hq, dataset)
    image_specs = [s for s in specs if s.mode != "VLM"]
    preds, dups, others, refused = scan_predictions(pred_dir)
    problems, rows = check_submission(ref, preds, dups, others, refused)

    engine = MetricEngine(image_specs, device=device, crop_border=crop_border, y_channel=y_channel)
    if metrics is not None:
        engine.prepare()  # an explicitly requested metric must be available
        skipped = {}
    else:
        skipped = engine.drop_unavailable()
        for name, reason in skipped.items():
            logger.warning("skipping %s: %s", name, reason)
        if not engine.specs and not any(s.mode == "VLM" for s in specs):
            raise ValueError(
                f"no metric can be computed here: {', '.join(skipped) or 'none requested'} lack weights "
                "(`ggt metrics fetch`); name weight-free ones with --metrics (e.g. piqe) or add --judge"
            )
    engine_specs = list(engine.specs)
    per_image: dict[str, dict[str, Any]] = {}
    for item in ref.items(rows):
        per_image[item.id] = {"category": item.category}
    options = {"crop_border": crop_border, "y_channel": y_channel, "judge": getattr(judge, "name", None)}
    if judge is not None:
        options["judge_model"] = getattr(judge, "model_id", None)
    _score_images(ref, rows, preds, engine, per_image, problems, options, cache, progress)
    if judge is not None and any(s.mode == "VLM" for s in specs):
        _score_vlm(ref, rows, preds, judge, per_image)
    used = [s for s in specs if s in engine_specs or s.mode == "VLM"]
    lq_rows = [i for i in rows if ref.ids[i] in per_image] if not ref.has_hq else []
    return EvalResult(
        model or Path(pred_dir).name,
        dataset,
        split,
        used,
        per_image,
        problems,
        options,
        skipped,
        ground_truth=ref.has_hq,
        lq_per_image=_score_inputs(ref, lq_rows, engine, options, cache),
    )


def _cache_key(pred: bytes, ref: bytes, metric: str, options: dict[str, Any]) -> str:
    opts = json.dumps({k: options[k] for k in ("crop_border", "y_channel")}, sort_keys=True)
    return f"{_digest(pred)}:{_digest(ref)}:{metric}:{_digest(opts.encode())}"


def _score_cached(todo_items, engine, per_image, problems, options, cache, progress) -> None:
    """Score ``(id, image bytes, reference bytes)`` items into ``per_image``, through the cache."""
    from ggt_hf.metrics.engine import PairItem

    specs = engine.specs
    cached = {r["key"]: r["value"] for r in read_jsonl(cache)} if cache else {}
    todo, keys = [], {}
    for image_id, pred, ref in todo_items:
        names = [*(s.name for s in specs), "conversions"]
        keys[image_id] = {name: _cache_key(pred, ref or b"", name, options) for name in names}
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


def _score_images(ref, rows, preds, engine, per_image, problems, options, cache, progress) -> None:
    if not engine.specs or not rows:
        return
    items = ((it.id, read_file_bytes(preds[it.id]), it.hq) for it in ref.items(rows))
    _score_cached(items, engine, per_image, problems, options, cache, progress)


def _score_inputs(ref, rows, engine, options, cache) -> dict[str, dict[str, Any]]:
    """NR scores of the LQ inputs themselves: the reference row of a set without ground truth."""
    lq: dict[str, dict[str, Any]] = {}
    if not engine.specs or not rows:
        return lq
    for item in ref.items(rows):
        lq[item.id] = {"category": item.category}
    ignored = SubmissionProblems()
    _score_cached(
        ((it.id, it.lq, None) for it in ref.items(rows)), engine, lq, ignored, options, cache, False
    )
    for image_id, reason in ignored.invalid.items():
        logger.warning("LQ input %s could not be scored: %s", image_id, reason)
    return lq


def _score_vlm(ref, rows, preds, judge, per_image) -> None:
    for item in ref.items(rows):
        if item.id not in per_image:
            continue
        lq = decode_image(item.lq, f"{item.id} (LQ)").image  # the policy every other read follows
        out = load_image(preds[item.id]).image  # size- and header-checked before it is read
        verdict = judge.judge(lq, out)
        per_image[item.id]["vlm_r"] = 1.0 if verdict.success else 0.0
        per_image[item.id]["vlm_failed"] = verdict.failed
