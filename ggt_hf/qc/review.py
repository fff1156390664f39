"""QC stage 3: the human review queue of a build run, persisted and resumable.

A run folder holds one JSON record per item (``items/<id>.json``, written by the build pipeline)
and candidate images under ``candidates/<id>/``. Items whose automatic QC accepted a candidate
wait for a human decision. Decisions are appended to ``review.jsonl`` (one line per decision,
fsync'ed; the last decision for an item wins), so a review session can stop at any moment and
resume where it left off, and several reviewers' decisions merge by time.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ggt_hf.io_utils import append_jsonl, read_jsonl

REVIEW_FILE = "review.jsonl"
ITEMS_DIR = "items"
DECISIONS = ("accept", "reject")


@dataclass
class ReviewItem:
    """One item awaiting (or having) a human decision."""

    id: str
    category: str
    lq_path: Path
    hq_path: Path
    prompt: str | None
    checks: list[dict[str, Any]]
    decision: str | None = None
    reason: str | None = None


class ReviewQueue:
    """Items of a run with an automatically accepted candidate, and their human decisions."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        if not (self.run_dir / ITEMS_DIR).is_dir():
            raise FileNotFoundError(f"{self.run_dir} is not a build run folder (no {ITEMS_DIR}/)")

    def decisions(self) -> dict[str, dict[str, Any]]:
        """Latest decision per item id."""
        latest: dict[str, dict[str, Any]] = {}
        for row in read_jsonl(self.run_dir / REVIEW_FILE):
            latest[row["id"]] = row
        return latest

    def items(self) -> list[ReviewItem]:
        """Every reviewable item, sorted by id, with its current decision."""
        decided = self.decisions()
        out = []
        for path in sorted((self.run_dir / ITEMS_DIR).glob("*.json")):
            record = json.loads(path.read_text())
            final = record.get("final_attempt")
            if record.get("state") != "accepted" or final is None:
                continue
            attempt = record["attempts"][final - 1]
            d = decided.get(record["id"], {})
            out.append(
                ReviewItem(
                    id=record["id"],
                    category=record["category"],
                    lq_path=self.run_dir / record["lq_path"],
                    hq_path=self.run_dir / attempt["image"],
                    prompt=attempt.get("prompt"),
                    checks=attempt.get("checks", []),
                    decision=d.get("decision"),
                    reason=d.get("reason"),
                )
            )
        return out

    def pending(self) -> list[ReviewItem]:
        """Items with no decision yet (the resume point)."""
        return [i for i in self.items() if i.decision is None]

    def decide(
        self, item_id: str, decision: str, reason: str | None = None, reviewer: str | None = None
    ) -> None:
        """Record a decision (``accept`` or ``reject``) for ``item_id``."""
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}, got {decision!r}")
        if decision == "reject" and not reason:
            raise ValueError("a rejection needs a reason")
        known = {i.id for i in self.items()}
        if item_id not in known:
            raise KeyError(f"{item_id!r} is not awaiting review in {self.run_dir}")
        append_jsonl(
            self.run_dir / REVIEW_FILE,
            {
                "id": item_id,
                "decision": decision,
                "reason": reason,
                "reviewer": reviewer,
                "time": time.time(),
            },
        )
