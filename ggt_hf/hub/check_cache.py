"""What a full decode proved about an image file, remembered so the file is not decoded again.

``pack`` decodes every image fully to prove it reads. A build run packs the same files up to three
times (its ``unfiltered``, ``default`` and ``negatives`` configs share LQ photos and candidates), and
a re-pack after more human review sees mostly files it already checked. With a :class:`CheckCache`
(``PackConfig.check_cache``; the build uses ``run/pack_checks.sqlite``), a file whose path and
content stamp (:func:`content_stamp`: device, inode, size, modification and status-change times in
ns) are unchanged since its check is taken as checked: its size, format, SHA-256 and pHash come from
the cache. The access time is never compared: reading a file may move it (``relatime``, the Linux
default, does on the first read after a write), so a first pack remembers every file it reads.
Like every stat-based cache (git's index, make), a rewrite that keeps the size and lands within
the file system's timestamp tick of the previous write goes unnoticed. Only files stored with their original bytes are
remembered (a re-encoded file is checked every time). The cache is SQLite on disk, so memory does
not grow with the number of files; an unreadable cache file is replaced by an empty one.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

#: Bump when what a check proves (or how its hashes are computed) changes: old entries are dropped.
CHECK_CACHE_VERSION = 2


@dataclass(frozen=True)
class CheckedFile:
    """The result of one full decode of a file stored with its original bytes."""

    width: int
    height: int
    ext: str
    sha256: str | None  # LQ: of the file's bytes; HQ: of its decoded pixels (leak check); older: None
    phash: str | None


#: The ``stat`` fields of :func:`content_stamp`.
STAMP_FIELDS = ("st_dev", "st_ino", "st_size", "st_mtime_ns", "st_ctime_ns")


def content_stamp(st: os.stat_result) -> tuple[int, ...]:
    """What identifies a file's content in ``stat``: device, inode, size, mtime and ctime (ns).

    The one comparison behind every "unchanged" the cache decides (while a file is read, and
    between a check and a later pack). The access time is left out on purpose: a read may move it.
    """
    return tuple(getattr(st, name) for name in STAMP_FIELDS)


def unchanged(before: os.stat_result, after: os.stat_result | None) -> bool:
    """Whether two ``stat`` calls saw the same content (:func:`content_stamp`; atime ignored)."""
    return after is not None and content_stamp(before) == content_stamp(after)


def _stamp_text(st: os.stat_result) -> str:
    """:func:`content_stamp` as stored (text: inode and device numbers may not fit SQLite's int64)."""
    return ":".join(map(str, content_stamp(st)))


class CheckCache:
    """Checked files by absolute path and :func:`content_stamp`, in a SQLite file (thread-safe)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._broken = False
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            logger.warning("pack check cache %s unreadable (%s); starting an empty one", self.path, exc)
            self.path.unlink(missing_ok=True)
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        db.execute("PRAGMA synchronous=OFF")
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version != CHECK_CACHE_VERSION:
            db.execute("DROP TABLE IF EXISTS checked")
            db.execute(f"PRAGMA user_version={CHECK_CACHE_VERSION}")
        db.execute(
            "CREATE TABLE IF NOT EXISTS checked(path TEXT PRIMARY KEY, stamp TEXT, width INTEGER,"
            " height INTEGER, ext TEXT, sha256 TEXT, phash TEXT)"
        )
        db.commit()
        return db

    def get(self, path: str | os.PathLike, st: os.stat_result) -> CheckedFile | None:
        """The check of ``path`` if it was made on a file with ``st``'s :func:`content_stamp`."""
        with self._lock:
            if self._broken:
                return None
            try:
                row = self._db.execute(
                    "SELECT stamp, width, height, ext, sha256, phash FROM checked WHERE path = ?",
                    (os.path.abspath(path),),
                ).fetchone()
            except sqlite3.DatabaseError as exc:
                self._give_up(exc)
                return None
        if row is None or row[0] != _stamp_text(st):
            return None
        return CheckedFile(*row[1:])

    def put(self, path: str | os.PathLike, st: os.stat_result, checked: CheckedFile) -> None:
        """Remember ``checked`` for ``path`` as it was when ``st`` was taken."""
        row = (os.path.abspath(path), _stamp_text(st), checked.width, checked.height, checked.ext)
        with self._lock:
            if self._broken:
                return
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO checked VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (*row, checked.sha256, checked.phash),
                )
                self._db.commit()
            except sqlite3.DatabaseError as exc:
                self._give_up(exc)

    def __len__(self) -> int:
        """How many checked files the cache remembers."""
        with self._lock:
            if self._broken:
                return 0
            return self._db.execute("SELECT COUNT(*) FROM checked").fetchone()[0]

    def _give_up(self, exc: Exception) -> None:
        """A cache damaged while in use: every file is checked for real from now on."""
        logger.warning("pack check cache %s failed (%s); checking every file without it", self.path, exc)
        self._broken = True

    def close(self) -> None:
        with self._lock:
            self._db.close()


@contextmanager
def closing_cache(cache: CheckCache | None) -> Iterator[CheckCache | None]:
    """``cache`` (or ``None``), closed on exit."""
    try:
        yield cache
    finally:
        if cache is not None:
            cache.close()
