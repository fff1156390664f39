"""Pack a detected release straight from its filesystem, shard by shard, with bounded disk.

:func:`stream_shards` turns a :class:`~ggt_hf.hub.layout.LayoutPlan` into parquet shards without
downloading the release first: the shard plan is made from the listed file sizes (same ordering
and 500 MB greedy split as ``ggt pack``), then each shard's pairs are read (a few threads, a
bounded window), checked exactly like ``ggt pack`` checks local files, and written row group by
row group, so memory holds about one row group and disk one shard. Each finished shard goes to a
*sink*:

* :class:`HubSink` (``ggt mirror``) commits it to a Hub dataset repo and deletes it locally; the
  card, manifest, preview and ``eval.yaml`` go last, in one commit that also removes shards of an
  earlier plan, so the repo never has a card describing files that are not there.
* :func:`pack_release` (``ggt pack`` of a detected layout) stages shards next to ``OUT`` and swaps
  them in at the end, after the train/test leakage check.

A journal in the work folder (one small JSON record per shard: plan digest, status, row count,
hashes, problems) makes a killed run resumable: finished shards are skipped, a shard whose commit
landed before the kill is recognised on the remote and never uploaded twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from tqdm.auto import tqdm

from ggt_hf.constants import CATEGORIES, MAX_IMAGE_PIXELS, SPLITS, HubLayout
from ggt_hf.errors import GGTError, LeakageError, PairingError
from ggt_hf.files.io_utils import atomic_write_bytes, atomic_write_json, sha256_bytes
from ggt_hf.files.output_folders import check_no_overlap, claim_output_folder, output_lock
from ggt_hf.hub.card import CardInfo, ShardInfo, Tile, render_grid, write_card_files
from ggt_hf.hub.layout import DetectedPair, LayoutPlan, ReleaseSource
from ggt_hf.hub.pack import (
    DATASET_LOCK,
    MAX_SHARD_BYTES,
    ROW_GROUP_BYTES,
    ROW_GROUP_ROWS,
    ImageRef,
    PreparedPair,
    check_image,
    claim_dataset_folder,
    existing_rows,
    find_leaks,
    leak_partner_splits,
    plan_shards,
    write_shard,
)
from ggt_hf.hub.pack_plan import order_key
from ggt_hf.hub.pairs import Problem, nothing_to_pack
from ggt_hf.imaging.hashing import phash, pixel_sha256
from ggt_hf.records import PairRecord, Provenance
from ggt_hf.runtime.parallel import bounded_map, progress_disabled

logger = logging.getLogger(__name__)

JOURNAL_DIR = "journal"
#: Journal status of a shard at the sink, and of a shard whose every pair failed (never written).
UPLOADED, EMPTY = "uploaded", "empty"
SAMPLES_DIR = "samples"
SAMPLES_PER_CATEGORY = 2


@dataclass
class StreamConfig:
    """Settings of a streaming pack / mirror."""

    max_shard_bytes: int = MAX_SHARD_BYTES
    row_group_bytes: int = ROW_GROUP_BYTES
    max_row_group_rows: int = ROW_GROUP_ROWS
    workers: int = 8
    max_pixels: int = MAX_IMAGE_PIXELS
    near_duplicate_distance: int = 4
    license: str | None = None


@dataclass
class ShardTask:
    """One planned shard: where it goes and which pairs it holds."""

    rel: str
    subset: str
    category: str
    split: str
    pairs: list[DetectedPair]

    def digest(self) -> str:
        """Changes whenever the shard's content would (its pairs, their files and sizes)."""
        h = hashlib.sha1(self.rel.encode())
        for p in self.pairs:
            h.update(f"\0{p.id}\0{p.lq.rel}\0{p.lq.size}\0{p.hq.rel}\0{p.hq.size}".encode())
        return h.hexdigest()


