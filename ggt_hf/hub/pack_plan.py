"""A pack's bookkeeping on disk, so its memory stays flat in the number of pairs.

``pack`` reads its records once. Each record, and later each checked pair, is pickled into a spill
file (:class:`Spill`); what the pack decides with (ids, splits, sizes, hashes, where each pair is
spilled) goes into a SQLite file (:class:`PackPlan`) in the same staging folder. Deduplication,
the id-clash check and shard planning are queries over it, and the shards are written from it one
row group at a time. Both files are deleted with the staging folder.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ggt_hf.constants import CATEGORIES

#: Rows fetched from SQLite at a time when streaming a query.
_FETCH = 512


class Spill:
    """Pickled objects appended to one staging file and read back by position (thread-safe reads
    with ``os.pread``; only this process's own staging file is ever unpickled)."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "w+b", buffering=0)  # noqa: SIM115 - closed by close()
        self._end = 0

    def put(self, obj: object) -> tuple[int, int]:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        self._file.write(data)
        where, self._end = (self._end, len(data)), self._end + len(data)
        return where

    def get(self, where: tuple[int, int]):
        return pickle.loads(os.pread(self._file.fileno(), where[1], where[0]))

    def close(self) -> None:
        self._file.close()


@dataclass(frozen=True)
class PlannedPair:
    """One checked pair as the plan holds it: what the checks and the shard plan need, and where
    the full prepared pair is spilled."""

    id: str
    category: str
    split: str
    nbytes: int
    lq_sha256: str
    lq_phash: str
    where: tuple[int, int]
    hq_sha256: str | None = None  # the HQ's pixel SHA-256 and pHash (leak check)
    hq_phash: str | None = None


def order_key(pair_id: str) -> str:
    """Row order inside a (category, split) group: SHA-1 of the id (a stable pseudo-shuffle)."""
    return hashlib.sha1(pair_id.encode()).hexdigest()


def shard_sizes(nbytes: Iterable[int], max_shard_bytes: int) -> list[int]:
    """Row counts of the shards a greedy split of rows (sizes ``nbytes``, in order) into shards of
    at most ``max_shard_bytes`` gives (a row larger than the limit gets a shard of its own)."""
    sizes: list[int] = []
    total = 0
    for n in nbytes:
        if not sizes or total + n > max_shard_bytes:
            sizes.append(0)
            total = 0
        sizes[-1] += 1
        total += n
    return sizes


class PackPlan:
    """The SQLite side of a pack (see the module docstring); used from one thread."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)
        self.db.executescript(
            """
            PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;
            CREATE TABLE records(id TEXT, lq_path TEXT, pos INTEGER, len INTEGER);
            CREATE TABLE planned(seq INTEGER PRIMARY KEY, id TEXT, category TEXT, rank INTEGER,
                                 split TEXT, nbytes INTEGER, sha TEXT, phash TEXT, ord TEXT,
                                 pos INTEGER, len INTEGER, hq_sha TEXT, hq_phash TEXT);
            CREATE TABLE kept(id TEXT PRIMARY KEY, split TEXT, sha TEXT, phash TEXT, shard TEXT,
                              hq_sha TEXT, hq_phash TEXT);
            """
        )

    def close(self) -> None:
        self.db.close()

    def _stream(self, sql: str, args: tuple = ()) -> Iterator[tuple]:
        cursor = self.db.execute(sql, args)
        while rows := cursor.fetchmany(_FETCH):
            yield from rows

    # --- records, deduplicated ------------------------------------------------------------------
    def add_record(self, pair_id: str, lq_path: str, where: tuple[int, int]) -> None:
        self.db.execute("INSERT INTO records VALUES (?, ?, ?, ?)", (pair_id, lq_path, *where))

    def records_by_id(self) -> Iterator[tuple[str, str, tuple[int, int]]]:
        """(id, lq_path, where) of every record in (id, lq_path) order (ties: input order)."""
        for pair_id, lq_path, pos, length in self._stream(
            "SELECT id, lq_path, pos, len FROM records ORDER BY id, lq_path, rowid"
        ):
            yield pair_id, lq_path, (pos, length)

    # --- checked pairs ----------------------------------------------------------------------------
    def add_planned(self, pair: PlannedPair) -> None:
        self.db.execute(
            "INSERT INTO planned(id, category, rank, split, nbytes, sha, phash, ord, pos, len, hq_sha, hq_phash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                pair.id,
                pair.category,
                CATEGORIES.index(pair.category),
                pair.split,
                pair.nbytes,
                pair.lq_sha256,
                pair.lq_phash,
                order_key(pair.id),
                *pair.where,
                pair.hq_sha256,
                pair.hq_phash,
            ),
        )

    def planned_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM planned").fetchone()[0]

    def groups(self) -> list[tuple[str, str]]:
        """The (category, split) groups with planned pairs, in category order then split."""
        return [
            (c, s)
            for c, s, _ in self.db.execute(
                "SELECT DISTINCT category, split, rank FROM planned ORDER BY rank, split"
            )
        ]

    # --- rows already in the dataset that the pack keeps ------------------------------------------
    def add_kept(self, rows: Iterable[tuple[str, ...]]) -> None:
        """(id, split, lq_sha256, lq_phash, shard, hq pixel sha256, hq_phash) of rows kept from the
        existing dataset (the HQ hashes may be ``None``)."""
        self.db.executemany("INSERT OR REPLACE INTO kept VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def drop_clashes(self) -> list[tuple[str, str]]:
        """Remove planned pairs whose id a kept row already uses; returns (id, shard) of each."""
        clashes = self.db.execute(
            "SELECT p.id, k.shard FROM planned p JOIN kept k ON k.id = p.id ORDER BY p.seq"
        ).fetchall()
        self.db.execute("DELETE FROM planned WHERE id IN (SELECT id FROM kept)")
        return clashes

    def leak_entries(self) -> Iterator[dict[str, str]]:
        """Kept rows, then planned pairs: what :func:`~ggt_hf.hub.leaks.find_leaks` reads."""
        for table, order in (("kept", "rowid"), ("planned", "seq")):
            for row in self._stream(
                f"SELECT id, split, sha, phash, hq_sha, hq_phash FROM {table} ORDER BY {order}"
            ):
                yield dict(
                    zip(("id", "split", "lq_sha256", "lq_phash", "hq_sha256", "hq_phash"), row, strict=True)
                )

    # --- shards -----------------------------------------------------------------------------------
    def finish_inserts(self) -> None:
        self.db.execute("CREATE INDEX IF NOT EXISTS planned_order ON planned(category, split, ord)")
        self.db.commit()

    def group_sizes(self, category: str, split: str, max_shard_bytes: int) -> tuple[list[int], float]:
        """Shard row counts of a group, and its mean pair size in bytes."""
        count, total = self.db.execute(
            "SELECT COUNT(*), SUM(nbytes) FROM planned WHERE category = ? AND split = ?", (category, split)
        ).fetchone()
        nbytes = (
            n
            for (n,) in self._stream(
                "SELECT nbytes FROM planned WHERE category = ? AND split = ? ORDER BY ord", (category, split)
            )
        )
        return shard_sizes(nbytes, max_shard_bytes), total / count

    def group_spilled(self, category: str, split: str) -> Iterator[tuple[int, int]]:
        """Where each pair of a group is spilled, in row order."""
        yield from self._stream(
            "SELECT pos, len FROM planned WHERE category = ? AND split = ? ORDER BY ord", (category, split)
        )
