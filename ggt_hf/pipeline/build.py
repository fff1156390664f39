"""``ggt build CONFIG``: real LQ photos → GGT pairs, crash-safe and resumable.

Stages: **ingest** (each source into ``run/ingest/<n>/``) → **prompt** → **generate + QC**
(:func:`ggt_hf.qc.loop.generate_with_qc`: metric filter, geometry/colour checks, judge, corrective
re-prompting) → **review** queue (optional human stage 3) → **pack** (accepted pairs into
``run/dataset/``).

State lives in one typed record per item (:class:`~ggt_hf.records.ItemRecord`,
``run/items/<id>.json``, written atomically after each stage) and candidate images under
``run/candidates/<id>/``; :mod:`ggt_hf.files.run_store` owns the folder's layout. Killing the process at any moment
and re-running continues from the records; a generation interrupted before its record was
written is replayed from the content-addressed response cache (``run/cache/``), so no completed
call is paid twice and every item ends up exactly once.

Scale-out runs the same per-item function: ``executor="local"`` (threads), ``executor="ray"``
(one Ray task per shard of items), or ``rank/world_size`` to split items for Slurm-style arrays
(``ggt build CONFIG --stage ingest`` once first, then one generate run per rank, then
``--stage pack``). Items are assigned by a hash of their id, so 1 worker and N workers produce the
same dataset.

A run holds an OS lock for its life (:mod:`ggt_hf.pipeline.run_lock`): a second build on the same
folder is refused instead of paying every call twice, while ranks of a split run proceed side by
side. Items that failed (every attempt errored) are retried with ``retry_failed=True``
(``--retry-failed``); a backend or model change against the run's recorded config is refused
with an explanation unless failed items are being retried.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ggt_hf.errors import GGTError
from ggt_hf.files.io_utils import atomic_write_bytes, atomic_write_json
from ggt_hf.files.run_store import RunLayout, RunStore, claim_run_folder, quarantine_file
from ggt_hf.imaging.images import encode_image, load_image
from ggt_hf.pipeline.config import BuildConfig
from ggt_hf.pipeline.pairs import item_pairs, nonempty
from ggt_hf.pipeline.report import BuildReport, report
from ggt_hf.pipeline.run_lock import FileLock, RunLock
from ggt_hf.qc.review import Decisions, read_decisions
from ggt_hf.records import TERMINAL_STATES, AttemptRecord, ItemRecord, PairRecord
from ggt_hf.runtime.parallel import progress_disabled
from ggt_hf.runtime.redact import redact, redact_text

logger = logging.getLogger(__name__)

TERMINAL = TERMINAL_STATES
STAGES = ("all", "ingest", "generate", "pack")

__all__ = ["STAGES", "BuildReport", "build", "ingest_sources", "item_ids", "pack_run", "report", "shard_of"]


class ConfigChangedError(GGTError):
    """The config's backend or model differs from the one the run folder was built with."""


def ingest_sources(config: BuildConfig, run: Path, progress: bool | None = None) -> list[ItemRecord]:
    """Ingest every source (resumable) and create a record for every new item."""
    from ggt_hf.ingest.normalize import NormalizePolicy
    from ggt_hf.ingest.photos import IngestConfig, ingest

    layout = RunLayout(run)
    for n, src in enumerate(config.sources):
        if _source_ingest_dir(layout, n, src) != layout.ingest_dir(n):
            continue  # a `ggt ingest` output folder: used as-is, not ingested again
        ingest_config = IngestConfig(
            policy=NormalizePolicy(size=config.image_size),
            min_side=config.min_side,
            category=src.category,
            source=src.source,
            license=src.license,
        )
        manifest = src.path if src.manifest else None
        root = Path(src.path).parent if src.manifest else src.path
        logger.info(
            "%s", ingest(root, layout.ingest_dir(n), ingest_config, manifest=manifest, progress=progress)
        )
    return register_items(config, RunStore(run, create=True))


def _source_ingest_dir(layout: RunLayout, n: int, src) -> Path:
    """Where source ``n``'s ingested photos are: its own folder when it is a ``ggt ingest`` output."""
    from ggt_hf.ingest.photos import is_ingest_output

    if not src.manifest and is_ingest_output(src.path):
        return Path(src.path)
    return layout.ingest_dir(n)