def plan_tasks(pairs: list[DetectedPair], max_shard_bytes: int) -> list[ShardTask]:
    """Shards of every (subset, split, category) group: train before test so samples come early."""
    groups: dict[tuple[str, str, str], list[DetectedPair]] = {}
    for p in sorted(pairs, key=lambda p: order_key(p.id)):
        groups.setdefault((p.subset, p.category, p.split), []).append(p)
    order = sorted(
        groups,
        key=lambda g: (HubLayout.SUBSETS.index(g[0]), SPLITS.index(g[2]), CATEGORIES.index(g[1])),
    )
    tasks = []
    for subset, category, split in order:
        shards = plan_shards(groups[(subset, category, split)], max_shard_bytes)  # type: ignore[arg-type]
        for i, shard in enumerate(shards):
            rel = HubLayout.SHARD.format(
                subset=subset, category=category, split=split, index=i, total=len(shards)
            )
            tasks.append(ShardTask(rel, subset, category, split, shard))  # type: ignore[arg-type]
    return tasks


@dataclass
class BytesRef(ImageRef):
    """An image already in memory (read from the release)."""

    data: bytes = b""

    def read(self) -> dict[str, object]:
        return {"bytes": self.data, "path": self.name}


def prepare_detected(pair: DetectedPair, source: ReleaseSource, config: StreamConfig) -> PreparedPair:
    """Read both files of ``pair`` and check them like ``ggt pack`` does; raises :class:`GGTError`."""
    record = PairRecord(
        id=pair.id,
        category=pair.category,
        split=pair.split,
        lq_path=pair.lq.rel,
        hq_path=pair.hq.rel,
        source=source.url,
        license=config.license,
        provenance=Provenance(backend="release", extra={"lq_file": pair.lq.rel, "hq_file": pair.hq.rel}),
    )
    sides = []
    for file in (pair.lq, pair.hq):
        # A refused, oversized or corrupt file or member is a bad pair (BadImageError); any other
        # read failure (the network, the disk) stops the run, which is resumable.
        data = source.read(file)
        decoded, stored, ext = check_image(data, file.rel, config.max_pixels)
        sides.append((decoded, BytesRef(file.rel, f"{pair.id}.{ext}", len(stored), stored), data))
    (lq_img, lq_ref, lq_bytes), (hq_img, hq_ref, _) = sides
    if lq_img.image.size != hq_img.image.size:
        (lw, lh), (hw, hh) = lq_img.image.size, hq_img.image.size
        raise PairingError(pair.id, f"size mismatch: LQ is {lw}×{lh} but HQ is {hw}×{hh}")
    width, height = lq_img.image.size
    return PreparedPair(
        record,
        lq_ref,
        hq_ref,
        width,
        height,
        sha256_bytes(lq_bytes),
        phash(lq_img.image),
        pixel_sha256(hq_img.image),
        phash(hq_img.image),
    )


@dataclass
class ShardRecord:
    """Journal entry of one shard."""

    rel: str
    digest: str
    status: str  # "written" (local file complete), "uploaded" (at the sink) or "empty" (no rows, no file)
    info: dict[str, Any]
    #: [id, split, lq_sha256, lq_phash, hq pixel sha256, hq_phash] (journals of older ggt: the first 4)
    hashes: list[list[str]] = field(default_factory=list)
    problems: list[list[str]] = field(default_factory=list)


class Journal:
    """One JSON record per shard under ``work/journal/`` (atomic writes: a kill leaves old or new)."""

    def __init__(self, work: Path) -> None:
        self.dir = work / JOURNAL_DIR
        self.dir.mkdir(parents=True, exist_ok=True)

    def _path(self, rel: str) -> Path:
        return self.dir / (rel.replace("/", "__") + ".json")

    def get(self, rel: str) -> ShardRecord | None:
        path = self._path(rel)
        return ShardRecord(**json.loads(path.read_text())) if path.exists() else None

    def put(self, record: ShardRecord) -> None:
        atomic_write_json(self._path(record.rel), asdict(record))


