"""Ingest: real photos in, clean square RGB images out, with a record per image.

``ingest(src, out)`` walks ``src`` (a folder, a single file, or the rows of a CSV/JSONL manifest),
decodes every image with :func:`ggt_hf.imaging.images.decode_image`, normalises it with a
:class:`~ggt_hf.ingest.normalize.NormalizePolicy` (default: short side to 1024 with Lanczos, centre
crop) and writes:

* ``out/images/<category>/<id>.png`` — the normalised image (lossless),
* ``out/ingested.jsonl`` — one record per image: id, category, source, licence, content hashes,
  the exact :class:`~ggt_hf.ingest.normalize.Transform`, and every warning raised while decoding,
* ``out/rejects.jsonl`` — one line (path, reason) per rejected file.

Category comes from a manifest ``category`` column, else a first-level sub-folder named after a
category (``src/rain/x.jpg``), else ``IngestConfig.category``. ``category="auto"`` lets the offline
degradation analyser (:func:`ggt_hf.backends.analysis.analyse`) pick the category of every photo
that has none, and records its evidence in the record (``category_evidence``). When photos have no
category at all, the run stops before any work with one error that says how to fix it (and names
sub-folders that look like misspelled categories); a file that cannot be decoded is rejected for
what is wrong with it, never for its category.

Paths written into the records (``source_path``, ``image``) are relative to the output folder, so
the folder (with its sources beside it) can be moved. Re-running skips every source already
recorded, never duplicates a reject line, and picks up new files: nothing done is lost.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ggt_hf.constants import (
    CATEGORIES,
    IMAGE_EXTENSIONS,
    MAX_IMAGE_PIXELS,
    parse_category,
    try_parse_category,
)
from ggt_hf.errors import BadImageError, DuplicateError, GGTError, path_text
from ggt_hf.files.io_utils import append_jsonl, atomic_write_bytes, read_jsonl, sha256_bytes
from ggt_hf.files.output_folders import check_no_overlap, claim_output_folder
from ggt_hf.files.tables import read_table, require_columns
from ggt_hf.files.walk import walk_files
from ggt_hf.imaging.hashing import NearDuplicateIndex, phash
from ggt_hf.imaging.images import decode_image, encode_image, read_file_bytes
from ggt_hf.ingest.normalize import NormalizePolicy
from ggt_hf.runtime.parallel import bounded_map, progress_disabled

logger = logging.getLogger(__name__)

RECORDS_FILE = "ingested.jsonl"
REJECTS_FILE = "rejects.jsonl"
IMAGES_DIR = "images"
#: ``IngestConfig.category`` value that lets the offline degradation analyser pick each category.
AUTO_CATEGORY = "auto"


@dataclass
class IngestConfig:
    """Settings of one ingest run (CLI flags map one to one onto these fields)."""

    policy: NormalizePolicy = field(default_factory=NormalizePolicy)
    min_side: int = 256
    max_aspect: float = 4.0
    max_pixels: int = MAX_IMAGE_PIXELS
    near_duplicate_distance: int | None = 4
    output_format: str = "png"
    category: str | None = None  # a category, AUTO_CATEGORY, or None (folders / manifest only)
    source: str | None = None
    license: str | None = None
    workers: int = 2


@dataclass
class SourceItem:
    """A file to ingest and the metadata known about it before decoding."""

    path: Path
    category: str | None = None
    source: str | None = None
    license: str | None = None
    split: str | None = None
    category_from: str | None = None  # "manifest" or "folder" when ``category`` came from there
    folder: str | None = None  # first-level sub-folder under the source folder, if any
    refused: GGTError | None = None  # refused while walking the folder (a link loop, ...): a reject


@dataclass
class IngestSummary:
    """Counts of one run; ``reasons`` counts rejects by their reason family."""

    accepted: int = 0
    skipped_done: int = 0
    rejected: int = 0
    reasons: Counter = field(default_factory=Counter)

    def __str__(self) -> str:
        text = f"ingest: {self.accepted} new, {self.skipped_done} already done, {self.rejected} rejected"
        if self.reasons:
            text += " (" + ", ".join(f"{k}: {v}" for k, v in self.reasons.most_common()) + ")"
        return text


def make_id(stem: str, digest: str) -> str:
    """Stable id: the file stem made URL/file safe plus 8 hex digits of its content hash."""
    slug = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")[:48] or "img"
    return f"{slug}-{digest[:8]}"


def claim_ingest_folder(out: Path) -> None:
    """Create ``out``, or check that it is empty or a folder ggt ingested into (its records).

    Raises:
        OutputFolderError: ``out`` holds files that are not ggt's (named in the message).
    """
    claim_output_folder(
        out,
        "ingest",
        recognise=lambda f: (f / RECORDS_FILE).is_file() or (f / REJECTS_FILE).is_file(),
        command="ggt ingest",
    )


def _is_within(path: Path, folder: Path) -> bool:
    try:
        Path(os.path.abspath(path)).relative_to(os.path.abspath(folder))
    except ValueError:
        return False
    return True


def discover_sources(
    src: str | os.PathLike, config: IngestConfig, manifest: str | os.PathLike | None = None
) -> list[SourceItem]:
    """List what to ingest: the manifest's rows, or every image file under ``src``, sorted."""
    src = Path(src)
    if manifest is not None:
        rows = read_table(manifest)
        require_columns(manifest, rows, {"path"})
        base = Path(manifest).parent if not src.is_dir() else src
        return [
            SourceItem(
                path=(base / str(r["path"])) if not Path(str(r["path"])).is_absolute() else Path(r["path"]),
                category=str(r["category"]) if r.get("category") else None,
                source=r.get("source") or None,
                license=r.get("license") or None,
                split=r.get("split") or None,
                category_from="manifest" if r.get("category") else None,
            )
            for r in rows
        ]
    if src.is_file() or (src.is_symlink() and not src.exists()):
        return [SourceItem(path=src)]
    if not src.is_dir():
        raise FileNotFoundError(f"ingest source {src} does not exist")
    walk = walk_files(src, extensions=IMAGE_EXTENSIONS, allow_non_utf8=True)
    items = []
    for path in walk.files:
        rel = path.relative_to(src)
        folder = rel.parts[0] if len(rel.parts) > 1 else None
        folder_category = try_parse_category(folder) if folder else None
        items.append(
            SourceItem(
                path=path,
                category=folder_category,
                category_from="folder" if folder_category else None,
                folder=folder,
            )
        )
    return items + [SourceItem(path=Path(p.path), refused=p) for p in walk.problems]