def register_items(config: BuildConfig, store: RunStore, only: set[str] | None = None) -> list[ItemRecord]:
    """Create the record of every ingested item that has none yet (``only``: of these ids)."""
    from ggt_hf.ingest.photos import read_ingested

    layout, items = store.layout, []
    for n, src in enumerate(config.sources):
        out = _source_ingest_dir(layout, n, src)
        for rec in read_ingested(out):
            if only is not None and rec["id"] not in only:
                continue
            item = ItemRecord(
                id=rec["id"],
                category=rec["category"],
                split=rec.get("split") or src.split,
                lq_path=Path(os.path.relpath(out / rec["image"], layout.root)).as_posix(),
                source=rec.get("source") or src.source,
                license=rec.get("license") or src.license,
                lq_transform=rec.get("transform"),
            )
            if not store.exists(item.id):
                store.write(item)
            items.append(item)
    return items


def item_ids(run: Path) -> list[str]:
    """Ids of every item record of the run, sorted."""
    return RunStore(run).item_ids()


def shard_of(item_id: str, world_size: int) -> int:
    """Stable assignment of an item to one of ``world_size`` workers."""
    return int(hashlib.sha1(item_id.encode()).hexdigest(), 16) % max(1, world_size)


class Context:
    """Everything one process needs to process items, built lazily from the config."""

    def __init__(self, config: BuildConfig, run: Path, retry_failed: bool = False) -> None:
        self.config, self.run, self.retry_failed = config, run, retry_failed
        self.store = RunStore(run)
        self._built = False
        self._lock = threading.Lock()

    def build(self) -> Context:
        with self._lock:
            if not self._built:
                self._create()
                self._built = True
        return self

    def _create(self) -> None:
        from ggt_hf.backends import create_vlm
        from ggt_hf.backends.wrappers import wrap
        from ggt_hf.prompts.strategies import PromptStrategy, make_strategy
        from ggt_hf.qc.loop import QCConfig
        from ggt_hf.qc.metric_filter import MetricFilter, MetricFilterConfig
        from ggt_hf.restore.factory import make_backend

        c = self.config
        backend = make_backend(c.backend.name, **c.backend.kwargs())
        if c.backend.faults:
            from ggt_hf.backends.wrappers import FaultInjectingBackend, FaultPlan

            backend = FaultInjectingBackend(backend, FaultPlan(**c.backend.faults))
        self.backend = wrap(
            backend,
            cache_dir=self.store.layout.cache_dir if c.backend.cache else None,
            attempts=c.backend.retries,
            rate=c.backend.rate,
            concurrency=c.backend.concurrency,
            base_delay=c.backend.base_delay,
            cost_per_call=c.backend.cost_per_call,
            quarantine_dir=self.store.layout.quarantine_dir / RunLayout.CACHE_DIR,
        )
        self.vlm = create_vlm(c.vlm.name, **c.vlm.options)
        if c.prompt.startswith("adaptive:") and c.prompt.partition(":")[2] == c.vlm.name:
            self.strategy = PromptStrategy("adaptive", vlm=self.vlm)  # share the configured client
        else:
            self.strategy = make_strategy(c.prompt)
        metric_filter = None
        if c.qc.metric_thresholds:
            metric_filter = MetricFilter(
                MetricFilterConfig(
                    c.qc.metric_thresholds,
                    c.qc.metric_require,
                    min_improvement=c.qc.metric_min_improvement,
                    margins=dict(c.qc.metric_margins),
                )
            )
            logger.info("%s", metric_filter.note)
        geometry = "default" if c.qc.geometry else None
        self.qc = QCConfig(metric_filter, geometry, c.qc.max_attempts, c.qc.metric_on_fail)
        self.judge = self.vlm if c.qc.judge == "vlm" else (create_vlm(c.qc.judge) if c.qc.judge else None)


