"""An OS file lock (``fcntl.flock``) that a process holds while it writes into a folder.

The kernel releases the lock when the process dies (even by ``kill -9``), so a lock is never
stale. The lock file holds who took it (PID, host, time), for the refusal message. A lock is
exclusive, or *shared* (several holders side by side, an exclusive one refused). Used by
``ggt build`` (:mod:`ggt_hf.pipeline.run_lock`) and by every writer of an output folder
(:mod:`ggt_hf.files.output_folders`, e.g. ``ggt pack``): a second writer is refused, never queued.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from ggt_hf.errors import GGTError


class InUseError(GGTError):
    """Another process holds the lock (of a build run, a rank of it, or an output folder)."""


class FileLock:
    """One ``flock`` on ``path``: exclusive, or shared when ``shared``. Use as a context manager.

    ``what`` names the locked thing in the refusal ("run", "dataset folder", ...); ``item`` is the
    item the error is about (default: the folder holding the lock file).
    """

    def __init__(
        self, path: str | os.PathLike, *, shared: bool = False, what: str = "run", item: object | None = None
    ) -> None:
        self.path, self.shared, self.what = Path(path), shared, what
        self.item = self.path.parent if item is None else item
        self._fd: int | None = None

    def acquire(self) -> FileLock:
        """Take the lock without waiting.

        Raises:
            InUseError: "run in use by PID 123 on HOST since TIME" when another process holds it.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise InUseError(self.item, f"{self.what} in use by {self.holder()}") from None
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
        """Let the lock go (a no-op when not held)."""
        if self._fd is not None:
            if not self.shared:
                os.ftruncate(self._fd, 0)  # a free lock says nothing (and a folder stays byte-stable)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
