"""QC stage 3: the human review queue of a build run, persisted, resumable and indexed.

A run folder (:class:`~ggt_hf.files.run_store.RunLayout`) holds one
:class:`~ggt_hf.records.ItemRecord` per item and the candidate images. Items whose automatic QC
accepted a candidate wait for a human decision. Decisions are appended to ``review.jsonl`` (one
line per decision, fsync'ed; the last decision for an item wins), so a review session can stop at
any moment and resume where it left off, and several reviewers' decisions merge.

The queue reads the item records once when it opens (and caches which are reviewable in
``review_index.json``, so a reopen re-reads only changed records) and keeps an index: the sorted ids of the
reviewable items, the latest decision per id, the sorted ids still pending and running counts. A
decision appends one line; before answering, the queue reads only the bytes other reviewers
appended to ``review.jsonl`` since it last looked. So :meth:`ReviewQueue.decide` plus the next
pending item cost O(1) amortised (a bisection and a list removal), whatever the size of the run;
only the item shown is read from disk. Items a still-running build accepts after the queue opened
appear after :meth:`ReviewQueue.rescan`.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ggt_hf.files.io_utils import append_jsonl, atomic_write_json
from ggt_hf.files.run_store import RunLayout, RunStore

logger = logging.getLogger(__name__)

#: Kept for callers that name the files directly; :class:`RunLayout` is the source of truth.
REVIEW_FILE = RunLayout.REVIEW
ITEMS_DIR = RunLayout.ITEMS_DIR
DECISIONS = ("accept", "reject")


class DecisionLog:
    """The one reader of ``review.jsonl``: yields the decision rows appended since it last read.

    Only complete lines are read (a torn last line, another reviewer mid-append, waits for the next
    read), so :attr:`offset` is always at a line boundary. A line that is not a decision row (not
    JSON, no ``id``, a decision other than :data:`DECISIONS`) is skipped with a warning naming the
    file and byte offset: one bad line loses that line, not the review."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.offset = 0  #: bytes of complete lines read so far

    def replaced(self) -> bool:
        """Whether the log is now shorter than what was read (it was replaced: read it again from 0)."""
        try:
            return os.path.getsize(self.path) < self.offset
        except FileNotFoundError:
            return False

    def rows(self) -> Iterator[dict[str, Any]]:
        """The valid decision rows from :attr:`offset` on, in file order (a later row for an id wins)."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            for line in fh:
                if not line.endswith(b"\n"):
                    return
                start, self.offset = self.offset, self.offset + len(line)
                if line.strip() and (row := _decision_row(line, self.path, start)) is not None:
                    yield row


def _decision_row(line: bytes, path: Path, offset: int) -> dict[str, Any] | None:
    """The decision row of one log line, or ``None`` (with a warning) when it is not one."""
    try:
        row = json.loads(line)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past Python's limit
        pass
    else:
        if isinstance(row, dict) and isinstance(row.get("id"), str) and row.get("decision") in DECISIONS:
            return row
    logger.warning("%s: skipped the line at byte %d: not a review decision (%.80r)", path, offset, line)
    return None


class Decisions(Mapping[str, dict[str, Any]]):
    """The latest decision row per item id of a run, read once from ``review.jsonl``.

    The rows live in a private temporary SQLite database (on disk, deleted when this object goes),
    so the pack and the report of a run whose 100K items were all reviewed hold none of them in
    memory."""

    def __init__(self, layout: RunLayout) -> None:
        self._db = sqlite3.connect("")  # "": a private on-disk database, deleted on close
        self._db.execute("CREATE TABLE decisions(id TEXT PRIMARY KEY, decision TEXT, row TEXT)")
        self._db.executemany(
            "INSERT OR REPLACE INTO decisions VALUES (?, ?, ?)",  # a later line replaces an earlier one
            ((r["id"], r["decision"], json.dumps(r)) for r in DecisionLog(layout.review_file).rows()),
        )

    def __getitem__(self, item_id: str) -> dict[str, Any]:
        row = self._db.execute("SELECT row FROM decisions WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            raise KeyError(item_id)
        return json.loads(row[0])

    def __iter__(self) -> Iterator[str]:
        return (item_id for (item_id,) in self._db.execute("SELECT id FROM decisions ORDER BY id"))

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]

    def counts(self) -> Counter:
        """How many items have each decision."""
        return Counter(dict(self._db.execute("SELECT decision, COUNT(*) FROM decisions GROUP BY decision")))


def read_decisions(layout: RunLayout) -> Decisions:
    """Latest decision per item id of a run (without opening the item records)."""
    return Decisions(layout)


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


#: Top-level lines of a record as :meth:`RunStore.write` formats it (indented, keys sorted).
_STATE_LINE = b'\n  "state": "'
_FINAL_LINE = b'\n  "final_attempt": '


def _is_reviewable(store: RunStore, item_id: str) -> bool:
    """Whether the record says its automatic QC accepted a candidate (state ``accepted`` with a
    final attempt). Records as the store writes them are recognised from two top-level lines
    without parsing the whole JSON (opening a 100K-item queue is dominated by parsing); anything
    else is parsed. Either way a duplicated key counts with its last value, as when the record is
    read; a record that only turns out unreadable when its item is shown leaves the queue then
    (:meth:`ReviewQueue.item`)."""
    path = store.layout.item(item_id)
    data = path.read_bytes()
    state, final = data.rfind(_STATE_LINE), data.rfind(_FINAL_LINE)
    if state >= 0 and final >= 0 and data.startswith(b"{") and data.rstrip().endswith(b"}"):
        accepted = data.startswith(b'accepted"', state + len(_STATE_LINE))
        return accepted and not data.startswith(b"null", final + len(_FINAL_LINE))
    try:
        data = json.loads(data)
        return data.get("state") == "accepted" and data.get("final_attempt") is not None
    except (ValueError, AttributeError, RecursionError):
        store.read_or_quarantine(item_id)  # a corrupt record is quarantined, with a warning
        return False


def _cached_index(path: Path) -> dict[str, Any]:
    """The cached scan of ``review_index.json``; empty when missing, unreadable or not a mapping
    (garbled, or written by another version): then every record is read again."""
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return {}
    return cached if isinstance(cached, dict) else {}


def _scan_reviewable(store: RunStore) -> list[str]:
    """Sorted ids of the reviewable items, re-reading only records changed since the cached scan."""
    index_path = store.layout.review_index
    cached = _cached_index(index_path)
    fresh, changed = {}, False
    with os.scandir(store.layout.items_dir) as entries:
        for entry in entries:
            if not entry.name.endswith(".json") or entry.name.startswith("."):
                continue
            item_id, stat = entry.name[:-5], entry.stat()
            key = [stat.st_size, stat.st_mtime_ns]
            hit = cached.get(item_id)
            if hit in ([*key, True], [*key, False]):
                fresh[item_id] = hit
            else:
                fresh[item_id] = [*key, _is_reviewable(store, item_id)]
                changed = True
    if changed or len(fresh) != len(cached):
        atomic_write_json(index_path, fresh)
    return sorted(i for i, (_, _, ok) in fresh.items() if ok)


class PendingItems(Sequence):
    """The undecided items at one moment, in id order; each item is read from disk when accessed."""

    def __init__(self, queue: ReviewQueue, ids: list[str]) -> None:
        self._queue, self._ids = queue, ids

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self._queue.item(i) for i in self._ids[index]]
        return self._queue.item(self._ids[index])

    def __iter__(self) -> Iterator[ReviewItem]:
        return (self._queue.item(i) for i in self._ids)

    @property
    def ids(self) -> list[str]:
        return list(self._ids)


class ReviewQueue:
    """Items of a run with an automatically accepted candidate, and their human decisions."""

    def __init__(self, run_dir: str | Path) -> None:
        self.store = RunStore(run_dir)
        self.layout = self.store.layout
        self.run_dir = self.layout.root
        if not self.layout.is_run():
            raise FileNotFoundError(f"{self.run_dir} is not a build run folder (no {ITEMS_DIR}/)")
        self._lock = threading.RLock()
        self.rescan()

    # -- index -----------------------------------------------------------------------------------

    def rescan(self) -> None:
        """(Re)build the index from the item records and the whole decision log.

        Which items are reviewable is cached in ``review_index.json`` keyed by each record's size
        and modification time, so reopening a large run re-reads only the records that changed."""
        reviewable = _scan_reviewable(self.store)
        with self._lock:
            self._ids = reviewable
            self._known = set(reviewable)
            self._latest: dict[str, dict[str, Any]] = {}
            self._pending = list(reviewable)
            self._counts: Counter = Counter()
            self._log = DecisionLog(self.layout.review_file)
            self._refresh()

    def _refresh(self) -> None:
        """Apply the decisions appended to the log since the last look (by any reviewer)."""
        if self._log.replaced():  # the log was replaced: start over
            self._latest, self._pending, self._counts = {}, list(self._ids), Counter()
            self._log.offset = 0
        for row in self._log.rows():
            self._apply(row)

    def _apply(self, row: dict[str, Any]) -> None:
        item_id = row["id"]
        previous = self._latest.get(item_id)
        self._latest[item_id] = row
        if item_id not in self._known:
            return
        if previous is None:
            k = bisect_left(self._pending, item_id)
            if k < len(self._pending) and self._pending[k] == item_id:
                del self._pending[k]
        else:
            self._counts[previous["decision"]] -= 1
        self._counts[row["decision"]] += 1

    # -- reading ---------------------------------------------------------------------------------

    def decisions(self) -> dict[str, dict[str, Any]]:
        """Latest decision per item id."""
        with self._lock:
            self._refresh()
            return dict(self._latest)

    def item(self, item_id: str) -> ReviewItem:
        """One reviewable item with its current decision (read from its record).

        Raises:
            KeyError: ``item_id`` is not awaiting review; or its record turned out corrupt (it is
                quarantined, and the build redoes the item) or without the accepted attempt it
                names: the item then leaves the queue, with a warning, and the review goes on.
        """
        if item_id not in self._known:
            raise KeyError(f"{item_id!r} is not awaiting review in {self.run_dir}")
        record = self.store.read_or_quarantine(item_id)
        attempt = record.final() if record is not None else None
        if attempt is None:
            self._drop(item_id)
            if record is not None:
                logger.warning(
                    "%s: state %s but no attempt %s among its attempts; left out of the review",
                    self.layout.item(item_id),
                    record.state,
                    record.final_attempt,
                )
            raise KeyError(
                f"{item_id!r} left the review in {self.run_dir}: its record is corrupt or names no "
                "accepted attempt"
            )
        decided = self._latest.get(item_id, {})
        return ReviewItem(
            id=record.id,
            category=record.category,
            lq_path=self.layout.resolve(record.lq_path),
            hq_path=self.layout.resolve(attempt.image),
            prompt=attempt.prompt,
            checks=[asdict(c) for c in attempt.checks],
            decision=decided.get("decision"),
            reason=decided.get("reason"),
        )

    def items(self) -> list[ReviewItem]:
        """Every reviewable item, sorted by id, with its current decision (reads every record;
        an item whose record turns out unreadable leaves the queue, see :meth:`item`)."""
        with self._lock:
            self._refresh()
            ids = list(self._ids)
        return [item for i in ids if (item := self._item_or_none(i)) is not None]

    def pending(self) -> PendingItems:
        """Items with no decision yet, in id order (the first one is the resume point)."""
        with self._lock:
            self._refresh()
            return PendingItems(self, list(self._pending))

    def next_pending(self, after: str | None = None) -> ReviewItem | None:
        """The first undecided item after ``after`` in id order, wrapping round (``None``: done).
        An item whose record turns out unreadable leaves the queue (see :meth:`item`); the next
        one is returned."""
        while True:
            with self._lock:
                self._refresh()
                if not self._pending:
                    return None
                k = bisect_right(self._pending, after) if after is not None else 0
                item_id = self._pending[k] if k < len(self._pending) else self._pending[0]
            if (item := self._item_or_none(item_id)) is not None:
                return item

    def _item_or_none(self, item_id: str) -> ReviewItem | None:
        """:meth:`item`, or ``None`` when its record made it leave the queue."""
        try:
            return self.item(item_id)
        except KeyError:
            if item_id in self._known:
                raise
            return None

    def _drop(self, item_id: str) -> None:
        """Take ``item_id`` out of the queue (its record is unreadable) until the next rescan."""
        with self._lock:
            if item_id not in self._known:
                return
            self._known.discard(item_id)
            self._ids.remove(item_id)
            latest = self._latest.get(item_id)
            if latest is None:
                self._pending.remove(item_id)
            else:
                self._counts[latest["decision"]] -= 1

    def is_pending(self, item_id: str) -> bool:
        with self._lock:
            self._refresh()
            return item_id in self._known and item_id not in self._latest

    def progress(self) -> dict[str, int]:
        """``total``, ``reviewed``, ``accepted``, ``rejected`` and ``pending`` counts."""
        with self._lock:
            self._refresh()
            total, pending = len(self._ids), len(self._pending)
            return {
                "reviewed": total - pending,
                "total": total,
                "accepted": self._counts["accept"],
                "rejected": self._counts["reject"],
                "pending": pending,
            }

    # -- writing ---------------------------------------------------------------------------------

    def decide(
        self, item_id: str, decision: str, reason: str | None = None, reviewer: str | None = None
    ) -> None:
        """Record a decision (``accept`` or ``reject``) for ``item_id``."""
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}, got {decision!r}")
        if decision == "reject" and not reason:
            raise ValueError("a rejection needs a reason")
        if item_id not in self._known:
            raise KeyError(f"{item_id!r} is not awaiting review in {self.run_dir}")
        row = {
            "id": item_id,
            "decision": decision,
            "reason": reason,
            "reviewer": reviewer,
            "time": time.time(),
        }
        with self._lock:
            append_jsonl(self.layout.review_file, row)
            self._refresh()