def _attempt_record(attempt, item_id: str, layout: RunLayout) -> AttemptRecord:
    image = None
    if attempt.image is not None:
        image = RunLayout.candidate(item_id, attempt.attempt)
        atomic_write_bytes(layout.resolve(image), encode_image(attempt.image))
    return AttemptRecord(
        attempt=attempt.attempt,
        prompt=attempt.prompt,
        seed=attempt.seed,
        image=image,
        checks=list(attempt.checks),
        error=redact_text(attempt.error) if attempt.error else None,
        feedback=attempt.feedback,
        metadata=attempt.metadata,
        accepted=attempt.accepted,
    )


def _load_item(item_id: str, ctx: Context) -> ItemRecord:
    """The item's record; a corrupt one is quarantined and recreated from the ingest output."""
    record = ctx.store.read_or_quarantine(item_id)
    if record is None:
        found = register_items(ctx.config, ctx.store, only={item_id})
        if not found:
            raise GGTError(item_id, "item record was corrupt and the item is in no ingest output")
        record = ctx.store.read(item_id)
    if record.state == "failed" and ctx.retry_failed:
        record.attempts, record.final_attempt = [], None
        record.state = "prompted" if record.prompt is not None else "ingested"
    return record


def process_item(item_id: str, ctx: Context) -> str:
    """Prompt, generate and QC one item, persisting each step; returns its final state."""
    from ggt_hf.qc.loop import generate_with_qc

    record = _load_item(item_id, ctx)
    if record.terminal:
        return record.state
    ctx.build()
    lq = load_image(ctx.store.layout.resolve(record.lq_path)).image
    if record.prompt is None:
        result = ctx.strategy.prompt(lq, category=record.category, item_id=item_id)
        record.prompt, record.analysis, record.state = result.prompt, result.analysis, "prompted"
        ctx.store.write(record)
    seed = int(hashlib.sha256(f"{ctx.config.seed}:{item_id}".encode()).hexdigest()[:8], 16)
    attempts = generate_with_qc(
        item_id, lq, record.prompt, ctx.backend, ctx.judge, ctx.qc, seed=seed, category=record.category
    )
    record.attempts = [_attempt_record(a, item_id, ctx.store.layout) for a in attempts]
    record.final_attempt = next((a.attempt for a in attempts if a.accepted), None)
    generated = any(a.image is not None for a in attempts)
    record.state = "accepted" if record.final_attempt else ("rejected" if generated else "failed")
    ctx.store.write(record)
    return record.state


def _process_shard(
    config_dict: dict[str, Any], run: str, ids: list[str], shard: str = "", retry_failed: bool = False
) -> Counter:
    """One Ray task (or any worker): process a shard of items with its own context, holding the
    shard's lock (the driver holds the run lock)."""
    ctx = Context(BuildConfig.from_dict(config_dict), Path(run), retry_failed)
    with FileLock(ctx.store.layout.lock_file(shard), what=shard, item=run):
        return Counter(process_item(i, ctx) for i in ids)


def run_items(
    config: BuildConfig,
    run: Path,
    ids: list[str],
    executor: str = "local",
    progress: bool | None = None,
    retry_failed: bool = False,
) -> Counter:
    """Process ``ids`` with the chosen executor; returns final states counted."""
    if executor == "ray":
        import ray

        if not ray.is_initialized():
            ray.init(num_cpus=config.workers, include_dashboard=False, log_to_driver=False)
        task = ray.remote(_process_shard)
        n = max(1, min(len(ids), config.workers * 2))
        shards = [ids[i::n] for i in range(n)]
        futures = [
            task.remote(config.to_dict(), str(run), s, f"ray-shard-{k}-of-{n}", retry_failed)
            for k, s in enumerate(shards)
            if s
        ]
        totals: Counter = Counter()
        for counts in ray.get(futures):
            totals.update(counts)
        return totals
    if executor != "local":
        raise ValueError(f"unknown executor {executor!r}; use 'local' or 'ray'")
    ctx = Context(config, run, retry_failed)
    states: Counter = Counter()
    with ThreadPoolExecutor(max_workers=max(1, config.workers)) as pool:
        bar = tqdm(total=len(ids), desc="generate+qc", unit="item", disable=progress_disabled(progress))
        for state in pool.map(lambda i: process_item(i, ctx), ids):
            states[state] += 1
            bar.update(1)
        bar.close()
    return states