def check_categories(items: list[SourceItem], config: IngestConfig) -> None:
    """Refuse, before any work and with one message for the whole run, photos without a category.

    Raises:
        ValueError: ``config.category`` is not a category or ``auto``, or no photo gets a category
            from a manifest, a sub-folder or ``config.category``; the message says how to fix it
            and names sub-folders that are not categories (with the closest category). When only
            some photos lack one, those are rejected one by one and the rest goes on.
    """
    if config.category is not None and config.category != AUTO_CATEGORY:
        parse_category(config.category)
    items = [item for item in items if item.refused is None]
    if config.category is not None or not items or any(item.category for item in items):
        return
    folders = sorted({item.folder for item in items if item.folder})
    where = "".join(f"; {_not_a_category(folder)}" for folder in folders)
    raise ValueError(
        f"none of the {len(items)} photo(s) has a category (e.g. {path_text(items[0].path)}){where}. "
        f"Fix: {_CATEGORY_FIX}"
    )


_CATEGORY_FIX = (
    f"use a category sub-folder ({', '.join(CATEGORIES)}), a manifest 'category' column, "
    f"--category CATEGORY, or --category {AUTO_CATEGORY} (the offline degradation analyser picks one per photo)"
)


def _not_a_category(folder: str) -> str:
    """``"rian/ is not a category (did you mean rain/?)"``."""
    close = difflib.get_close_matches(folder.lower(), CATEGORIES, n=1, cutoff=0.6)
    return f"{folder}/ is not a category" + (f" (did you mean {close[0]}/?)" if close else "")