class Samples:
    """Preview pairs (category, LQ, HQ) kept in the work folder until the card is written.

    Files are named by pair id, so a shard rewritten after a kill does not add the same pair twice.
    """

    def __init__(self, work: Path) -> None:
        self.dir = work / SAMPLES_DIR
        self.dir.mkdir(parents=True, exist_ok=True)

    def _ids(self, category: str) -> list[str]:
        return sorted(p.name[len(category) + 2 : -3] for p in self.dir.glob(f"{category}--*.lq"))

    def add(self, pair: PreparedPair) -> None:
        category, ids = pair.record.category, self._ids(pair.record.category)
        if len(ids) < SAMPLES_PER_CATEGORY and pair.record.id not in ids:
            stem = self.dir / f"{category}--{pair.record.id}"
            atomic_write_bytes(stem.with_name(stem.name + ".hq"), pair.hq.read()["bytes"])  # type: ignore[arg-type]
            atomic_write_bytes(stem.with_name(stem.name + ".lq"), pair.lq.read()["bytes"])  # type: ignore[arg-type]

    def tiles(self) -> list[Tile]:
        out = []
        for c in CATEGORIES:
            for pair_id in self._ids(c):
                stem = self.dir / f"{c}--{pair_id}"
                out.append((c, Path(f"{stem}.lq").read_bytes(), Path(f"{stem}.hq").read_bytes()))
        return out