def _redo_corrupt_candidates(store: RunStore, problems, owners: dict[str, str]) -> tuple[set[str], list[str]]:
    """Quarantine unreadable candidate images named by pack problems and reset their items, so the
    next generate pass redoes them (from the response cache when it holds the call)."""
    redo, messages = set(), []
    for problem in problems:
        item_id = owners.get(problem.item)
        if item_id is None:
            messages.append(f"{problem.item}: {problem.reason}")
            continue
        quarantine_file(store.layout, Path(problem.item), f"unreadable candidate ({problem.reason})")
        record = store.read(item_id)
        record.attempts, record.final_attempt = [], None
        record.state = "prompted" if record.prompt is not None else "ingested"
        store.write(record)
        redo.add(item_id)
        messages.append(
            f"{item_id}: candidate {problem.item} unreadable ({problem.reason}); quarantined, "
            "re-run the build to redo the item"
        )
    return redo, messages


def pack_run(
    config: BuildConfig,
    run: Path,
    progress: bool | None = None,
    problems: list[str] | None = None,
    decisions: Decisions | None = None,
):
    """Pack accepted items (human-approved when review is on) into ``run/dataset``, and every
    rejected candidate into its ``negatives`` config (id ``<item>-a<attempt>``).

    Every pair that could not be packed is appended to ``problems`` with its reason. A candidate
    image found unreadable is quarantined and its item reset, so the next generate pass redoes it;
    those item ids are the returned report's ``redo`` attribute. ``decisions`` are the run's review
    decisions as the caller already read them (:func:`build` reads ``review.jsonl`` once per
    command); ``None`` reads them here."""
    from ggt_hf.hub.card import CardInfo
    from ggt_hf.hub.pack import PackConfig, pack
    from ggt_hf.pipeline.unfiltered import pack_unfiltered
    from ggt_hf.qc.review_gate import ReviewGate

    store = RunStore(run)
    if decisions is None:
        decisions = read_decisions(store.layout)
    gate = ReviewGate(config.qc.human_review, decisions)  # one read for the three packs

    def pairs(positive: bool) -> Iterator[PairRecord]:
        """The run's positive (or negative) pairs, reading one item record at a time."""
        for rec in store.iter_records(ordered=False):  # pack orders the pairs itself
            pos, rejected = item_pairs(config, store.layout, rec, gate)
            yield from ([pos] if pos else []) if positive else rejected

    pack_config = PackConfig(
        card=CardInfo(pretty_name=config.pretty_name or config.name, license=config.license),
        check_cache=store.layout.pack_checks,  # the three packs below share LQ photos and candidates
    )
    pack_unfiltered(config, run, gate, pack_config, progress)  # the QC ablation's w/o-QC config
    positives = nonempty(pairs(True))
    if positives is None:
        return None
    result = pack(positives, store.layout.dataset_dir, pack_config, progress=progress)
    found = list(result.problems)
    if (negatives := nonempty(pairs(False))) is not None:
        subset = "negatives"
        found += pack(
            negatives, store.layout.dataset_dir, pack_config, progress=progress, subset=subset
        ).problems
    owners = {}
    if found:  # which item a problem's candidate belongs to (one more pass, only on problems)
        named = {str(p.item) for p in found}
        owners = {
            p.hq_path: p.provenance.extra["item_id"]
            for p in chain(pairs(True), pairs(False))
            if p.hq_path in named
        }
    result.redo, messages = _redo_corrupt_candidates(store, found, owners)
    if problems is not None:
        problems.extend(messages)
    return result


def _recorded_config(config: BuildConfig, layout: RunLayout) -> dict:
    """The config as ``build_config.json`` records it: secrets redacted, and its paths relative to
    the run folder (``output`` is ``.``), like every path the tools write, so the file is itself a
    config: ``ggt build RUN/build_config.json --stage pack`` works from any folder."""
    data = redact(config.to_dict())
    data["output"] = "."
    for source in data.get("sources") or []:
        path = source.get("path")
        if isinstance(path, str) and "://" not in path:
            try:
                source["path"] = os.path.relpath(os.path.abspath(path), layout.root.resolve())
            except ValueError:  # another drive (Windows): keep it absolute
                source["path"] = os.path.abspath(path)
    return data