def _stored_path(path: Path, out: Path) -> str:
    """``path`` as written into ``out``'s records: relative to ``out`` (valid wherever both move)."""
    return path_text(os.path.relpath(os.path.abspath(path), os.path.abspath(out)))


def _process(item: SourceItem, config: IngestConfig) -> dict[str, Any]:
    """Decode, check and normalise one source, then find its category (runs in a worker thread)."""
    data = read_file_bytes(item.path, max_pixels=config.max_pixels)
    digest = sha256_bytes(data)
    decoded = decode_image(data, item.path, max_pixels=config.max_pixels)
    w, h = decoded.image.size
    if min(w, h) < config.min_side:
        raise BadImageError(
            item.path, f"too small: {w}×{h}, short side below the minimum of {config.min_side}"
        )
    if max(w, h) / min(w, h) > config.max_aspect:
        raise BadImageError(item.path, f"extreme aspect ratio {w}×{h} (more than {config.max_aspect}:1)")
    transform = config.policy.plan((w, h))
    normalised = transform.apply(decoded.image)
    category, category_from, evidence = _category_of(item, config, normalised)
    return {
        "category": category,
        "category_from": category_from,
        "category_evidence": evidence,
        "digest": digest,
        "phash": phash(normalised),
        "encoded": encode_image(normalised, config.output_format),
        "format": decoded.format,
        "stored_size": list(decoded.stored_size),
        "stored_mode": decoded.stored_mode,
        "transform": transform.to_dict(),
        "warnings": decoded.warnings,
    }


class _State:
    """What earlier runs already did, loaded from the output folder."""

    def __init__(self, out: Path, config: IngestConfig) -> None:
        self.records = list(read_jsonl(out / RECORDS_FILE))
        self.by_path = {r["source_path"]: r for r in self.records}
        self.by_digest = {r["source_sha256"]: r for r in self.records}
        self.rejected = {(r["path"], r["reason"]) for r in read_jsonl(out / REJECTS_FILE)}
        distance = config.near_duplicate_distance
        self.near = NearDuplicateIndex(distance) if distance is not None and distance >= 0 else None
        if self.near is not None:
            for r in self.records:
                self.near.add(r["id"], r["phash"])

    def check_duplicate(self, path: Path, result: dict[str, Any]) -> None:
        other = self.by_digest.get(result["digest"])
        if other is not None:
            raise DuplicateError(path, f"exact duplicate of {other['id']} ({other['source_path']})")
        if self.near is not None and (hit := self.near.query(result["phash"])) is not None:
            raise DuplicateError(path, f"near duplicate of {hit[0]} (perceptual hash distance {hit[1]})")


def _record(item: SourceItem, result: dict[str, Any], config: IngestConfig, out: Path) -> dict[str, Any]:
    image_id = make_id(item.path.stem, result["digest"])
    category = result["category"]
    rel = f"{IMAGES_DIR}/{category}/{image_id}.{config.output_format}"
    atomic_write_bytes(out / rel, result["encoded"])
    record = {
        "id": image_id,
        "category": category,
        "category_from": result["category_from"],
        "image": rel,
        "source_path": _stored_path(item.path, out),
        "source": item.source or config.source or path_text(item.path.parent.name),
        "license": item.license or config.license,
        "split": item.split,
        "source_sha256": result["digest"],
        "sha256": sha256_bytes(result["encoded"]),
        "phash": result["phash"],
        "format": result["format"],
        "stored_size": result["stored_size"],
        "stored_mode": result["stored_mode"],
        "transform": result["transform"],
        "warnings": result["warnings"],
    }
    if result["category_evidence"] is not None:
        record["category_evidence"] = result["category_evidence"]
    return record


