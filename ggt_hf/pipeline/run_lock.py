"""A run lock: an OS file lock (``fcntl.flock``) held for the life of a build process.

The kernel releases it when the process dies (even by ``kill -9``), so a lock is never stale. The
lock file holds who took it (PID, host, time), for the refusal message. Whole-run stages take
the run lock exclusively; a rank of a rank-split run (or a Ray shard) takes the run lock *shared*
plus its own rank lock exclusively, so ranks run side by side while a second copy of the same rank,
or a whole-run build, is refused.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from ggt_hf.errors import GGTError


class RunInUseError(GGTError):
    """Another process holds the lock of this run (or of this rank of it)."""


class FileLock:
    """One ``flock`` on ``path``: exclusive, or shared when ``shared``. Use as a context manager."""

    def __init__(self, path: str | os.PathLike, *, shared: bool = False, what: str = "run") -> None:
        self.path, self.shared, self.what = Path(path), shared, what
        self._fd: int | None = None

    def acquire(self) -> FileLock:
        """Take the lock without waiting.

        Raises:
            RunInUseError: "run in use by PID 123 on HOST since TIME" when another process holds it.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunInUseError(self.path.parent.parent, f"{self.what} in use by {self.holder()}") from None
        if not self.shared:
            info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        return self

    def holder(self) -> str:
        """Who holds the lock, as recorded in the lock file (best effort)."""
        try:
            info = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            info = {}
        if not info:
            return "another process (rank-split workers share the run)"
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(info.get("since", 0)))
        return f"PID {info.get('pid')} on {info.get('host')} since {since}"

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


class RunLock:
    """The locks one build process holds: the run lock, plus its rank's lock when ``rank`` is given."""

    def __init__(self, run_lock: Path, rank_lock: Path | None = None, rank: str | None = None) -> None:
        self._locks = [FileLock(run_lock, shared=rank_lock is not None)]
        if rank_lock is not None:
            self._locks.append(FileLock(rank_lock, what=f"{rank} of this run"))

    def __enter__(self) -> RunLock:
        taken: list[FileLock] = []
        try:
            for lock in self._locks:
                taken.append(lock.acquire())
        except BaseException:
            for lock in reversed(taken):
                lock.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        for lock in reversed(self._locks):
            lock.release()