def _write_task(
    task: ShardTask, source: ReleaseSource, config: StreamConfig, path: Path, samples: Samples
) -> tuple[int, list[list[str]], list[list[str]]]:
    """Write ``task`` to ``path``; returns (rows, hashes, problems)."""
    hashes: list[list[str]] = []
    problems: list[list[str]] = []

    def work(pair: DetectedPair) -> PreparedPair | GGTError:
        try:
            return prepare_detected(pair, source, config)
        except GGTError as exc:
            return exc

    def prepared() -> Iterator[PreparedPair]:
        with ThreadPoolExecutor(max_workers=max(1, config.workers)) as pool:
            for result in bounded_map(pool, work, task.pairs, window=2 * max(1, config.workers)):
                if isinstance(result, GGTError):
                    problems.append([str(result.item), result.reason])
                    continue
                hashes.append(
                    [
                        result.record.id,
                        result.record.split,
                        result.lq_sha256,
                        result.lq_phash,
                        result.hq_sha256,
                        result.hq_phash,
                    ]
                )
                if task.subset == HubLayout.DATA_DIR:
                    samples.add(result)
                yield result

    mean = sum(p.nbytes for p in task.pairs) / max(1, len(task.pairs))
    rows_per_group = int(max(1, min(config.max_row_group_rows, config.row_group_bytes // max(1, mean))))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    if write_shard(partial, prepared(), rows_per_group):
        partial.replace(path)  # a shard whose every pair failed is never written (no 0-row shard)
    return len(hashes), hashes, problems


class Sink:
    """Where finished shards go (see :class:`HubSink`, :class:`FolderSink`)."""

    def existing(self) -> set[str]:
        """Shard paths already at the destination."""
        return set()

    def same(self, rel: str, path: Path) -> bool:
        """Whether the destination's ``rel`` has exactly the bytes of ``path``."""
        return False

    def put(self, rel: str, path: Path) -> None:
        raise NotImplementedError


@dataclass
class StreamReport:
    """What a streaming pack did."""

    shards: list[ShardInfo] = field(default_factory=list)
    written: Counter = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    leaks: list[Problem] = field(default_factory=list)
    uploaded: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        rows = sum(self.written.values())
        text = (
            f"{rows} pairs in {len(self.shards)} shard(s) ({len(self.uploaded)} new, "
            f"{len(self.resumed)} already done), {len(self.problems)} problem(s)"
        )
        return text + (f", {len(self.leaks)} train/test leak(s)" if self.leaks else "")


def stream_shards(
    plan: LayoutPlan,
    source: ReleaseSource,
    sink: Sink,
    work: str | Path,
    config: StreamConfig | None = None,
    *,
    progress: bool | None = None,
    kept: Callable[[set[tuple[str, str]]], Iterable[Mapping[str, str]]] | None = None,
) -> StreamReport:
    """Write every shard of ``plan`` not yet at ``sink`` and hand it over; see module docs.

    ``kept(replaced)`` yields the leak-check entries of rows already at the destination that stay
    (those outside the replaced ``(category, split)`` groups), so the train/test check covers them.
    """
    config = config or StreamConfig()
    work = Path(work)
    journal, samples = Journal(work), Samples(work)
    report = StreamReport(problems=list(plan.unmatched) + list(plan.refused))
    remote = sink.existing()
    tasks = plan_tasks(plan.pairs, config.max_shard_bytes)
    bar = tqdm(total=len(plan.pairs), desc="mirror", unit="pair", disable=progress_disabled(progress))
    for task in tasks:
        digest, local = task.digest(), work / task.rel
        record = journal.get(task.rel)
        if record is not None and record.digest != digest:
            record = None  # the plan changed: this shard is rewritten
        if record is not None and (record.status in (UPLOADED, EMPTY) or task.rel in remote):
            if record.status != EMPTY:
                report.resumed.append(task.rel)  # done, or committed just before a kill
        else:
            if record is None or not local.exists():
                rows, hashes, problems = _write_task(task, source, config, local, samples)
                size = local.stat().st_size if rows else 0
                info = ShardInfo(task.rel, task.category, task.split, rows, size, task.subset)
                status = "written" if rows else EMPTY  # every pair failed: no shard at all
                record = ShardRecord(task.rel, digest, status, asdict(info), hashes, problems)
                journal.put(record)
            if record.status == EMPTY:
                pass
            elif task.rel in remote and sink.same(task.rel, local):
                report.resumed.append(task.rel)  # the journal was lost but the bytes are there
            else:
                sink.put(task.rel, local)
                report.uploaded.append(task.rel)
        if record.status != EMPTY:
            record.status = UPLOADED
        journal.put(record)
        local.unlink(missing_ok=True)
        _collect(report, record)
        bar.update(len(task.pairs))
    bar.close()
    entries = (
        dict(zip(("id", "split", "lq_sha256", "lq_phash", "hq_sha256", "hq_phash"), h, strict=False))
        for task in tasks
        if task.subset == HubLayout.DATA_DIR and (r := journal.get(task.rel))
        for h in r.hashes
    )
    if kept is not None:
        replaced = {(t.category, t.split) for t in tasks if t.subset == HubLayout.DATA_DIR}
        entries = chain(entries, kept(replaced))
    report.leaks = find_leaks(entries, config.near_duplicate_distance)
    return report


def _collect(report: StreamReport, record: ShardRecord) -> None:
    report.problems += [Problem(item, reason) for item, reason in record.problems]
    if record.status == EMPTY:
        return
    info = ShardInfo(**record.info)
    report.shards.append(info)
    report.written[(info.subset, info.category, info.split)] += info.num_rows


def _git_blob_sha1(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class HubSink(Sink):
    """Commits each shard to a Hub dataset repo (one commit per shard, never twice)."""

    def __init__(
        self, repo_id: str, *, api: HfApi | None = None, private: bool = False, token: str | None = None
    ):
        self.repo_id, self.api, self.token = repo_id, api or HfApi(), token
        self.api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True, token=token)

    def remote_files(self) -> set[str]:
        return set(self.api.list_repo_files(self.repo_id, repo_type="dataset", token=self.token))

    def existing(self) -> set[str]:
        return {f for f in self.remote_files() if f.split("/")[0] in HubLayout.SUBSETS}

    def same(self, rel: str, path: Path) -> bool:
        infos = self.api.get_paths_info(self.repo_id, [rel], repo_type="dataset", token=self.token)
        if not infos:
            return False
        lfs = getattr(infos[0], "lfs", None)
        if lfs is not None:
            return lfs.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        return getattr(infos[0], "blob_id", None) == _git_blob_sha1(path)

    def put(self, rel: str, path: Path) -> None:
        self.api.create_commit(
            self.repo_id,
            operations=[CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(path))],
            commit_message=f"Add {rel} (ggt mirror)",
            repo_type="dataset",
            token=self.token,
        )

    def finish(self, meta: Path, files: list[str], keep: set[str]) -> None:
        """One commit: the card files, and deletion of shards not in the plan (an earlier plan's)."""
        stale = sorted(f for f in self.existing() if f not in keep)
        operations: list[Any] = [CommitOperationDelete(path_in_repo=f) for f in stale]
        changed = [f for f in files if not self.same(f, meta / f)]
        if not operations and not changed:
            return  # a rerun of a finished mirror: the repo already is what this run would write
        operations += [CommitOperationAdd(path_in_repo=f, path_or_fileobj=str(meta / f)) for f in files]
        self.api.create_commit(
            self.repo_id,
            operations=operations,
            commit_message="Dataset card, manifest and benchmark (ggt mirror)",
            repo_type="dataset",
            token=self.token,
        )


class FolderSink(Sink):
    """Moves each shard into a staging folder (``pack_release`` swaps it in at the end)."""

    def __init__(self, staging: Path) -> None:
        self.staging = staging

    def put(self, rel: str, path: Path) -> None:
        (self.staging / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), self.staging / rel)


def release_card(source_url: str, repo_id: str | None, license: str | None) -> CardInfo:
    """Card info of a mirrored release: attribution to the source, its licence, GGT tags."""
    from ggt_hf.constants import GGT100K_LICENSE, GGT100K_REPO_ID

    official = GGT100K_REPO_ID in source_url
    link = source_url
    if source_url.startswith("hf://datasets/"):
        name = "/".join(source_url.removeprefix("hf://datasets/").split("/")[:2])
        link = f"[{name}](https://huggingface.co/datasets/{name})"
    return CardInfo(
        pretty_name="GGT-100K" if official else "GGT dataset",
        license=license or (GGT100K_LICENSE if official else "other"),
        repo_id=repo_id,
        attribution=(
            f"Repackaged from {link}"
            + (" (the official GGT-100K release by VCLab, PolyU)" if official else "")
            + " with `ggt mirror` / `ggt pack`: the same pairs, split and categories, as parquet "
            "shards the dataset viewer and `load_dataset(..., streaming=True)` read directly. "
            "All credit for the data goes to its authors; please cite their paper (below)."
        ),
    )


def mirror_release(
    plan: LayoutPlan,
    source: ReleaseSource,
    repo_id: str,
    work: str | Path,
    config: StreamConfig | None = None,
    *,
    api: HfApi | None = None,
    private: bool = False,
    token: str | None = None,
    card: CardInfo | None = None,
    progress: bool | None = None,
) -> StreamReport:
    """Pack ``plan`` and upload it to the dataset repo ``repo_id`` shard by shard; card last.

    ``work`` must be new, empty or an earlier mirror's work folder (its journal), apart from the
    release; one mirror at a time uses it (see :mod:`ggt_hf.files.output_folders`).
    """
    plan.check()
    source_path = _local_path(source.url)
    if source_path is not None:
        check_no_overlap(source_path, work, what="work folder")
    work = claim_output_folder(
        work, "mirror-work", recognise=lambda f: (f / JOURNAL_DIR).is_dir(), command="ggt mirror"
    )
    with output_lock(work, "mirror work folder"):
        return _mirror_locked(plan, source, repo_id, work, config, api, private, token, card, progress)


def _mirror_locked(
    plan: LayoutPlan,
    source: ReleaseSource,
    repo_id: str,
    work: Path,
    config: StreamConfig | None,
    api: HfApi | None,
    private: bool,
    token: str | None,
    card: CardInfo | None,
    progress: bool | None,
) -> StreamReport:
    """:func:`mirror_release`'s work, run while it holds the work folder's lock."""
    config = config or StreamConfig()
    card = card or release_card(source.url, repo_id, config.license)
    config.license = config.license or card.license
    sink = HubSink(repo_id, api=api, private=private, token=token)
    report = stream_shards(plan, source, sink, work, config, progress=progress)
    meta = work / "card"
    shutil.rmtree(meta, ignore_errors=True)
    meta.mkdir(parents=True)
    grid = render_grid(Samples(work).tiles())
    files = write_card_files(
        meta, card, report.shards, grid, Counter({"release": sum(report.written.values())})
    )
    sink.finish(meta, files, {s.path for s in report.shards})
    for leak in report.leaks:
        logger.warning("train/test leak in the source: %s", leak)
    return report


def pack_release(
    plan: LayoutPlan,
    source: ReleaseSource,
    out: str | Path,
    config: StreamConfig | None = None,
    *,
    force: bool = False,
    card: CardInfo | None = None,
    progress: bool | None = None,
) -> StreamReport:
    """``ggt pack`` of a detected layout: stream into ``out``, replacing the groups it has pairs for.

    Raises:
        PairingError: the layout is ambiguous (nothing written).
        LeakageError: a test LQ duplicates a train LQ and ``force`` is false (nothing written).
        OutputFolderError: ``out`` overlaps the release or holds files ggt did not write.
        InUseError: another pack holds ``out``.
    """
    plan.check()
    source_path = _local_path(source.url)
    if source_path is not None:
        check_no_overlap(source_path, out)
    out = claim_dataset_folder(out)
    with output_lock(out, DATASET_LOCK):
        return _pack_release_locked(plan, source, out, config or StreamConfig(), force, card, progress)


def _kept_rows(out: Path) -> Callable[[set[tuple[str, str]]], Iterator[dict[str, str]]]:
    """Leak-check entries of the rows of ``out`` that a release pack keeps (read under its lock)."""

    def rows(replaced: set[tuple[str, str]]) -> Iterator[dict[str, str]]:
        for pair_id, split, sha, hashed, _, hq_sha, hq_hashed in existing_rows(
            out, replaced, HubLayout.DATA_DIR, leak_partner_splits(s for _, s in replaced)
        ):
            yield {
                "id": pair_id,
                "split": split,
                "lq_sha256": sha,
                "lq_phash": hashed,
                "hq_sha256": hq_sha,
                "hq_phash": hq_hashed,
            }

    return rows


def _local_path(url: str) -> str | None:
    """The local path of a release root given as a path or ``file://`` URL (``None`` when remote)."""
    if "://" not in url:
        return url
    return url.removeprefix("file://") if url.startswith("file://") else None


def _pack_release_locked(
    plan: LayoutPlan,
    source: ReleaseSource,
    out: Path,
    config: StreamConfig,
    force: bool,
    card: CardInfo | None,
    progress: bool | None,
) -> StreamReport:
    """:func:`pack_release`'s work, run while it holds the dataset folder's lock."""
    from ggt_hf.hub.card import finalize_folder, list_shards

    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.stream-", dir=out.parent))
    try:
        staging = work / "staged"
        report = stream_shards(
            plan, source, FolderSink(staging), work / "work", config, progress=progress, kept=_kept_rows(out)
        )
        if not sum(report.written.values()):
            raise nothing_to_pack(out, report.problems)
        if report.leaks and not force:
            raise LeakageError(
                out,
                f"{len(report.leaks)} test pair(s) leak from train (use --force to pack anyway): "
                + "; ".join(map(str, report.leaks[:5])),
            )
        groups = {(s.subset, s.category, s.split) for s in report.shards}
        for old in list_shards(out):
            if (old.subset, old.category, old.split) in groups:
                (out / old.path).unlink()
        for shard in report.shards:
            (out / shard.path).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(staging / shard.path), out / shard.path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if card is None and not (out / HubLayout.MANIFEST).exists():
        card = release_card(source.url, None, config.license)
    finalize_folder(out, card)  # None keeps the card info a previous pack stored
    return report