def _category_of(item: SourceItem, config: IngestConfig, image) -> tuple[str, str, dict[str, Any] | None]:
    """(category, where it came from, the analyser's evidence when it picked it)."""
    raw = item.category or (config.category if config.category != AUTO_CATEGORY else None)
    if raw is not None:
        try:
            category = parse_category(raw)
        except ValueError as exc:
            raise BadImageError(item.path, str(exc)) from None
        return category, item.category_from or "config", None
    if config.category != AUTO_CATEGORY:
        where = f"; {_not_a_category(item.folder)}" if item.folder else ""
        raise BadImageError(item.path, f"no category: {_CATEGORY_FIX}{where}")
    from ggt_hf.backends.analysis import analyse

    analysis = analyse(image)
    evidence = {
        "analyser": "ggt_hf.backends.analysis",
        "present": analysis.present,
        "score_over_threshold": analysis.evidence,
    }
    return analysis.dominant_category, AUTO_CATEGORY, evidence


def ingest(
    src: str | os.PathLike,
    out: str | os.PathLike,
    config: IngestConfig | None = None,
    *,
    manifest: str | os.PathLike | None = None,
    progress: bool | None = None,
) -> IngestSummary:
    """Ingest every image under ``src`` into ``out``; see the module docstring for the layout.

    Per-file problems never stop the run: they are appended to ``rejects.jsonl`` and counted.
    """
    config = config or IngestConfig()
    out = Path(out)
    check_no_overlap(src, out, allow_output_inside=Path(src).is_dir())  # an inner output is skipped
    items = discover_sources(src, config, manifest)
    if manifest is None and Path(src).is_dir() and _is_within(out, Path(src)):
        # The output folder inside the source folder: never ingest our own outputs.
        items = [item for item in items if not _is_within(item.path, out)]
    check_categories(items, config)
    claim_ingest_folder(out)
    state = _State(out, config)
    summary = IngestSummary()
    todo = []
    for item in items:
        if _stored_path(item.path, out) in state.by_path:
            summary.skipped_done += 1
        else:
            todo.append(item)

    def reject(item: SourceItem, error: GGTError) -> None:
        summary.rejected += 1
        summary.reasons[error.reason.split(":")[0].split(" (")[0]] += 1
        key = (_stored_path(item.path, out), error.reason)
        if key not in state.rejected:
            append_jsonl(
                out / REJECTS_FILE, {"path": key[0], "reason": error.reason, "kind": type(error).__name__}
            )
            state.rejected.add(key)
        logger.info("rejected %s", error)

    def work(item: SourceItem) -> dict[str, Any] | GGTError:
        if item.refused is not None:
            return item.refused
        try:
            return _process(item, config)
        except GGTError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=max(1, config.workers)) as pool:
        bar = tqdm(total=len(todo), desc="ingest", unit="img", disable=progress_disabled(progress))
        # Results come back in source order, so duplicate decisions are deterministic.
        results = bounded_map(pool, work, todo, window=4 * max(1, config.workers))
        for item, result in zip(todo, results, strict=False):
            bar.update(1)
            try:
                if isinstance(result, GGTError):
                    raise result
                state.check_duplicate(item.path, result)
                record = _record(item, result, config, out)
            except GGTError as exc:
                reject(item, exc)
                continue
            append_jsonl(out / RECORDS_FILE, record)
            state.by_path[record["source_path"]] = record
            state.by_digest[record["source_sha256"]] = record
            if state.near is not None:
                state.near.add(record["id"], record["phash"])
            summary.accepted += 1
        bar.close()
    logger.info("%s", summary)
    return summary


def is_ingest_output(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` is a ``ggt ingest`` output folder (it holds the records file)."""
    return (Path(folder) / RECORDS_FILE).is_file()


def read_ingested(out: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of an ingest output folder, in ingest order."""
    return list(read_jsonl(Path(out) / RECORDS_FILE))
