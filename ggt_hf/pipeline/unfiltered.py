"""The ``unfiltered`` config: the QC ablation's "w/o-QC" data from the same build as ``default``.

For every item that produced a candidate, its **first** candidate (the first attempt with an image,
before any corrective re-prompt) becomes one pair, whatever QC said of it. QC is kept as data, not
applied: the ``qc`` column holds that candidate's checks (metric filter, geometry/colour, judge,
human review when it was the reviewed one) and ``qc.verdict`` is ``accepted`` when exactly this
candidate is in ``default``, ``pending`` while it awaits human review, ``rejected`` otherwise. So one build gives both training sets of the
paper's Table 4: ``load_dataset(folder, "unfiltered")`` (w/o-QC) and ``load_dataset(folder)`` (w/-QC).
Every split is included (train on the ``train`` split; evaluate on ``default``'s ``test``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ggt_hf.constants import HubLayout
from ggt_hf.files.run_store import RunStore
from ggt_hf.pipeline.config import BuildConfig
from ggt_hf.pipeline.pairs import nonempty, pair_record
from ggt_hf.qc.review_gate import ReviewGate
from ggt_hf.records import AttemptRecord, ItemRecord, PairRecord


def first_candidate(record: ItemRecord) -> AttemptRecord | None:
    """The first attempt of an item record that produced an image (``None`` when none did)."""
    return next((a for a in record.attempts if a.image), None)


def unfiltered_pairs(config: BuildConfig, run: Path, gate: ReviewGate) -> Iterator[PairRecord]:
    """One :class:`~ggt_hf.records.PairRecord` per item with a candidate (see the module docstring),
    read one item record at a time; its verdict is the review gate's, as for ``default``."""
    store = RunStore(run)
    for record in store.iter_records(ordered=False):  # pack orders the pairs itself
        attempt = first_candidate(record)
        if attempt is None:
            continue
        verdict, checks = gate.verdict(record, attempt)
        yield pair_record(config, store.layout, record, attempt, record.id, verdict, checks)


def pack_unfiltered(
    config: BuildConfig, run: Path, gate: ReviewGate, pack_config, progress: bool | None = None
):
    """Pack :func:`unfiltered_pairs` into ``run/dataset``'s ``unfiltered`` config (``None`` if empty)."""
    from ggt_hf.files.run_store import RunStore
    from ggt_hf.hub.pack import pack

    pairs = nonempty(unfiltered_pairs(config, run, gate))
    if pairs is None:
        return None
    layout = RunStore(run).layout
    return pack(pairs, layout.dataset_dir, pack_config, progress=progress, subset=HubLayout.UNFILTERED_DIR)
