"""``ggt build CONFIG``: real LQ photos → GGT pairs, crash-safe and resumable.

Stages: **ingest** (each source into ``run/ingest/<n>/``) → **prompt** → **generate + QC**
(:func:`ggt_hf.qc.loop.generate_with_qc`: metric filter, geometry/colour checks, judge, corrective
re-prompting) → **review** queue (optional human stage 3) → **pack** (accepted pairs into
``run/dataset/``).

State lives in one JSON record per item (``run/items/<id>.json``, written atomically after each
stage) and candidate images under ``run/candidates/<id>/``. Killing the process at any moment
and re-running continues from the records; a generation interrupted before its record was
written is replayed from the content-addressed response cache (``run/cache/``), so no completed
call is paid twice and every item ends up exactly once.

Scale-out runs the same per-item function: ``executor="local"`` (threads), ``executor="ray"``
(one Ray task per shard of items), or ``rank/world_size`` to split items for Slurm-style arrays
(``ggt build CONFIG --stage ingest`` once first, then one generate run per rank, then
``--stage pack``). Items are assigned by a hash of their id, so 1 worker and N workers produce the
same dataset.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ggt_hf.images import encode_image, load_image
from ggt_hf.io_utils import atomic_write_bytes, atomic_write_json
from ggt_hf.parallel import progress_disabled
from ggt_hf.pipeline.config import BuildConfig
from ggt_hf.qc.metric_filter import stage1_note
from ggt_hf.qc.review import ITEMS_DIR

logger = logging.getLogger(__name__)

TERMINAL = ("accepted", "rejected", "failed")
STAGES = ("all", "ingest", "generate", "pack")


def ingest_sources(config: BuildConfig, run: Path, progress: bool | None = None) -> list[dict[str, Any]]:
    """Ingest every source (resumable) and create a record for every new item."""
    from ggt_hf.ingest import IngestConfig, ingest, is_ingest_output, read_ingested
    from ggt_hf.normalize import NormalizePolicy

    items = []
    for n, src in enumerate(config.sources):
        out = run / "ingest" / str(n)
        if not src.manifest and is_ingest_output(src.path):
            out = Path(src.path)  # a `ggt ingest` output folder: used as-is, not ingested again
        else:
            ingest_config = IngestConfig(
                policy=NormalizePolicy(size=config.image_size),
                min_side=config.min_side,
                category=src.category,
                source=src.source,
                license=src.license,
            )
            manifest = src.path if src.manifest else None
            root = Path(src.path).parent if src.manifest else src.path
            logger.info("%s", ingest(root, out, ingest_config, manifest=manifest, progress=progress))
        for rec in read_ingested(out):
            item = {
                "id": rec["id"],
                "category": rec["category"],
                "split": rec.get("split") or src.split,
                "lq_path": os.path.relpath(out / rec["image"], run),
                "source": rec.get("source") or src.source,
                "license": rec.get("license") or src.license,
                "lq_transform": rec.get("transform"),
                "state": "ingested",
            }
            path = run / ITEMS_DIR / f"{item['id']}.json"
            if not path.exists():
                atomic_write_json(path, item)
            items.append(item)
    return items


def item_ids(run: Path) -> list[str]:
    """Ids of every item record of the run, sorted."""
    return sorted(p.stem for p in (run / ITEMS_DIR).glob("*.json"))


def shard_of(item_id: str, world_size: int) -> int:
    """Stable assignment of an item to one of ``world_size`` workers."""
    return int(hashlib.sha1(item_id.encode()).hexdigest(), 16) % max(1, world_size)


class Context:
    """Everything one process needs to process items, built lazily from the config."""

    def __init__(self, config: BuildConfig, run: Path) -> None:
        self.config, self.run = config, run
        self._built = False
        self._lock = threading.Lock()

    def build(self) -> Context:
        with self._lock:
            if not self._built:
                self._create()
                self._built = True
        return self

    def _create(self) -> None:
        from ggt_hf.backends import create_backend, create_vlm
        from ggt_hf.backends.wrappers import wrap
        from ggt_hf.prompting import PromptStrategy, make_strategy
        from ggt_hf.qc.loop import QCConfig
        from ggt_hf.qc.metric_filter import MetricFilter, MetricFilterConfig

        c = self.config
        kwargs = dict(c.backend.options)
        if c.backend.model_id:
            kwargs["model_id"] = c.backend.model_id
        backend = create_backend(c.backend.name, **kwargs)
        if c.backend.faults:
            from ggt_hf.backends.wrappers import FaultInjectingBackend, FaultPlan

            backend = FaultInjectingBackend(backend, FaultPlan(**c.backend.faults))
        self.backend = wrap(
            backend,
            cache_dir=self.run / "cache" if c.backend.cache else None,
            attempts=c.backend.retries,
            rate=c.backend.rate,
            concurrency=c.backend.concurrency,
            base_delay=c.backend.base_delay,
            cost_per_call=c.backend.cost_per_call,
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
                    c.qc.metric_thresholds, c.qc.metric_require, min_improvement=c.qc.metric_min_improvement
                )
            )
            logger.info("%s", metric_filter.note)
        self.qc = QCConfig(metric_filter, "default" if c.qc.geometry else None, c.qc.max_attempts)
        self.judge = self.vlm if c.qc.judge == "vlm" else (create_vlm(c.qc.judge) if c.qc.judge else None)


def _attempt_record(attempt, item_id: str, run: Path) -> dict[str, Any]:
    image = None
    if attempt.image is not None:
        rel = Path("candidates") / item_id / f"attempt{attempt.attempt}.png"
        atomic_write_bytes(run / rel, encode_image(attempt.image))
        image = str(rel)
    return {
        "attempt": attempt.attempt,
        "prompt": attempt.prompt,
        "seed": attempt.seed,
        "image": image,
        "checks": [vars(c) for c in attempt.checks],
        "error": attempt.error,
        "feedback": attempt.feedback,
        "metadata": attempt.metadata,
        "accepted": attempt.accepted,
    }


def process_item(item_id: str, ctx: Context) -> str:
    """Prompt, generate and QC one item, persisting each step; returns its final state."""
    from ggt_hf.qc.loop import generate_with_qc

    path = ctx.run / ITEMS_DIR / f"{item_id}.json"
    record = json.loads(path.read_text())
    if record["state"] in TERMINAL:
        return record["state"]
    ctx.build()
    lq = load_image(ctx.run / record["lq_path"]).image
    if "prompt" not in record:
        result = ctx.strategy.prompt(lq, category=record["category"], item_id=item_id)
        record.update(prompt=result.prompt, analysis=result.analysis, state="prompted")
        atomic_write_json(path, record)
    seed = int(hashlib.sha256(f"{ctx.config.seed}:{item_id}".encode()).hexdigest()[:8], 16)
    attempts = generate_with_qc(
        item_id, lq, record["prompt"], ctx.backend, ctx.judge, ctx.qc, seed=seed, category=record["category"]
    )
    record["attempts"] = [_attempt_record(a, item_id, ctx.run) for a in attempts]
    final = next((a.attempt for a in attempts if a.accepted), None)
    generated = any(a.image is not None for a in attempts)
    record.update(final_attempt=final, state="accepted" if final else ("rejected" if generated else "failed"))
    atomic_write_json(path, record)
    return record["state"]


def _process_shard(config_dict: dict[str, Any], run: str, ids: list[str]) -> Counter:
    """One Ray task (or any worker): process a shard of items with its own context."""
    ctx = Context(BuildConfig.from_dict(config_dict), Path(run))
    return Counter(process_item(i, ctx) for i in ids)


def run_items(
    config: BuildConfig, run: Path, ids: list[str], executor: str = "local", progress: bool | None = None
) -> Counter:
    """Process ``ids`` with the chosen executor; returns final states counted."""
    if executor == "ray":
        import ray

        if not ray.is_initialized():
            ray.init(num_cpus=config.workers, include_dashboard=False, log_to_driver=False)
        task = ray.remote(_process_shard)
        n = max(1, min(len(ids), config.workers * 2))
        shards = [ids[i::n] for i in range(n)]
        totals: Counter = Counter()
        for counts in ray.get([task.remote(config.to_dict(), str(run), s) for s in shards if s]):
            totals.update(counts)
        return totals
    if executor != "local":
        raise ValueError(f"unknown executor {executor!r}; use 'local' or 'ray'")
    ctx = Context(config, run)
    states: Counter = Counter()
    with ThreadPoolExecutor(max_workers=max(1, config.workers)) as pool:
        bar = tqdm(total=len(ids), desc="generate+qc", unit="item", disable=progress_disabled(progress))
        for state in pool.map(lambda i: process_item(i, ctx), ids):
            states[state] += 1
            bar.update(1)
        bar.close()
    return states


@dataclass
class BuildReport:
    """End-of-run figures (see :func:`report`)."""

    states: dict[str, Counter] = field(default_factory=dict)
    reasons: Counter = field(default_factory=Counter)
    attempts: Counter = field(default_factory=Counter)
    calls: int = 0
    cost_usd: float = 0.0
    review: Counter = field(default_factory=Counter)
    packed: int = 0
    stage1: set[str] = field(default_factory=set)  # the stage-1 metrics the checks used

    def markdown(self) -> str:
        rows = [
            "| category | " + " | ".join(("ingested", "prompted", *TERMINAL)) + " |",
            "|---|" + "---:|" * 5,
        ]
        for category, counts in sorted(self.states.items()):
            rows.append(
                f"| {category} | "
                + " | ".join(str(counts.get(s, 0)) for s in ("ingested", "prompted", *TERMINAL))
                + " |"
            )
        lines = ["## Build report", "", *rows, ""]
        lines.append(
            "Attempts to acceptance: "
            + (", ".join(f"{k}: {v}" for k, v in sorted(self.attempts.items())) or "none")
        )
        lines.append(
            "Rejection reasons: "
            + (", ".join(f"{k} ×{v}" for k, v in self.reasons.most_common(10)) or "none")
        )
        if self.stage1:
            lines.append(stage1_note(sorted(self.stage1)))
        lines.append(f"Backend calls paid: {self.calls}, cost: ${self.cost_usd:.2f}")
        if self.review:
            lines.append("Human review: " + ", ".join(f"{k}: {v}" for k, v in sorted(self.review.items())))
        lines.append(f"Pairs packed: {self.packed}")
        return "\n".join(lines)


def report(run: Path) -> BuildReport:
    """Counts per state and category, rejection reasons, attempts histogram, calls and cost."""
    from ggt_hf.qc.review import ReviewQueue

    out = BuildReport()
    for item_id in item_ids(run):
        record = json.loads((run / ITEMS_DIR / f"{item_id}.json").read_text())
        out.states.setdefault(record["category"], Counter())[record["state"]] += 1
        for attempt in record.get("attempts", []):
            usage = attempt.get("metadata", {}).get("usage", {})
            out.calls += int(usage.get("calls", 0) or 0)
            out.cost_usd += float(usage.get("cost_usd", 0.0) or 0.0)
            out.stage1.update(c["name"] for c in attempt["checks"] if c["stage"] == "metric")
            if not attempt["accepted"]:
                for check in attempt["checks"]:
                    if not check["passed"]:
                        out.reasons[f"{check['stage']}/{check['name']}"] += 1
                if attempt["error"]:
                    out.reasons[attempt["error"].split(":")[0]] += 1
        if record.get("final_attempt"):
            out.attempts[record["final_attempt"]] += 1
    out.review = (
        Counter(d["decision"] for d in ReviewQueue(run).decisions().values())
        if (run / ITEMS_DIR).is_dir()
        else Counter()
    )
    return out


def _pair(
    config: BuildConfig,
    run: Path,
    rec: dict[str, Any],
    attempt: dict[str, Any],
    pair_id: str,
    verdict: str,
    checks,
):
    from ggt_hf.records import PairRecord, Provenance, QCResult

    return PairRecord(
        id=pair_id,
        category=rec["category"],
        split=rec["split"],
        lq_path=str(run / rec["lq_path"]),
        hq_path=str(run / attempt["image"]),
        source=rec.get("source"),
        license=rec.get("license"),
        prompt=attempt["prompt"],
        provenance=Provenance(
            backend=config.backend.name,
            model_id=attempt["metadata"].get("model_id") or config.backend.model_id,
            prompt_strategy=config.prompt,
            seed=attempt["seed"],
            attempt=attempt["attempt"],
            lq_transform=rec.get("lq_transform"),
            extra={"analysis": rec.get("analysis"), "item_id": rec["id"]},
        ),
        qc=QCResult(verdict, len(rec["attempts"]), checks),
    )


def pack_run(config: BuildConfig, run: Path, progress: bool | None = None):
    """Pack accepted items (human-approved when review is on) into ``run/dataset``, and every
    rejected candidate into its ``negatives`` config (id ``<item>-a<attempt>``)."""
    from ggt_hf.hub.card import CardInfo
    from ggt_hf.hub.pack import PackConfig, pack
    from ggt_hf.pipeline.unfiltered import pack_unfiltered
    from ggt_hf.qc.review import ReviewQueue
    from ggt_hf.records import QCCheck

    decisions = ReviewQueue(run).decisions()
    positives, negatives = [], []
    for item_id in item_ids(run):
        rec = json.loads((run / ITEMS_DIR / f"{item_id}.json").read_text())
        human = decisions.get(item_id)
        human_ok = not config.qc.human_review or (human is not None and human["decision"] == "accept")
        for attempt in rec.get("attempts", []):
            if not attempt["image"]:
                continue
            checks = [QCCheck(**c) for c in attempt["checks"]]
            final = rec["state"] == "accepted" and attempt["attempt"] == rec["final_attempt"]
            if final and human:
                checks.append(
                    QCCheck("human", "review", human["decision"] == "accept", None, human.get("reason"))
                )
            if final and human_ok:
                positives.append(_pair(config, run, rec, attempt, item_id, "accepted", checks))
            elif not final or (human and human["decision"] == "reject"):
                negatives.append(
                    _pair(config, run, rec, attempt, f"{item_id}-a{attempt['attempt']}", "rejected", checks)
                )
    card = CardInfo(pretty_name=config.pretty_name or config.name, license=config.license)
    pack_unfiltered(config, run, PackConfig(card=card), progress)  # the QC ablation's w/o-QC config
    if not positives:
        return None
    report = pack(positives, run / "dataset", PackConfig(card=card), progress=progress)
    if negatives:
        pack(negatives, run / "dataset", PackConfig(card=card), progress=progress, subset="negatives")
    return report


def build(
    config: BuildConfig,
    *,
    stage: str = "all",
    executor: str = "local",
    rank: int = 0,
    world_size: int = 1,
    progress: bool | None = None,
) -> BuildReport:
    """Run the build's stages (see module docstring) and return its report."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; one of {', '.join(STAGES)}")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} must be in [0, {world_size})")
    run = Path(config.output)
    run.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run / "build_config.json", config.to_dict())
    if stage in ("all", "ingest") and world_size == 1:
        ingest_sources(config, run, progress)
    if stage in ("all", "generate"):
        ids = [i for i in item_ids(run) if shard_of(i, world_size) == rank]
        run_items(config, run, ids, executor, progress)
    packed = None
    if stage == "pack" or (stage == "all" and world_size == 1):
        packed = pack_run(config, run, progress)
    result = report(run)
    result.packed = sum(packed.written.values()) if packed else 0
    return result
