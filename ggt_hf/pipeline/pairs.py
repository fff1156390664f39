"""The pair records a build run packs, made from its item records: one maker of a
:class:`~ggt_hf.records.PairRecord` from a candidate, and the ``default`` / ``negatives`` selection
of an item by the :class:`~ggt_hf.qc.review_gate.ReviewGate`. Used by the build's pack stage
(:mod:`ggt_hf.pipeline.build`) and the ``unfiltered`` config (:mod:`ggt_hf.pipeline.unfiltered`).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain

from ggt_hf.files.run_store import RunLayout
from ggt_hf.pipeline.config import BuildConfig
from ggt_hf.qc.review_gate import ACCEPTED, REJECTED, ReviewGate
from ggt_hf.records import AttemptRecord, ItemRecord, PairRecord, Provenance, QCCheck, QCResult


def pair_record(
    config: BuildConfig,
    layout: RunLayout,
    rec: ItemRecord,
    attempt: AttemptRecord,
    pair_id: str,
    verdict: str,
    checks: list[QCCheck],
) -> PairRecord:
    """The pair of ``rec``'s LQ photo and ``attempt``'s candidate, with its provenance and QC."""
    return PairRecord(
        id=pair_id,
        category=rec.category,
        split=rec.split,
        lq_path=str(layout.resolve(rec.lq_path)),
        hq_path=str(layout.resolve(attempt.image)),
        source=rec.source,
        license=rec.license,
        prompt=attempt.prompt,
        provenance=Provenance(
            backend=config.backend.name,
            model_id=attempt.metadata.get("model_id") or config.backend.model_id,
            prompt_strategy=config.prompt,
            seed=attempt.seed,
            attempt=attempt.attempt,
            lq_transform=rec.lq_transform,
            extra={"analysis": rec.analysis, "item_id": rec.id, "qc_stage1": attempt.metadata.get("stage1")},
        ),
        qc=QCResult(verdict, len(rec.attempts), checks),
    )


def item_pairs(
    config: BuildConfig, layout: RunLayout, rec: ItemRecord, gate: ReviewGate
) -> tuple[PairRecord | None, list[PairRecord]]:
    """The item's ``default`` pair (``None`` when the gate accepts none of its candidates) and its
    ``negatives`` (id ``<item>-a<attempt>``); a candidate pending review is in neither."""
    positive, negatives = None, []
    for attempt in rec.attempts:
        if not attempt.image:
            continue
        verdict, checks = gate.verdict(rec, attempt)
        if verdict == ACCEPTED:
            positive = pair_record(config, layout, rec, attempt, rec.id, verdict, checks)
        elif verdict == REJECTED:
            pair_id = f"{rec.id}-a{attempt.attempt}"
            negatives.append(pair_record(config, layout, rec, attempt, pair_id, verdict, checks))
    return positive, negatives


def nonempty(items: Iterator) -> Iterator | None:
    """``items`` unchanged, or ``None`` when it yields nothing (reads one element ahead)."""
    first = next(items, _NOTHING)
    return None if first is _NOTHING else chain([first], items)


_NOTHING = object()
