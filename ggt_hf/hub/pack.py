"""Pack LQ/HQ pairs into a Hub-ready dataset folder of parquet shards.

The folder is, file for file, what goes to the Hub (see :class:`ggt_hf.constants.HubLayout`)::

    README.md                               dataset card (YAML configs + dataset_info)
    ggt_dataset.json                        machine-readable manifest (schema version, shards, counts)
    assets/sample_grid.jpg                  LQ | HQ preview per category
    data/<category>/<split>-00000-of-0000N.parquet

Design choices, and why:

* **Bytes are never re-encoded.** PNG/JPEG/WebP files go into the ``datasets.Image`` columns as
  their original bytes (``datasets``' own ``to_parquet`` re-encodes PIL images, lossily for JPEG);
  other formats (TIFF, BMP, ...) are re-encoded once to lossless PNG, pixels unchanged. Files that
  would need pixel changes (alpha, greyscale, EXIF rotation, ICC conversion) are refused with the
  reason: normalising is ``ggt ingest``'s job. Every image is fully decoded once to prove it reads.
* **Shards ≤ 500 MB** (``datasets``' and the Hub's default shard size) and **row groups ≤ 32 MB /
  ≤ 100 rows** (≈10 pairs of 1024² PNGs): readers fetch whole row groups, so a small first row
  group means the Hub viewer and ``streaming=True`` show the first rows after one short read.
  Content-defined chunking is on so re-uploads of a changed dataset deduplicate on the Hub's Xet
  storage.
* **Deterministic**: rows are ordered by SHA-1 of their id (a stable pseudo-shuffle that mixes
  sources) and split greedily into shards, so the same pairs always give the same files.
* **Incremental and atomic**: a run rewrites only the (category, split) groups it has pairs for.
  Shards are written to a staging folder first; each affected ``<subset>/<category>/`` folder is
  then rebuilt beside the live one as a hidden new generation (the kept shards hard-linked, the new
  ones moved in) and swapped in with one atomic directory exchange (``renameat2``), then the old
  generation is retired. A reader (or a kill) never sees a category with a mix of old and new
  shards or a partial set. Staging folders and generations left by killed runs are removed by the
  next pack only when they are provably pack's: their name carries the pid of a process that is
  gone *and* they hold the :data:`RUN_MARKER` file pack wrote into them at creation (anything else
  beside the output is never touched). Only the shards ggt wrote (listed in ``ggt_dataset.json``,
  or recorded in the folder's marker before a swap) are ever replaced or deleted: notes, backups,
  sub-folders and parquet files named like shards that ggt did not write, kept in
  ``data/<category>/``, are carried into the new generation (hard links) and stay; in a folder with
  no manifest (an older or interrupted one) unknown files are kept.
* **No writes through links**: a symlinked ``data/``, ``data/<category>``, ``negatives/...``,
  ``assets/``, ``README.md`` or ``ggt_dataset.json`` in the output is refused before any work
  (:func:`ggt_hf.hub.card.check_no_links`).
* **The output folder is ggt's, and one pack at a time writes it**: ``out`` must be new, empty or a
  folder ggt packed (:func:`claim_dataset_folder`, :mod:`ggt_hf.files.output_folders`), else it is
  refused before any work; a run holds the folder's lock from its first read of the kept rows to
  its card, so the train/test leak check sees every row the folder will hold.
* **Memory is flat in the number of pairs**: records are read once and spilled to the staging
  folder with what the pack decides on (ids, hashes, sizes) in a SQLite plan beside them
  (:mod:`ggt_hf.hub.pack_plan`); pairs are checked with a bounded window and written row group by
  row group. With ``PackConfig.check_cache``, files already fully checked and unchanged since are
  not decoded again (:mod:`ggt_hf.hub.check_cache`).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from ggt_hf.constants import MAX_IMAGE_PIXELS, SPLITS, Col, HubLayout
from ggt_hf.errors import BadImageError, DatasetValidationError, GGTError, LeakageError, PairingError
from ggt_hf.files.io_utils import atomic_write_json, sha256_bytes
from ggt_hf.files.metadata_files import read_metadata, read_metadata_or_none
from ggt_hf.files.output_folders import (
    OutputFolderError,
    claim_output_folder,
    output_lock,
    read_marker,
    record_in_marker,
)
from ggt_hf.hub.card import CardInfo, check_no_links, finalize_folder, list_shards, manifest_owned_shards
from ggt_hf.hub.check_cache import CheckCache, CheckedFile, closing_cache, unchanged
from ggt_hf.hub.leaks import find_leaks
from ggt_hf.hub.pack_plan import PackPlan, PlannedPair, Spill, shard_sizes
from ggt_hf.hub.pairs import Problem, nothing_to_pack
from ggt_hf.hub.schema import dataset_features, record_to_row
from ggt_hf.hub.shard_reader import iter_shard_rows
from ggt_hf.imaging.hashing import phash, pixel_sha256
from ggt_hf.imaging.images import (
    PASSTHROUGH_FORMATS,
    decode_image,
    encode_image,
    read_capped,
    read_file_bytes,
)
from ggt_hf.records import PairRecord
from ggt_hf.runtime.memory import release_freed_memory
from ggt_hf.runtime.parallel import bounded_map, progress_disabled

logger = logging.getLogger(__name__)

#: Columns whose parquet statistics are worth writing (not the image bytes).
_STAT_COLUMNS = [c for c in dataset_features() if c not in (Col.LQ, Col.HQ, Col.PROVENANCE, Col.QC)]


#: Shard and row-group limits shared by ``ggt pack`` and the streaming release pack / mirror:
#: shards at most 500 MB (datasets' default), row groups small enough for the dataset viewer.
MAX_SHARD_BYTES = 500 * 1024**2
ROW_GROUP_BYTES = 32 * 1024**2
ROW_GROUP_ROWS = 100


@dataclass
class PackConfig:
    """Settings of ``ggt pack``."""

    max_shard_bytes: int = MAX_SHARD_BYTES
    row_group_bytes: int = ROW_GROUP_BYTES
    max_row_group_rows: int = ROW_GROUP_ROWS
    near_duplicate_distance: int = 4
    force: bool = False
    strict: bool = False
    workers: int = 2
    max_pixels: int = MAX_IMAGE_PIXELS
    card: CardInfo | None = None  # None keeps the card info stored in the folder
    #: SQLite file remembering files already fully checked (see :mod:`ggt_hf.hub.check_cache`)
    check_cache: str | os.PathLike | None = None


@dataclass
class ImageRef:
    """Where the bytes of one stored image come from and the file name recorded with them."""

    path: str
    name: str
    nbytes: int

    def read(self) -> dict[str, object]:
        return {"bytes": read_capped(self.path), "path": self.name}


@dataclass
class PreparedPair:
    """A pair checked and ready to write."""

    record: PairRecord
    lq: ImageRef
    hq: ImageRef
    width: int
    height: int
    lq_sha256: str
    lq_phash: str
    #: the HQ's pixel SHA-256 (:func:`~ggt_hf.imaging.hashing.pixel_sha256`) and pHash: leak checks only
    hq_sha256: str | None = None
    hq_phash: str | None = None

    @property
    def nbytes(self) -> int:
        return self.lq.nbytes + self.hq.nbytes


@dataclass
class PackReport:
    """What a pack run did: rows written per (category, split), problems, leaks, files."""

    written: Counter = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    leaks: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    #: build runs only: items whose candidate was found unreadable, quarantined and reset for a redo
    redo: set[str] = field(default_factory=set)

    def __str__(self) -> str:
        rows = sum(self.written.values())
        text = f"pack: {rows} pairs in {len(self.files)} shard(s), {len(self.problems)} problem(s)"
        if self.leaks:
            text += f", {len(self.leaks)} train/test leak(s) kept (--force)"
        return text


def check_image(data: bytes, path: object, max_pixels: int = MAX_IMAGE_PIXELS):
    """Decode ``data`` fully; returns (decoded, bytes to store, extension) or raises :class:`BadImageError`.

    The stored bytes are the original ones for PNG/JPEG/WebP, a lossless PNG re-encode otherwise.
    """
    decoded = decode_image(data, path, max_pixels=max_pixels)
    if decoded.stored_mode != "RGB" or decoded.warnings:
        changes = "; ".join(decoded.warnings) or f"stored as {decoded.stored_mode}, not RGB"
        raise BadImageError(
            path, f"needs pixel changes ({changes}); pack never changes pixels, run `ggt ingest` first"
        )
    if decoded.format in PASSTHROUGH_FORMATS:
        return decoded, data, {"JPEG": "jpg"}.get(decoded.format, decoded.format.lower())
    return decoded, encode_image(decoded.image, "png"), "png"  # e.g. TIFF/BMP: pixels stay identical


def _prepare_side(record: PairRecord, side: str, staging: Path, max_pixels: int, cache: CheckCache | None):
    """Check one image of a pair: (its ImageRef, width, height, SHA-256, pHash). The LQ's SHA-256
    is of its file bytes (it goes into the row); the HQ's is of its decoded pixels, so the leak
    check sees a re-encoded train HQ (:func:`~ggt_hf.imaging.hashing.pixel_sha256`)."""
    path = getattr(record, f"{side}_path")
    st = _stat(path) if cache is not None else None
    hit = cache.get(path, st) if st is not None else None  # type: ignore[union-attr]
    if hit is not None and hit.phash is not None and hit.width * hit.height <= max_pixels:
        ref = ImageRef(str(path), f"{record.id}.{hit.ext}", st.st_size)  # type: ignore[union-attr]
        return ref, hit.width, hit.height, hit.sha256, hit.phash
    data = read_file_bytes(path, max_pixels=max_pixels)
    decoded, stored, ext = check_image(data, path, max_pixels)
    width, height = decoded.image.size
    sha = sha256_bytes(data) if side == "lq" else pixel_sha256(decoded.image)
    hashed = phash(decoded.image)
    if stored is data:
        ref = ImageRef(str(path), f"{record.id}.{ext}", len(data))
        if st is not None and unchanged(st, _stat(path)):  # unchanged while read: remember the check
            cache.put(path, st, CheckedFile(width, height, ext, sha, hashed))  # type: ignore[union-attr]
    else:
        tmp = staging / f"{record.id}.{side}.png"
        tmp.write_bytes(stored)
        ref = ImageRef(str(tmp), f"{record.id}.png", len(stored))
    return ref, width, height, sha, hashed


def _stat(path: str | os.PathLike) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None  # read_file_bytes then says what is wrong with it


def prepare_pair(
    record: PairRecord,
    staging: Path,
    max_pixels: int = MAX_IMAGE_PIXELS,
    cache: CheckCache | None = None,
) -> PreparedPair:
    """Read, fully decode and check one pair (or take a file's earlier check from ``cache``).
    Raises a :class:`GGTError` naming the problem."""
    lq, lw, lh, lq_sha, lq_phash = _prepare_side(record, "lq", staging, max_pixels, cache)
    hq, hw, hh, hq_sha, hq_phash = _prepare_side(record, "hq", staging, max_pixels, cache)
    if (lw, lh) != (hw, hh):
        raise PairingError(record.id, f"size mismatch: LQ is {lw}×{lh} but HQ is {hw}×{hh}")
    return PreparedPair(record, lq, hq, lw, lh, lq_sha, lq_phash, hq_sha, hq_phash)


def plan_shards(pairs: list[PreparedPair], max_shard_bytes: int) -> list[list[PreparedPair]]:
    """Split pairs (already ordered) greedily into shards of at most ``max_shard_bytes``."""
    shards, start = [], 0
    for size in shard_sizes((p.nbytes for p in pairs), max_shard_bytes):
        shards.append(pairs[start : start + size])
        start += size
    return shards


def write_shard(path: Path, pairs: Iterable[PreparedPair], rows_per_group: int) -> int:
    """Write one parquet shard, one row group at a time (bounded memory); returns its rows.

    A shard with no rows is never left behind: when ``pairs`` is empty the file is removed (0).
    """
    schema = dataset_features().arrow_schema
    rows_written = 0
    with pq.ParquetWriter(
        path,
        schema,
        compression="snappy",
        write_statistics=_STAT_COLUMNS,
        use_content_defined_chunking=True,
        write_page_index=True,
    ) as writer:
        it = iter(pairs)
        while chunk := list(islice(it, rows_per_group)):
            rows = [
                record_to_row(
                    p.record,
                    p.lq.read(),
                    p.hq.read(),
                    width=p.width,
                    height=p.height,
                    lq_sha256=p.lq_sha256,
                    lq_phash=p.lq_phash,
                )
                for p in chunk
            ]
            writer.write_table(pa.Table.from_pylist(rows, schema=schema), row_group_size=len(rows))
            rows_written += len(rows)
    if not rows_written:
        path.unlink(missing_ok=True)
    return rows_written


def existing_rows(
    out: Path,
    replaced: set[tuple[str, str]],
    subset: str,
    hq_splits: Iterable[str] = (),
    workers: int = 2,
) -> Iterator[tuple[str, ...]]:
    """(id, split, lq_sha256, lq_phash, shard, hq pixel SHA-256, hq pHash) of rows of ``subset``
    already in ``out`` that this run keeps, one row group at a time (shards checked by
    :func:`~ggt_hf.hub.shard_reader.open_shard` first).

    The HQ hashes, for the leak check, are not stored in the rows: they are computed (``workers``
    threads) from the stored HQ of rows of the splits in ``hq_splits`` only, those a new pair
    could leak to or from (``None`` elsewhere, or for an HQ that does not decode: ``ggt
    validate`` names those).
    """
    hq_splits = set(hq_splits)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for shard in list_shards(out):
            if shard.subset != subset or (shard.category, shard.split) in replaced:
                continue
            hashed = shard.split in hq_splits
            columns = [Col.ID, Col.LQ_SHA256, Col.LQ_PHASH] + ([Col.HQ] if hashed else [])
            rows = iter_shard_rows(out / shard.path, columns, name=shard.path)
            where = shard.path
            if hashed:
                hashes = bounded_map(
                    pool, lambda row, w=where: _image_hashes(row, w), rows, 4 * max(1, workers)
                )
            else:
                hashes = ((row, (None, None)) for row in rows)
            for row, (hq_sha, hq_phash) in hashes:
                yield row[Col.ID], shard.split, row[Col.LQ_SHA256], row[Col.LQ_PHASH], where, hq_sha, hq_phash


def leak_partner_splits(splits: Iterable[str]) -> set[str]:
    """The splits whose kept rows a run planning pairs of ``splits`` must hash for the leak check:
    train rows when test pairs come, test rows when train pairs come."""
    planned = set(splits)
    return ({"train"} if "test" in planned else set()) | ({"test"} if "train" in planned else set())


def _image_hashes(row: dict, where: object) -> tuple[dict, tuple[str | None, str | None]]:
    """``row`` and the (pixel SHA-256, pHash) of its HQ cell, ``(None, None)`` if it has none or
    does not decode."""
    image = row.get(Col.HQ)
    data = image.get("bytes") if isinstance(image, dict) else None
    if not data:
        return row, (None, None)
    try:
        decoded = decode_image(data, where)
    except GGTError:
        return row, (None, None)
    return row, (pixel_sha256(decoded.image), phash(decoded.image))


def _first_of_each_id(
    plan: PackPlan, problems: list[Problem] | None = None
) -> Iterator[tuple[str, str, tuple[int, int]]]:
    """(id, lq_path, where) of the first record of each id in (id, lq_path) order; a problem is
    appended to ``problems`` (when given) for every other one."""
    last: tuple[str, str] | None = None
    for key in plan.records_by_id():
        if last is not None and last[0] == key[0]:
            if problems is not None:
                problems.append(Problem(key[1], f"duplicate id {key[0]!r} (also {last[1]})"))
        else:
            last = key[:2]
            yield key


def _prepare_all(
    records: Iterable[PairRecord],
    config: PackConfig,
    staging: Path,
    report: PackReport,
    progress: bool | None,
    spill: Spill,
    plan: PackPlan,
) -> None:
    """Spill ``records`` (read once), then check the first of each id in (id, lq_path) order (a
    problem for every other one) and plan every pair that passes."""
    for r in records:
        plan.add_record(r.id, r.lq_path, spill.put(r))
    total = sum(1 for _ in _first_of_each_id(plan, report.problems))

    def work(key: tuple[str, str, tuple[int, int]]) -> PreparedPair | GGTError:
        try:
            return prepare_pair(spill.get(key[2]), staging, config.max_pixels, cache)
        except GGTError as exc:
            return exc

    cache = CheckCache(config.check_cache) if config.check_cache else None
    with ThreadPoolExecutor(max_workers=max(1, config.workers)) as pool, closing_cache(cache):
        results = bounded_map(pool, work, _first_of_each_id(plan), window=4 * max(1, config.workers))
        for result in tqdm(
            results, total=total, desc="pack: check", unit="pair", disable=progress_disabled(progress)
        ):
            if isinstance(result, GGTError):
                report.problems.append(Problem(result.item, result.reason))
                continue
            rec = result.record
            plan.add_planned(
                PlannedPair(
                    rec.id,
                    rec.category,
                    rec.split,
                    result.nbytes,
                    result.lq_sha256,
                    result.lq_phash,
                    spill.put(result),
                    result.hq_sha256,
                    result.hq_phash,
                )
            )


#: What the lock of a dataset folder is called in "dataset folder in use by PID ...".
DATASET_LOCK = "dataset folder"


def is_packed_dataset(folder: Path) -> bool:
    """Whether ``folder`` holds a dataset ggt packed (its ``ggt_dataset.json`` manifest), e.g. one
    downloaded from the Hub."""
    try:
        manifest = read_metadata(folder / HubLayout.MANIFEST)  # a hostile one: DatasetValidationError
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and "schema_version" in manifest and "shards" in manifest


def claim_dataset_folder(out: str | os.PathLike) -> Path:
    """The dataset folder ``out``, created or checked to be ggt's (new, empty, or packed by ggt; a
    clone of an empty Hub repo, only ``.git``/``.gitattributes``, counts as empty); see
    :func:`ggt_hf.files.output_folders.claim_output_folder`.

    Raises:
        OutputFolderError: ``out`` holds files that are not ggt's, or a parquet file named like one
            of its shards that ggt did not write (nothing is changed).
    """
    out = claim_output_folder(
        out, "dataset", recognise=is_packed_dataset, allowed=_GIT_NAMES.__contains__, command="ggt pack"
    )
    is_packed_dataset(out)  # reads its manifest: a hostile one is refused here, naming it
    check_no_foreign_shards(out)
    return out


def check_no_foreign_shards(out: Path) -> None:
    """Refuse a dataset folder holding a parquet file named like a shard
    (``data/<category>/<split>-NNNNN-of-NNNNN.parquet``) that ggt did not write (:func:`ggt_shards`).

    Pack never replaces or deletes such a file, but the card's ``data_files`` patterns would publish
    it as part of the split, and its rows (or its schema) are not the dataset's.

    Raises:
        OutputFolderError: naming the files (up to five); nothing is changed.
    """
    owned = ggt_shards(out)
    foreign = [s.path for s in list_shards(out) if s.path not in owned]
    if foreign:
        listed = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise OutputFolderError(
            out,
            f"holds parquet file(s) named like dataset shards that ggt did not write ({listed}); the "
            "dataset card would publish them as part of their split: move or rename them out of "
            "data/ and negatives/ (nothing was changed)",
        )


#: What a fresh ``git clone`` of an empty Hub dataset repo holds; pack never writes these.
_GIT_NAMES = frozenset({".git", ".gitattributes"})


def pack(
    records: Iterable[PairRecord],
    out: str | os.PathLike,
    config: PackConfig | None = None,
    *,
    problems: list[Problem] | None = None,
    progress: bool | None = None,
    subset: str = HubLayout.DATA_DIR,
) -> PackReport:
    """Pack ``records`` into the dataset folder ``out`` (created or updated); see module docs.

    ``records`` is read once and may be a lazy iterable: records and prepared pairs are spilled to
    the staging folder, so memory holds only ids, hashes and sizes per pair.

    ``subset="negatives"`` writes QC-rejected candidates to the ``negatives`` config instead.

    Raises:
        LeakageError: when a test LQ duplicates a train LQ and ``config.force`` is false.
        PairingError: when ``config.strict`` and any item had a problem, or nothing is packable.
        OutputFolderError: ``out`` holds files ggt did not write (checked before any work).
        InUseError: another pack holds ``out`` (one writer at a time; the leak check then sees
            every shard of the folder as it will be kept).
    """
    config = config or PackConfig()
    if subset not in HubLayout.SUBSETS:
        raise ValueError(f"subset must be one of {HubLayout.SUBSETS}, got {subset!r}")
    out = claim_dataset_folder(out)
    check_no_links(out)  # before any work: nothing is written through a link
    with output_lock(out, DATASET_LOCK):  # the leak check sees the output as it is under the lock
        return _pack_locked(records, out, config, subset, list(problems or []), progress)


def _pack_locked(
    records: Iterable[PairRecord],
    out: Path,
    config: PackConfig,
    subset: str,
    problems: list[Problem],
    progress: bool | None,
) -> PackReport:
    """:func:`pack`'s work, run while it holds the output folder's lock."""
    report = PackReport(problems=problems)
    clean_stale_staging(out)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-{os.getpid()}-", dir=out.parent))
    _mark_run_folder(staging)
    spill, plan = Spill(staging / "spill.pickle"), PackPlan(staging / "plan.sqlite")
    try:
        _prepare_all(records, config, staging, report, progress, spill, plan)
        if config.strict and report.problems:
            raise PairingError(
                out,
                f"{len(report.problems)} problem(s) and --strict: "
                + "; ".join(map(str, report.problems[:5])),
            )
        if not plan.planned_count():
            raise nothing_to_pack(out, report.problems)
        groups = set(plan.groups())
        hq_splits = leak_partner_splits(s for _, s in groups) if subset == HubLayout.DATA_DIR else set()
        plan.add_kept(existing_rows(out, groups, subset, hq_splits, config.workers))
        for pair_id, shard in plan.drop_clashes():
            report.problems.append(Problem(pair_id, f"id already used in {shard}"))
        # leakage matters for the pairs people train and test on; negatives are extra data
        if subset == HubLayout.DATA_DIR:
            report.leaks = find_leaks(plan.leak_entries(), config.near_duplicate_distance, staging)
        if report.leaks and not config.force:
            raise LeakageError(
                out,
                f"{len(report.leaks)} test pair(s) leak from train (use --force to pack anyway): "
                + "; ".join(map(str, report.leaks[:5])),
            )
        _write_groups(plan, spill, out, staging, config, report, progress, subset)
    finally:
        spill.close()
        plan.close()
        shutil.rmtree(staging, ignore_errors=True)
    try:
        finalize_folder(out, config.card, owned=ggt_shards(out))
        record_in_marker(out, _MARKER_SHARDS, [], replace=True)  # the manifest now lists them
        release_freed_memory()  # the card's shard reads: not to stack on the next pack's peak
    except OSError as exc:  # e.g. a full disk: the shards are in place, the card is not
        raise DatasetValidationError(
            out,
            f"the shards were written but the card and manifest could not be ({exc.strerror or exc}); "
            f"free some space, then run `ggt card {out}` (or the same pack again) to finish the folder",
        ) from exc
    return report


def _write_groups(
    plan: PackPlan,
    spill: Spill,
    out: Path,
    staging: Path,
    config: PackConfig,
    report: PackReport,
    progress: bool | None,
    subset: str,
) -> None:
    """Write every planned group's shards to staging (one row group at a time), then swap each
    affected category in."""
    plan.finish_inserts()
    groups = plan.groups()
    new_dir = staging / "new"
    bar = tqdm(
        total=plan.planned_count(), desc="pack: write", unit="pair", disable=progress_disabled(progress)
    )
    for category, split in groups:
        sizes, mean = plan.group_sizes(category, split, config.max_shard_bytes)
        rows_per_group = int(max(1, min(config.max_row_group_rows, config.row_group_bytes // max(1, mean))))
        spilled = plan.group_spilled(category, split)
        for i, size in enumerate(sizes):
            rel = HubLayout.SHARD.format(
                subset=subset, category=category, split=split, index=i, total=len(sizes)
            )
            (new_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            write_shard(new_dir / rel, (spill.get(w) for w in islice(spilled, size)), rows_per_group)
            release_freed_memory()  # a shard's write buffers, before the next phase stacks on them
            report.files.append(rel)
            report.written[(category, split)] += size
            bar.update(size)
    bar.close()
    # recorded before any swap: a run killed before its manifest still knows these shards are ggt's
    record_in_marker(out, _MARKER_SHARDS, report.files)
    owned = ggt_shards(out)
    for category in dict.fromkeys(c for c, _ in groups):
        splits = {s for c, s in groups if c == category}
        live = out / subset / category
        mine = {Path(p).name for p in owned if Path(p).parent == Path(subset, category)}
        _swap_in_category(live, new_dir / subset / category, splits, mine)


#: Marker in the names of hidden folders a pack run creates (``<pid>`` = the run's process id).
_GENERATION = ".gen-"
#: File a pack run writes into every staging folder and generation it creates (its pid and the shard
#: names in it that are the run's): only folders holding it are ever removed by a later pack.
RUN_MARKER = ".ggt-pack-run.json"
#: Key of the output folder's marker listing shards written before the manifest is (re)written.
_MARKER_SHARDS = "shards"
#: The exact name of a shard pack writes (``HubLayout.SHARD``'s file name); nothing else is pack's.
_SHARD_NAME = re.compile(rf"(?P<split>{'|'.join(map(re.escape, SPLITS))})-\d{{5}}-of-\d{{5}}\.parquet")


def _shard_split(name: str) -> str | None:
    """The split of a shard file name pack writes, or ``None`` for any other name."""
    match = _SHARD_NAME.fullmatch(name)
    return match["split"] if match else None


def _link_tree(src: Path, dst: Path) -> None:
    """Recreate folder ``src`` at ``dst`` with hard links to its files (symlinks copied as links,
    nothing followed): the user's notes, backups and sub-folders carried into a new generation."""
    dst.mkdir(exist_ok=True)
    os.chmod(dst, src.stat().st_mode & 0o7777)
    for entry in os.scandir(src):
        target = dst / entry.name
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), target)
        elif entry.is_dir():
            _link_tree(Path(entry.path), target)
        elif entry.is_file():
            os.link(entry.path, target)
        else:  # a socket or FIFO stays where it is; _retire moves it back after the swap
            logger.warning("%s is not a regular file; it is moved, not linked, by the swap", entry.path)


