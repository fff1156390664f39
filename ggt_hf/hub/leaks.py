"""Train/test leakage: test pairs whose LQ equals or nearly equals a train pair's LQ.

The check reads its entries once and keeps them in a SQLite file (a temporary one in ``workdir``),
so a 100K-pair pack or mirror holds no per-pair index in memory. Near duplicates are found with the
same multi-index hashing as :class:`ggt_hf.hashing.NearDuplicateIndex`: a 64-bit pHash split into
``max_distance + 1`` bands, so two hashes within ``max_distance`` bits agree exactly on at least one
band; each band is an indexed column and only the train rows that share a band are compared.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from ggt_hf.constants import Col
from ggt_hf.hashing import HASH_BITS, hash_bands
from ggt_hf.hub.pairs import Problem


def _band(value: int, lo: int, hi: int) -> int:
    return (value >> lo) & ((1 << (hi - lo)) - 1)


def _signed(value: int) -> int:
    """A 64-bit unsigned value as SQLite's signed 64-bit integer (same bits)."""
    return value - (1 << HASH_BITS) if value >= 1 << (HASH_BITS - 1) else value


def find_leaks(
    entries: Iterable[Mapping[str, str]], max_distance: int, workdir: str | os.PathLike | None = None
) -> list[Problem]:
    """Test rows whose LQ equals (SHA-256) or nearly equals (pHash within ``max_distance`` bits) a
    train row's LQ, in the order the test rows come.

    ``entries`` (read once, may be lazy) are mappings with ``id``, ``split``, ``lq_sha256`` and
    ``lq_phash``. An identical train LQ is named by the last train row with that hash; a near
    duplicate by the closest train row (ties: the one found first band by band, in input order).
    """
    bands = hash_bands(max_distance)
    band_cols = [f"b{i}" for i in range(len(bands))]
    with tempfile.TemporaryDirectory(prefix="ggt-leaks-", dir=workdir) as tmp:
        db = sqlite3.connect(Path(tmp) / "leaks.sqlite")
        try:
            db.executescript(
                "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
                f"CREATE TABLE train(id TEXT, sha TEXT, phash INTEGER, {', '.join(band_cols)});"
                "CREATE TABLE test(seq INTEGER PRIMARY KEY, id TEXT, sha TEXT, phash INTEGER);"
            )
            train_insert = f"INSERT INTO train VALUES (?, ?, ?, {', '.join('?' * len(bands))})"
            for e in entries:
                value = int(e[Col.LQ_PHASH], 16)
                signed = _signed(value)
                if e["split"] == "train":
                    keys = [_signed(_band(value, lo, hi)) for lo, hi in bands]
                    db.execute(train_insert, (e[Col.ID], e[Col.LQ_SHA256], signed, *keys))
                elif e["split"] == "test":
                    db.execute(
                        "INSERT INTO test(id, sha, phash) VALUES (?, ?, ?)",
                        (e[Col.ID], e[Col.LQ_SHA256], signed),
                    )
            db.execute("CREATE INDEX train_sha ON train(sha)")
            for col in band_cols:
                db.execute(f"CREATE INDEX train_{col} ON train({col})")
            return list(_leaks(db, bands, max_distance))
        finally:
            db.close()


def _leaks(db: sqlite3.Connection, bands: list[tuple[int, int]], max_distance: int):
    mask = (1 << HASH_BITS) - 1
    for test_id, sha, signed in db.execute("SELECT id, sha, phash FROM test ORDER BY seq"):
        twin = db.execute("SELECT id FROM train WHERE sha = ? ORDER BY rowid DESC LIMIT 1", (sha,)).fetchone()
        if twin:
            yield Problem(test_id, f"test LQ identical to train pair {twin[0]}")
            continue
        value = signed & mask
        best: tuple[str, int] | None = None
        for i, (lo, hi) in enumerate(bands):
            key = _signed(_band(value, lo, hi))
            for train_id, other in db.execute(
                f"SELECT id, phash FROM train WHERE b{i} = ? ORDER BY rowid", (key,)
            ):
                distance = (value ^ (other & mask)).bit_count()
                if distance <= max_distance and (best is None or distance < best[1]):
                    best = (train_id, distance)
        if best is not None:
            yield Problem(
                test_id, f"test LQ near-duplicate of train pair {best[0]} (pHash distance {best[1]})"
            )


class SplitOverlaps:
    """Images (LQ or HQ, exact bytes) shared between the splits of a packed dataset, found while
    ``ggt validate`` reads the rows: the check that two packs racing, or ``--force``, cannot hide.

    Memory holds one 32-byte digest per image; near duplicates are :func:`find_leaks`' job at pack
    time. Feed rows with :meth:`add`; :attr:`problems` names each shared image's two rows.
    """

    def __init__(self) -> None:
        self._first: dict[tuple[str, bytes], tuple[str, str]] = {}
        self.problems: list[Problem] = []

    def add(self, row: Mapping[str, object], split: str, where: str) -> None:
        """Record the images of ``row`` (of ``split``, at ``where``); a problem if another split has one."""
        for side in (Col.LQ, Col.HQ):
            image = row.get(side)
            data = image.get("bytes") if isinstance(image, Mapping) else None
            if not data:
                continue
            first_split, first_where = self._first.setdefault(
                (side, hashlib.sha256(data).digest()), (split, where)
            )
            if first_split != split:
                self.problems.append(
                    Problem(
                        where,
                        f"{side.upper()} identical to the {first_split} {side.upper()} of {first_where}: "
                        "an image shared between splits (a train/test leak)",
                    )
                )