def _check_config_change(layout: RunLayout, config: BuildConfig, retry_failed: bool) -> None:
    """Refuse, with the reason and the way out, a backend/model change against the recorded config."""
    try:
        old = json.loads(layout.config_file.read_text()).get("backend", {})
    except (OSError, ValueError):
        return
    before, after = (old.get("name"), old.get("model_id")), (config.backend.name, config.backend.model_id)
    if before == after:
        return
    finished = Counter(r.state for r in RunStore(layout.root).records() if r.terminal)
    if not finished:
        return

    def name(backend: tuple) -> str:
        return backend[0] + (f" (model {backend[1]})" if backend[1] else "")

    counts = ", ".join(f"{v} {k}" for k, v in sorted(finished.items()))
    message = (
        f"backend changed from {name(before)} to {name(after)} since this folder was built: its "
        f"{sum(finished.values())} finished item(s) ({counts}) keep their {name(before)} results"
    )
    if not retry_failed:
        raise ConfigChangedError(
            layout.root,
            f"{message}. Re-run with --retry-failed to retry the {finished.get('failed', 0)} failed "
            f"item(s) with {name(after)}, or use a new output folder to rebuild everything with it",
        )
    logger.warning(
        "%s; retrying the %d failed item(s) with %s", message, finished.get("failed", 0), name(after)
    )


def build(
    config: BuildConfig,
    *,
    stage: str = "all",
    executor: str = "local",
    rank: int = 0,
    world_size: int = 1,
    progress: bool | None = None,
    retry_failed: bool = False,
) -> BuildReport:
    """Run the build's stages (see module docstring) and return its report.

    Raises:
        NetworkUnavailableError: a hosted API the backend, prompt writer or judge calls cannot be
            reached (``all`` and ``generate`` stages; checked before anything is written).
        RunInUseError: another process is building this run folder (or this rank of it).
        IncompatibleRunError: the folder was written by an incompatible ggt-hf version.
        ConfigChangedError: the backend or model changed since the folder was built.
        OutputFolderError: ``config.output`` holds files that are not a ggt run's (nothing changed).
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; one of {', '.join(STAGES)}")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} must be in [0, {world_size})")
    if stage in ("all", "generate"):  # a hosted API that cannot be reached: say so before any work
        from ggt_hf.pipeline.config import api_endpoints
        from ggt_hf.runtime.network import require_apis

        require_apis(api_endpoints(config))
    claim_run_folder(config.output)  # before anything is written, moved or quarantined in it
    layout = RunStore(config.output, create=True).layout
    rank_name = f"rank-{rank}-of-{world_size}"
    rank_lock = layout.lock_file(rank_name) if stage == "generate" and world_size > 1 else None
    problems: list[str] = []
    with RunLock(layout.lock_file(), rank_lock, rank_name):
        _check_config_change(layout, config, retry_failed)
        atomic_write_json(layout.config_file, _recorded_config(config, layout))
        if stage in ("all", "ingest") and world_size == 1:
            ingest_sources(config, layout.root, progress)
        if stage in ("all", "generate"):
            ids = [i for i in item_ids(layout.root) if shard_of(i, world_size) == rank]
            run_items(config, layout.root, ids, executor, progress, retry_failed)
        packed = None
        decisions = read_decisions(layout)  # review.jsonl read once: its bad lines warned about once
        if stage == "pack" or (stage == "all" and world_size == 1):
            packed = pack_run(config, layout.root, progress, problems, decisions)
            if packed is not None and packed.redo and stage == "all":  # corrupt candidates: redo, repack
                run_items(config, layout.root, sorted(packed.redo), executor, progress)
                problems.clear()
                packed = pack_run(config, layout.root, progress, problems, decisions)
        result = report(layout.root, decisions)
    result.packed = sum(packed.written.values()) if packed else 0
    result.problems = problems
    return result
