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
from typing import Any

from ggt_hf.constants import HubLayout
from ggt_hf.pipeline.config import BuildConfig
from ggt_hf.records import AttemptRecord, ItemRecord


def first_candidate(record: ItemRecord) -> AttemptRecord | None:
    """The first attempt of an item record that produced an image (``None`` when none did)."""
    return next((a for a in record.attempts if a.image), None)


def unfiltered_pairs(config: BuildConfig, run: Path, decisions: dict[str, dict[str, Any]]) -> Iterator:
    """One :class:`~ggt_hf.records.PairRecord` per item with a candidate (see the module docstring),
    read one item record at a time."""
    from ggt_hf.files.run_store import RunStore
    from ggt_hf.pipeline.build import _pair
    from ggt_hf.records import QCCheck

    store = RunStore(run)
    for record in store.iter_records(ordered=False):  # pack orders the pairs itself
        attempt = first_candidate(record)
        if attempt is None:
            continue
        checks = list(attempt.checks)
        human = decisions.get(record.id)
        final = record.state == "accepted" and attempt.attempt == record.final_attempt
        if final and human:
            checks.append(
                QCCheck("human", "review", human["decision"] == "accept", None, human.get("reason"))
            )
        if not final:
            verdict = "rejected"
        elif config.qc.human_review and human is None:
            verdict = "pending"  # awaiting human review
        else:
            verdict = "accepted" if human is None or human["decision"] == "accept" else "rejected"
        yield _pair(config, store.layout, record, attempt, record.id, verdict, checks)


def pack_unfiltered(config: BuildConfig, run: Path, pack_config, progress: bool | None = None):
    """Pack :func:`unfiltered_pairs` into ``run/dataset``'s ``unfiltered`` config (``None`` if empty)."""
    from ggt_hf.files.run_store import RunStore
    from ggt_hf.hub.pack import pack
    from ggt_hf.pipeline.build import _nonempty
    from ggt_hf.qc.review import read_decisions

    store = RunStore(run)
    pairs = _nonempty(unfiltered_pairs(config, run, read_decisions(store.layout)))
    if pairs is None:
        return None
    return pack(
        pairs, store.layout.dataset_dir, pack_config, progress=progress, subset=HubLayout.UNFILTERED_DIR
    )
