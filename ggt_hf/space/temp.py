"""The Space's temporary files: one folder per process, bounded, removed on exit.

Everything the Space writes for visitors — Gradio's uploads and cache (``GRADIO_TEMP_DIR`` points
inside while the app is built and launched), the Restore tab's PNGs, the arena's blind copies —
lives under one ``ggt-space-*`` folder in the system temp dir. :meth:`SpaceTemp.enforce` keeps it
under ``max_bytes`` and ``max_files`` by removing the oldest files first; the Space calls it after
each action that writes files and from a background janitor every ``interval`` seconds (uploads
arrive without any action running). The folder is removed at exit: ``atexit``, and a SIGTERM /
SIGINT handler (installed once, in the main thread) that cleans every live :class:`SpaceTemp` and
then exits.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

#: Every live SpaceTemp (weakly), cleaned by the exit handlers.
_LIVE: weakref.WeakSet[SpaceTemp] = weakref.WeakSet()
_HANDLERS_INSTALLED = False
_HANDLERS_LOCK = threading.Lock()


class SpaceTemp:
    """A ``ggt-space-*`` folder bounded to ``max_bytes`` / ``max_files`` (oldest files evicted)."""

    def __init__(self, max_bytes: int, max_files: int, *, interval: float = 30.0) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ggt-space-"))
        self.max_bytes = max_bytes
        self.max_files = max_files
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.root), True)
        _LIVE.add(self)
        _install_exit_handlers()
        if interval > 0:
            threading.Thread(
                target=_janitor,
                args=(weakref.ref(self), self._stop, interval),
                name="ggt-space-janitor",
                daemon=True,
            ).start()

    def folder(self, name: str) -> Path:
        """A sub-folder (created)."""
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def usage(self) -> tuple[int, int]:
        """(bytes, files) under the root now."""
        files = [p for p in self.root.rglob("*") if p.is_file()]
        return sum(_size(p) for p in files), len(files)

    def enforce(self) -> int:
        """Remove the oldest files until the folder is within both bounds; how many were removed."""
        with self._lock:
            entries = []
            for path in self.root.rglob("*"):
                try:
                    stat = path.lstat()
                except OSError:
                    continue
                if path.is_file():
                    entries.append((stat.st_mtime, stat.st_size, path))
            total = sum(e[1] for e in entries)
            count = len(entries)
            removed = 0
            for _, size, path in sorted(entries, key=lambda e: e[0]):
                if total <= self.max_bytes and count <= self.max_files:
                    break
                path.unlink(missing_ok=True)
                total, count, removed = total - size, count - 1, removed + 1
            if removed:
                logger.info(
                    "space temp: removed the %d oldest files (now %d files, %d bytes)", removed, count, total
                )
            return removed

    def cleanup(self) -> None:
        """Stop the janitor and remove the whole folder."""
        self._stop.set()
        self._finalizer()


def _janitor(ref: weakref.ref[SpaceTemp], stop: threading.Event, interval: float) -> None:
    """Enforce the bounds every ``interval`` seconds until stopped or the folder object is gone."""
    while not stop.wait(interval):
        temp = ref()
        if temp is None:
            return
        try:
            temp.enforce()
        except Exception as exc:  # never let the janitor die on a racing delete
            logger.warning("space temp janitor: %s", exc)
        del temp


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def cleanup_all() -> None:
    """Remove the folders of every live :class:`SpaceTemp`."""
    for temp in list(_LIVE):
        temp.cleanup()


def _on_signal(signum: int, frame) -> None:
    cleanup_all()
    previous = _PREVIOUS.get(signum)
    if callable(previous) and previous not in (signal.SIG_DFL, signal.SIG_IGN):
        previous(signum, frame)
    sys.exit(128 + signum)


_PREVIOUS: dict[int, object] = {}


def _install_exit_handlers() -> None:
    """``atexit`` always; SIGTERM/SIGINT only from the main thread (Python's rule), once."""
    global _HANDLERS_INSTALLED
    with _HANDLERS_LOCK:
        if _HANDLERS_INSTALLED:
            return
        _HANDLERS_INSTALLED = True
        atexit.register(cleanup_all)
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(signum)
            if signum == signal.SIGINT and previous is not signal.default_int_handler:
                continue  # somebody else handles Ctrl+C; atexit still cleans up
            _PREVIOUS[signum] = previous
            signal.signal(signum, _on_signal)


@contextmanager
def scoped_env(**values: str | None) -> Iterator[None]:
    """Set environment variables for a ``with`` block (``None`` unsets), restoring them after."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        _set_env(values)
        yield
    finally:
        _set_env(saved)


def _set_env(values: dict[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
