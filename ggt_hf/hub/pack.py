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
  generation is deleted. A reader (or a kill) never sees a category with a mix of old and new
  shards or a partial set; staging and generations left by killed runs are removed by the next pack.
* **Memory is bounded**: pairs are prepared with a bounded window and written row group by row
  group, so peak memory does not grow with the number of pairs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import shutil
import sys
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

from ggt_hf.constants import CATEGORIES, MAX_IMAGE_PIXELS, Col, HubLayout
from ggt_hf.errors import BadImageError, DatasetValidationError, GGTError, LeakageError, PairingError
from ggt_hf.hashing import NearDuplicateIndex, phash
from ggt_hf.hub.card import CardInfo, finalize_folder, list_shards
from ggt_hf.hub.pairs import Problem
from ggt_hf.hub.schema import dataset_features, record_to_row
from ggt_hf.images import PASSTHROUGH_FORMATS, decode_image, encode_image, read_file_bytes
from ggt_hf.io_utils import sha256_bytes
from ggt_hf.parallel import bounded_map, progress_disabled
from ggt_hf.records import PairRecord

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


@dataclass
class ImageRef:
    """Where the bytes of one stored image come from and the file name recorded with them."""

    path: str
    name: str
    nbytes: int

    def read(self) -> dict[str, object]:
        return {"bytes": Path(self.path).read_bytes(), "path": self.name}


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


def _prepare_side(record: PairRecord, side: str, staging: Path, max_pixels: int):
    path = getattr(record, f"{side}_path")
    data = read_file_bytes(path)
    decoded, stored, ext = check_image(data, path, max_pixels)
    if stored is data:
        ref = ImageRef(str(path), f"{record.id}.{ext}", len(data))
    else:
        tmp = staging / f"{record.id}.{side}.png"
        tmp.write_bytes(stored)
        ref = ImageRef(str(tmp), f"{record.id}.png", len(stored))
    return ref, decoded, data


