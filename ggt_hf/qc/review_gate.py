"""The human-review gate (QC stage 3): the one place that decides which candidate of an item is in
a build's ``default`` config, and the QC checks its pair carries.

A candidate is **accepted** when it is the one the automatic QC accepted (the item's final
attempt) and, with ``qc.human_review: true``, a person accepted it too; it is **pending** while
review is on and nobody has decided yet (it is in no config but ``unfiltered``, where it says
``pending``); every other candidate is **rejected** (``negatives``). With review off, a decision
recorded anyway is kept as a ``human`` check but does not gate. The default, ``negatives`` and
``unfiltered`` packs all ask this gate, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ggt_hf.records import AttemptRecord, ItemRecord, QCCheck

ACCEPTED, PENDING, REJECTED = "accepted", "pending", "rejected"


class ReviewGate:
    """Verdicts of a run's candidates given its human decisions (see the module docstring).

    Args:
        required: whether human review is on (``qc.human_review``).
        decisions: the latest decision row per item id (:func:`ggt_hf.qc.review.read_decisions`).
    """

    def __init__(self, required: bool, decisions: Mapping[str, dict[str, Any]]) -> None:
        self.required = required
        self.decisions = decisions

    def verdict(self, record: ItemRecord, attempt: AttemptRecord) -> tuple[str, list[QCCheck]]:
        """``accepted``, ``pending`` or ``rejected`` for ``attempt`` of ``record``, and its checks
        (the attempt's own, plus the ``human`` one when this candidate was the one reviewed)."""
        checks = list(attempt.checks)
        if not (record.state == ACCEPTED and attempt.attempt == record.final_attempt):
            return REJECTED, checks
        human = self.decisions.get(record.id)
        if human is None:
            return (PENDING if self.required else ACCEPTED), checks
        approved = human["decision"] == "accept"
        checks.append(QCCheck("human", "review", approved, None, human.get("reason")))
        return (ACCEPTED if approved or not self.required else REJECTED), checks