def _same_entry(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` are one file (hard links) or equal symlinks; nothing is followed."""
    try:
        sa, sb = os.lstat(a), os.lstat(b)
    except FileNotFoundError:
        return False
    if os.path.islink(a) or os.path.islink(b):
        return os.path.islink(a) and os.path.islink(b) and os.readlink(a) == os.readlink(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _retire(old: Path, live: Path, owned: frozenset[str] | set[str] = frozenset()) -> None:
    """Remove the generation ``old`` that ``live`` replaced, deleting only pack's own files:
    the shards ggt wrote (names in ``owned``, top level only), pack's :data:`RUN_MARKER`, and
    links whose twin in ``live`` is the same file. Anything else (a file the user added while the
    swap ran, a user's file named like a new shard) is moved into ``live``, or left in place with
    a warning."""
    for entry in list(os.scandir(old)):
        path, twin = Path(entry.path), live / entry.name
        if entry.is_file(follow_symlinks=False) and (entry.name in owned or entry.name == RUN_MARKER):
            path.unlink()
        elif entry.is_dir(follow_symlinks=False) and twin.is_dir() and not twin.is_symlink():
            _retire(path, twin)
        elif _same_entry(path, twin):
            path.unlink()  # a link to what live holds
        elif os.path.lexists(twin):
            logger.warning("kept %s: it differs from %s, which the swap put in place", path, twin)
        else:
            os.rename(path, twin)
    try:
        old.rmdir()
    except OSError:
        logger.warning("left %s (it holds files that are not pack's); move what you need out of it", old)


def _swap_in_category(live: Path, new: Path, splits: set[str], owned: set[str]) -> None:
    """Make ``new``'s shards (for ``splits``) plus everything else in ``live`` (shards of the other
    splits, and whatever the user keeps there) the live folder, atomically: build the generation
    beside it (hard links), exchange the two, retire the old one deleting only pack's files.

    ``owned``: names of the shards in ``live`` that ggt wrote; only those are replaced.
    """
    generation = live.parent / f".{live.name}{_GENERATION}{os.getpid()}-{os.urandom(4).hex()}"
    generation.mkdir(parents=True)
    new_shards = sorted(new.glob("*.parquet"))
    _mark_run_folder(generation, [p.name for p in new_shards])
    replaced = set()
    for old in sorted(os.scandir(live), key=lambda e: e.name) if live.is_dir() else []:
        if old.name in owned and _shard_split(old.name) in splits and old.is_file(follow_symlinks=False):
            replaced.add(old.name)
            continue  # replaced by this run's shards
        if old.is_symlink():
            os.symlink(os.readlink(old.path), generation / old.name)
        elif old.is_dir():
            _link_tree(Path(old.path), generation / old.name)
        elif old.is_file():
            os.link(old.path, generation / old.name)
    for shard in new_shards:
        os.replace(shard, generation / shard.name)
    (generation / RUN_MARKER).unlink()  # pack's bookkeeping never goes live
    if live.exists():
        _exchange(generation, live)
        _mark_run_folder(generation, sorted(replaced))  # now the old generation
        _retire(generation, live, replaced)
    else:
        os.replace(generation, live)


def _mark_run_folder(folder: Path, shards: list[str] | None = None) -> None:
    """Write :data:`RUN_MARKER` into a folder this pack run created (its pid, and the shard names in
    it that are the run's to delete), so a later pack can tell it from anything a user keeps."""
    atomic_write_json(folder / RUN_MARKER, {"pid": os.getpid(), "shards": shards or []})


def _read_run_marker(folder: Path) -> dict | None:
    return read_metadata_or_none(folder / RUN_MARKER, "json")


def ggt_shards(out: Path) -> set[str]:
    """Paths (relative, ``/``-separated) of the shards ggt wrote into ``out``: those its manifest
    records (:func:`ggt_hf.hub.card.manifest_owned_shards`) plus those recorded in its marker before
    a swap. A folder with neither owns none, so nothing in it is replaced or deleted."""
    owned = set(manifest_owned_shards(out) or [])
    recorded = (read_marker(out) or {}).get(_MARKER_SHARDS)
    if isinstance(recorded, list):
        owned.update(p for p in recorded if isinstance(p, str))
    return owned


def _exchange(a: Path, b: Path) -> None:
    """Swap two directories atomically (Linux ``renameat2(RENAME_EXCHANGE)``); elsewhere, two
    renames (a reader may then briefly see the category missing, never half-written)."""
    import ctypes
    import errno

    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        at_fdcwd, rename_exchange = -100, 2
        if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
            return
        if ctypes.get_errno() not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(ctypes.get_errno(), f"cannot swap {a} and {b}")
    aside = a.with_name(a.name + ".old")
    os.replace(b, aside)
    os.replace(a, b)
    os.replace(aside, a)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_pid(name: str, marker: str) -> int | None:
    tail = name.split(marker, 1)[1] if marker in name else ""
    head = tail.split("-", 1)[0]
    return int(head) if head.isdigit() else None


def clean_stale_staging(out: Path) -> list[Path]:
    """Remove staging folders and half-built generations that killed pack runs left behind;
    returns what was removed. Only what a pack run provably created is touched: a real folder
    (not a link) whose name carries the pid of a process that is gone (or this one) and that holds
    the :data:`RUN_MARKER` pack wrote into it with that pid. Anything else is left (logged)."""
    candidates = list(out.parent.glob(f".{out.name}.staging-*"))
    for subset in HubLayout.SUBSETS:
        if (out / subset).is_dir() and not (out / subset).is_symlink():
            candidates += list((out / subset).glob(f".*{_GENERATION}*"))
    removed = []
    for path in candidates:
        marker = ".staging-" if path.parent == out.parent else _GENERATION
        pid = _owner_pid(path.name, marker)
        run = _read_run_marker(path) if path.is_dir() and not path.is_symlink() else None
        if pid is None or run is None or run.get("pid") != pid:
            logger.debug("left %s alone: not a folder a pack run created (no run marker)", path)
            continue
        if not _pid_alive(pid) or pid == os.getpid():
            logger.warning("removing %s left by an interrupted pack run", path)
            live = path.with_name(path.name[1:].split(_GENERATION, 1)[0])
            if marker == _GENERATION and live.is_dir() and not live.is_symlink():
                # it may hold links to (or, after a swap, the only copy of) user files
                shards = run.get("shards")
                _retire(
                    path,
                    live,
                    {n for n in shards if isinstance(n, str)} if isinstance(shards, list) else set(),
                )
            else:
                shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