def prepare_pair(record: PairRecord, staging: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> PreparedPair:
    """Read, fully decode and check one pair. Raises a :class:`GGTError` naming the problem."""
    lq, lq_img, lq_bytes = _prepare_side(record, "lq", staging, max_pixels)
    hq, hq_img, _ = _prepare_side(record, "hq", staging, max_pixels)
    if lq_img.image.size != hq_img.image.size:
        (lw, lh), (hw, hh) = lq_img.image.size, hq_img.image.size
        raise PairingError(record.id, f"size mismatch: LQ is {lw}×{lh} but HQ is {hw}×{hh}")
    width, height = lq_img.image.size
    return PreparedPair(record, lq, hq, width, height, sha256_bytes(lq_bytes), phash(lq_img.image))


class _Spill:
    """Pickled objects appended to one staging file and read back by position, so a pack holds
    its records and prepared pairs on disk, not in memory (reads are thread-safe: ``os.pread``)."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "w+b", buffering=0)  # noqa: SIM115 - closed by close()
        self._end = 0

    def put(self, obj: object) -> tuple[int, int]:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        self._file.write(data)
        where, self._end = (self._end, len(data)), self._end + len(data)
        return where

    def get(self, where: tuple[int, int]):
        # only this process's own staging file is unpickled
        return pickle.loads(os.pread(self._file.fileno(), where[1], where[0]))

    def close(self) -> None:
        self._file.close()


@dataclass(slots=True)
class _Planned:
    """What a pack keeps in memory per prepared pair: what dedupe, leak check and shard planning
    need, and where the full :class:`PreparedPair` is spilled."""

    id: str
    category: str
    split: str
    nbytes: int
    lq_sha256: str
    lq_phash: str
    where: tuple[int, int]


def _order_key(pair: _Planned) -> str:
    return hashlib.sha1(pair.id.encode()).hexdigest()


def plan_shards(pairs: list[PreparedPair], max_shard_bytes: int) -> list[list[PreparedPair]]:
    """Split pairs (already ordered) greedily into shards of at most ``max_shard_bytes``."""
    shards: list[list[PreparedPair]] = [[]]
    size = 0
    for pair in pairs:
        if shards[-1] and size + pair.nbytes > max_shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(pair)
        size += pair.nbytes
    return shards if shards[0] else []


def write_shard(path: Path, pairs: Iterable[PreparedPair], rows_per_group: int) -> None:
    """Write one parquet shard, one row group at a time (bounded memory)."""
    schema = dataset_features().arrow_schema
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


def _existing_rows(out: Path, replaced: set[tuple[str, str]], subset: str) -> list[dict[str, str]]:
    """id/split/hash of rows of ``subset`` already in ``out`` that this run keeps."""
    rows = []
    for shard in list_shards(out):
        if shard.subset != subset or (shard.category, shard.split) in replaced:
            continue
        table = pq.read_table(out / shard.path, columns=[Col.ID, Col.LQ_SHA256, Col.LQ_PHASH])
        for row in table.to_pylist():
            rows.append({**row, "split": shard.split, "where": shard.path})
    return rows


def find_leaks(entries: list[dict[str, str]], max_distance: int) -> list[Problem]:
    """Test rows whose LQ equals (SHA-256) or nearly equals (pHash) a train row's LQ."""
    index = NearDuplicateIndex(max_distance)
    train_sha = {}
    for e in entries:
        if e["split"] == "train":
            index.add(e[Col.ID], e[Col.LQ_PHASH])
            train_sha[e[Col.LQ_SHA256]] = e[Col.ID]
    leaks = []
    for e in entries:
        if e["split"] != "test":
            continue
        if e[Col.LQ_SHA256] in train_sha:
            leaks.append(Problem(e[Col.ID], f"test LQ identical to train pair {train_sha[e[Col.LQ_SHA256]]}"))
        elif (hit := index.query(e[Col.LQ_PHASH])) is not None:
            leaks.append(
                Problem(e[Col.ID], f"test LQ near-duplicate of train pair {hit[0]} (pHash distance {hit[1]})")
            )
    return leaks


def _unique_records(
    records: Iterable[PairRecord], spill: _Spill, report: PackReport
) -> list[tuple[str, str, tuple[int, int]]]:
    """Spill ``records`` (read once, lazily); (id, lq_path, where) of the first of each id in
    (id, lq_path) order, a problem for every other one."""
    keys = sorted(((r.id, r.lq_path, spill.put(r)) for r in records), key=lambda k: (k[0], k[1]))
    unique: list[tuple[str, str, tuple[int, int]]] = []
    for key in keys:
        if unique and unique[-1][0] == key[0]:
            report.problems.append(Problem(key[1], f"duplicate id {key[0]!r} (also {unique[-1][1]})"))
        else:
            unique.append(key)
    return unique


def _prepare_all(
    records: Iterable[PairRecord],
    config: PackConfig,
    staging: Path,
    report: PackReport,
    progress: bool | None,
    spill: _Spill,
) -> list[_Planned]:
    unique = _unique_records(records, spill, report)

    def work(key: tuple[str, str, tuple[int, int]]) -> PreparedPair | GGTError:
        try:
            return prepare_pair(spill.get(key[2]), staging, config.max_pixels)
        except GGTError as exc:
            return exc

    prepared = []
    with ThreadPoolExecutor(max_workers=max(1, config.workers)) as pool:
        results = bounded_map(pool, work, unique, window=4 * max(1, config.workers))
        for result in tqdm(
            results, total=len(unique), desc="pack: check", unit="pair", disable=progress_disabled(progress)
        ):
            if isinstance(result, GGTError):
                report.problems.append(Problem(result.item, result.reason))
                continue
            rec = result.record
            prepared.append(
                _Planned(
                    rec.id,
                    sys.intern(rec.category),
                    sys.intern(rec.split),
                    result.nbytes,
                    result.lq_sha256,
                    result.lq_phash,
                    spill.put(result),
                )
            )
    return prepared


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
    """
    config = config or PackConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = PackReport(problems=list(problems or []))
    clean_stale_staging(out)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-{os.getpid()}-", dir=out.parent))
    spill = _Spill(staging / "spill.pickle")
    try:
        prepared = _prepare_all(records, config, staging, report, progress, spill)
        if config.strict and report.problems:
            raise PairingError(
                out,
                f"{len(report.problems)} problem(s) and --strict: "
                + "; ".join(map(str, report.problems[:5])),
            )
        if not prepared:
            raise PairingError(out, f"nothing to pack ({len(report.problems)} problem(s))")
        groups = {(p.category, p.split) for p in prepared}
        kept = _existing_rows(out, groups, subset)
        taken = {r[Col.ID]: r["where"] for r in kept}
        clash = [p for p in prepared if p.id in taken]
        for p in clash:
            report.problems.append(Problem(p.id, f"id already used in {taken[p.id]}"))
        prepared = [p for p in prepared if p.id not in taken]
        entries = kept + [
            {Col.ID: p.id, Col.LQ_SHA256: p.lq_sha256, Col.LQ_PHASH: p.lq_phash, "split": p.split}
            for p in prepared
        ]
        # leakage matters for the pairs people train and test on; negatives are extra data
        report.leaks = (
            find_leaks(entries, config.near_duplicate_distance) if subset == HubLayout.DATA_DIR else []
        )
        if report.leaks and not config.force:
            raise LeakageError(
                out,
                f"{len(report.leaks)} test pair(s) leak from train (use --force to pack anyway): "
                + "; ".join(map(str, report.leaks[:5])),
            )
        if subset not in HubLayout.SUBSETS:
            raise ValueError(f"subset must be one of {HubLayout.SUBSETS}, got {subset!r}")
        _write_groups(prepared, out, staging, config, report, progress, subset, spill)
    finally:
        spill.close()
        shutil.rmtree(staging, ignore_errors=True)
    try:
        finalize_folder(out, config.card)
    except OSError as exc:  # e.g. a full disk: the shards are in place, the card is not
        raise DatasetValidationError(
            out,
            f"the shards were written but the card and manifest could not be ({exc.strerror or exc}); "
            f"free some space, then run `ggt card {out}` (or the same pack again) to finish the folder",
        ) from exc
    return report


def _write_groups(
    prepared: list[_Planned],
    out: Path,
    staging: Path,
    config: PackConfig,
    report: PackReport,
    progress: bool | None,
    subset: str,
    spill: _Spill,
) -> None:
    by_group: dict[tuple[str, str], list[_Planned]] = {}
    for p in sorted(prepared, key=_order_key):
        by_group.setdefault((p.category, p.split), []).append(p)
    new_dir = staging / "new"
    planned = []
    for (category, split), pairs in sorted(
        by_group.items(), key=lambda kv: (CATEGORIES.index(kv[0][0]), kv[0][1])
    ):
        shards = plan_shards(pairs, config.max_shard_bytes)  # type: ignore[arg-type]
        mean = sum(p.nbytes for p in pairs) / len(pairs)
        rows_per_group = int(max(1, min(config.max_row_group_rows, config.row_group_bytes // max(1, mean))))
        for i, shard in enumerate(shards):
            rel = HubLayout.SHARD.format(
                subset=subset, category=category, split=split, index=i, total=len(shards)
            )
            planned.append(((category, split), rel, shard, rows_per_group))
    bar = tqdm(total=len(prepared), desc="pack: write", unit="pair", disable=progress_disabled(progress))
    for _, rel, shard, rows_per_group in planned:
        (new_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        write_shard(new_dir / rel, _loaded(spill, shard), rows_per_group)
        bar.update(len(shard))
    bar.close()
    for category in sorted({c for c, _ in by_group}, key=CATEGORIES.index):
        splits = {s for c, s in by_group if c == category}
        _swap_in_category(out / subset / category, new_dir / subset / category, splits)
    for group, rel, shard, _ in planned:
        report.files.append(rel)
        report.written[group] += len(shard)


def _loaded(spill: _Spill, planned: list[_Planned]) -> Iterator[PreparedPair]:
    """The spilled pairs of ``planned``, read back one at a time (for :func:`write_shard`)."""
    return (spill.get(p.where) for p in planned)


#: Marker in the names of hidden folders a pack run creates (``<pid>`` = the run's process id).
_GENERATION = ".gen-"


def _swap_in_category(live: Path, new: Path, splits: set[str]) -> None:
    """Make ``new``'s shards (for ``splits``) plus ``live``'s shards of the other splits the live
    folder, atomically: build the generation beside it, exchange the two, delete the old one."""
    generation = live.parent / f".{live.name}{_GENERATION}{os.getpid()}-{os.urandom(4).hex()}"
    generation.mkdir(parents=True)
    for old in sorted(live.glob("*.parquet")) if live.is_dir() else []:
        if old.name.split("-", 1)[0] not in splits:
            os.link(old, generation / old.name)
    for shard in sorted(new.glob("*.parquet")):
        os.replace(shard, generation / shard.name)
    if live.exists():
        _exchange(generation, live)
        shutil.rmtree(generation)  # now the old generation
    else:
        os.replace(generation, live)


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
    """Remove staging folders and half-built generations that killed pack runs left behind
    (those whose process is gone); returns what was removed."""
    candidates = list(out.parent.glob(f".{out.name}.staging-*"))
    for subset in HubLayout.SUBSETS:
        candidates += [p for p in (out / subset).glob(f".*{_GENERATION}*") if p.is_dir()]
    removed = []
    for path in candidates:
        marker = ".staging-" if path.parent == out.parent else _GENERATION
        pid = _owner_pid(path.name, marker)
        if pid is None or not _pid_alive(pid) or pid == os.getpid():
            logger.warning("removing %s left by an interrupted pack run", path)
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
