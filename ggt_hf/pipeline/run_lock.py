"""A run lock: an OS file lock (:class:`ggt_hf.files.file_lock.FileLock`) held for the life of a build
process. Whole-run stages take
the run lock exclusively; a rank of a rank-split run (or a Ray shard) takes the run lock *shared*
plus its own rank lock exclusively, so ranks run side by side while a second copy of the same rank,
or a whole-run build, is refused.
"""

from __future__ import annotations

from pathlib import Path

from ggt_hf.files.file_lock import FileLock, InUseError

#: Another process holds the lock of this run (or of this rank of it); one class with
#: :class:`ggt_hf.files.file_lock.InUseError`, which every folder lock raises.
RunInUseError = InUseError

__all__ = ["FileLock", "RunInUseError", "RunLock"]


class RunLock:
    """The locks one build process holds: the run lock, plus its rank's lock when ``rank`` is given."""

    def __init__(self, run_lock: Path, rank_lock: Path | None = None, rank: str | None = None) -> None:
        run = run_lock.parent.parent  # RUN/.locks/run.lock: errors name the run folder
        self._locks = [FileLock(run_lock, shared=rank_lock is not None, item=run)]
        if rank_lock is not None:
            self._locks.append(FileLock(rank_lock, what=f"{rank} of this run", item=run))

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
