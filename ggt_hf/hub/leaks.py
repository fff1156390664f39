"""Train/test leakage: test pairs whose LQ or HQ equals or nearly equals the same side of a train pair.

In GGT data a test pair can reuse a train HQ with a fresh degradation: a leak of the target even
though the LQs differ, so both sides are checked. An image is identical when its SHA-256 matches
(the LQ's file bytes as stored in ``lq_sha256``; the HQ's decoded pixels, :func:`pixel_sha256`, so
a re-encode does not hide it) and a near duplicate when its pHash is within ``max_distance`` bits.

The check keeps its entries in a SQLite file (a temporary one in ``workdir``), so a 100K-pair pack,
mirror or validate holds no per-pair index in memory. Near duplicates are found with the same
multi-index hashing as :class:`ggt_hf.imaging.hashing.NearDuplicateIndex`: a 64-bit pHash split into
``max_distance + 1`` bands, so two hashes within ``max_distance`` bits agree exactly on at least one
band; each band is an indexed column and only the train rows that share a band are compared.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from ggt_hf.constants import Col
from ggt_hf.hub.pairs import Problem
from ggt_hf.imaging.hashing import HASH_BITS, hash_bands

#: pHash distance (bits) within which a test image counts as a near duplicate of a train image.
NEAR_DUPLICATE_DISTANCE = 4
#: The sides compared, each only with the same side of train pairs; an entry names each side's
#: hashes ``<side>_sha256`` and ``<side>_phash`` (a side whose hashes are missing is not checked).
SIDES = (Col.LQ, Col.HQ)


def _band(value: int, lo: int, hi: int) -> int:
    return (value >> lo) & ((1 << (hi - lo)) - 1)


def _signed(value: int) -> int:
    """A 64-bit unsigned value as SQLite's signed 64-bit integer (same bits)."""
    return value - (1 << HASH_BITS) if value >= 1 << (HASH_BITS - 1) else value


class LeakFinder:
    """Train and test rows added one at a time (``add``), compared once all are in (``leaks``).

    Use as a context manager (or call :meth:`close`): it owns a temporary SQLite file.
    """

    def __init__(self, max_distance: int = NEAR_DUPLICATE_DISTANCE, workdir: str | os.PathLike | None = None):
        self._bands = hash_bands(max_distance)
        self._max_distance = max_distance
        self._tmp = tempfile.TemporaryDirectory(prefix="ggt-leaks-", dir=workdir)
        cols = [f"b{i}" for i in range(len(self._bands))]
        self._db = sqlite3.connect(Path(self._tmp.name) / "leaks.sqlite")
        self._db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
            f"CREATE TABLE train(id TEXT, side TEXT, sha TEXT, phash INTEGER, {', '.join(cols)});"
            "CREATE TABLE test(n INTEGER, id TEXT, side TEXT, sha TEXT, phash INTEGER);"
        )
        self._train_insert = f"INSERT INTO train VALUES (?, ?, ?, ?, {', '.join('?' * len(self._bands))})"
        self._count = 0

    def __enter__(self) -> LeakFinder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Delete the SQLite file."""
        self._db.close()
        self._tmp.cleanup()

    def add(self, entry: Mapping[str, str | None]) -> None:
        """Record one row: a mapping with ``id``, ``split`` and each side's ``<side>_sha256`` and
        ``<side>_phash`` (16 hex digits); rows of splits other than train and test are ignored."""
        self._count += 1
        for side in SIDES:
            sha, hashed = entry.get(f"{side}_sha256"), entry.get(f"{side}_phash")
            if sha is None or hashed is None:
                continue
            value = int(hashed, 16)
            if entry["split"] == "train":
                keys = [_signed(_band(value, lo, hi)) for lo, hi in self._bands]
                self._db.execute(self._train_insert, (entry["id"], side, sha, _signed(value), *keys))
            elif entry["split"] == "test":
                self._db.execute(
                    "INSERT INTO test VALUES (?, ?, ?, ?, ?)",
                    (self._count, entry["id"], side, sha, _signed(value)),
                )

    def leaks(self) -> list[Problem]:
        """Test rows whose LQ or HQ equals or nearly equals the same side of a train row, in the
        order the test rows came; the reason names the side(s) and the train pair. An identical
        image is named by the last train row with that hash; a near duplicate by the closest train
        row (ties: the one found first band by band, in input order)."""
        self._db.execute("CREATE INDEX IF NOT EXISTS train_sha ON train(side, sha)")
        for i in range(len(self._bands)):
            self._db.execute(f"CREATE INDEX IF NOT EXISTS train_b{i} ON train(side, b{i})")
        found: list[Problem] = []
        rows = self._db.execute("SELECT n, id, side, sha, phash FROM test ORDER BY n, rowid")
        last = None
        for n, test_id, side, sha, signed in rows:
            reason = self._leak(side, sha, signed)
            if reason is None:
                continue
            if last == n:  # the same test row leaks on both sides: one problem naming both
                found[-1] = Problem(test_id, f"{found[-1].reason}; {reason}")
            else:
                found.append(Problem(test_id, reason))
            last = n
        return found

    def _leak(self, side: str, sha: str, signed: int) -> str | None:
        label = side.upper()
        twin = self._db.execute(
            "SELECT id FROM train WHERE side = ? AND sha = ? ORDER BY rowid DESC LIMIT 1", (side, sha)
        ).fetchone()
        if twin:
            return f"test {label} identical to train pair {twin[0]}"
        mask = (1 << HASH_BITS) - 1
        value = signed & mask
        best: tuple[str, int] | None = None
        for i, (lo, hi) in enumerate(self._bands):
            key = _signed(_band(value, lo, hi))
            for train_id, other in self._db.execute(
                f"SELECT id, phash FROM train WHERE side = ? AND b{i} = ? ORDER BY rowid", (side, key)
            ):
                distance = (value ^ (other & mask)).bit_count()
                if distance <= self._max_distance and (best is None or distance < best[1]):
                    best = (train_id, distance)
        if best is None:
            return None
        return f"test {label} near-duplicate of train pair {best[0]} (pHash distance {best[1]})"


def find_leaks(
    entries: Iterable[Mapping[str, str | None]],
    max_distance: int = NEAR_DUPLICATE_DISTANCE,
    workdir: str | os.PathLike | None = None,
) -> list[Problem]:
    """Test rows whose LQ or HQ equals or nearly equals the same side of a train row (see
    :class:`LeakFinder`); ``entries`` (read once, may be lazy) are what :meth:`LeakFinder.add` takes."""
    with LeakFinder(max_distance, workdir) as finder:
        for entry in entries:
            finder.add(entry)
        return finder.leaks()
