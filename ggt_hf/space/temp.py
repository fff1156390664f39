"""The Space's temporary files: one folder per process, bounded, removed on exit.

Everything the Space writes for visitors — Gradio's uploads and cache (``GRADIO_TEMP_DIR`` points
inside while the app is built and launched), the Restore tab's PNGs, the arena's blind copies —
lives under one ``ggt-space-*`` folder in the system temp dir. :meth:`SpaceTemp.enforce` keeps it
under ``max_bytes`` and ``max_files`` by removing the oldest files first; the Space calls it after
each action that writes files and from a background janitor every ``interval`` seconds.

Uploads arrive without any action running, so they are bounded at the door: :class:`UploadGate`
(an ASGI middleware in front of Gradio's ``/upload``) admits an upload only when its
``Content-Length`` fits in the folder next to the files there and the uploads still in flight
(:meth:`SpaceTemp.reserve`, evicting the oldest files first), refuses it otherwise (413 / 411 /
503), and enforces the bounds again when it is done. Gradio's own ``max_file_size`` refuses a
single file over the configured size while it streams.

The folder is removed at exit: ``atexit``, and a SIGTERM / SIGINT handler (installed once, in the
main thread) that cleans every live :class:`SpaceTemp` and then exits. A ``kill -9`` leaves it
behind, so each folder holds a marker (:data:`MARKER`: the owner's pid) and a new
:class:`SpaceTemp` first removes the ``ggt-space-*`` / ``ggt-arena-*`` folders of this user whose
marker names a dead process (:func:`remove_stale_folders`); nothing without the marker is touched.
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
from typing import Any

logger = logging.getLogger(__name__)

#: Every live SpaceTemp (weakly), cleaned by the exit handlers.
_LIVE: weakref.WeakSet[SpaceTemp] = weakref.WeakSet()
_HANDLERS_INSTALLED = False
_HANDLERS_LOCK = threading.Lock()


#: The file in a ggt temp folder that names its owner: ``ggt-temp pid=<pid>``.
MARKER = ".ggt-owner"
#: Prefixes of the temp folders ggt creates (and may remove when their owner is dead).
PREFIXES = ("ggt-space-", "ggt-arena-")


def make_owned_dir(prefix: str) -> Path:
    """A new temp folder (``tempfile.mkdtemp``) holding the :data:`MARKER` of this process."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    (root / MARKER).write_text(f"ggt-temp pid={os.getpid()}\n", encoding="ascii")
    return root


def _marker_pid(folder: Path) -> int | None:
    """The pid in ``folder``'s marker; ``None`` when there is no (valid) marker."""
    try:
        text = (folder / MARKER).read_text(encoding="ascii")[:64]
    except (OSError, UnicodeDecodeError):
        return None
    head, _, pid = text.strip().partition(" pid=")
    return int(pid) if head == "ggt-temp" and pid.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def remove_stale_folders(parent: str | os.PathLike | None = None) -> list[Path]:
    """Remove the ggt temp folders under ``parent`` (default: the system temp dir) left by dead
    processes: a real folder (not a link) named with one of :data:`PREFIXES`, owned by this user,
    whose :data:`MARKER` names a pid that no longer runs. Returns what was removed."""
    removed = []
    for folder in Path(parent or tempfile.gettempdir()).iterdir():
        if not folder.name.startswith(PREFIXES) or folder.is_symlink() or not folder.is_dir():
            continue
        try:
            if folder.stat().st_uid != os.getuid():
                continue
        except OSError:
            continue
        pid = _marker_pid(folder)
        if pid is None or pid == os.getpid() or _alive(pid):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        logger.info("removed %s, left by process %d which no longer runs", folder, pid)
        removed.append(folder)
    return removed


class SpaceTemp:
    """A ``ggt-space-*`` folder bounded to ``max_bytes`` / ``max_files`` (oldest files evicted)."""

    def __init__(self, max_bytes: int, max_files: int, *, interval: float = 30.0) -> None:
        try:
            remove_stale_folders()
        except OSError as exc:  # an unreadable temp dir must not stop the Space
            logger.warning("could not look for stale temp folders: %s", exc)
        self.root = make_owned_dir("ggt-space-")
        self.max_bytes = max_bytes
        self.max_files = max_files
        self._reserved = 0
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

    def _files(self) -> list[tuple[float, int, Path]]:
        """(mtime, size, path) of every file under the root but the marker."""
        entries = []
        marker = self.root / MARKER
        for path in self.root.rglob("*"):
            try:
                stat = path.lstat()
            except OSError:
                continue
            if path.is_file() and path != marker:
                entries.append((stat.st_mtime, stat.st_size, path))
        return entries

    def usage(self) -> tuple[int, int]:
        """(bytes, files) under the root now (the marker not counted)."""
        files = self._files()
        return sum(e[1] for e in files), len(files)

    def _evict(self, extra_bytes: int = 0, extra_files: int = 0) -> tuple[int, bool]:
        """Remove the oldest files until the folder plus ``extra`` (and the reservations) fits;
        (files removed, whether it fits now). Call under ``_lock``."""
        entries = self._files()
        limit_bytes = self.max_bytes - self._reserved - extra_bytes
        limit_files = self.max_files - extra_files
        total, count, removed = sum(e[1] for e in entries), len(entries), 0
        for _, size, path in sorted(entries, key=lambda e: e[0]):
            if total <= limit_bytes and count <= limit_files:
                break
            path.unlink(missing_ok=True)
            total, count, removed = total - size, count - 1, removed + 1
        if removed:
            logger.info(
                "space temp: removed the %d oldest files (now %d files, %d bytes)", removed, count, total
            )
        return removed, total <= limit_bytes and count <= limit_files

    def enforce(self) -> int:
        """Remove the oldest files until the folder is within both bounds; how many were removed."""
        with self._lock:
            return self._evict()[0]

    def reserve(self, size: int) -> bool:
        """Make room for an incoming file of ``size`` bytes (evicting the oldest files) and hold
        it until :meth:`release`; ``False`` (nothing held) when it cannot fit beside the other
        reservations."""
        with self._lock:
            if size > self.max_bytes - self._reserved:
                return False
            _, fits = self._evict(size, 1)
            if fits:
                self._reserved += size
            return fits

    def release(self, size: int) -> None:
        """Give back a :meth:`reserve` d size once its file is written (or the upload failed)."""
        with self._lock:
            self._reserved = max(0, self._reserved - size)

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


class UploadGate:
    """ASGI middleware: every ``POST …/upload`` must fit in ``temp`` before it is read.

    The request's ``Content-Length`` (required: 411 without it) is reserved in ``temp``
    (:meth:`SpaceTemp.reserve`; 413 when it is larger than the folder may hold, 503 while other
    uploads hold the room), released when the request ends, and the bounds are enforced again.
    Pass it to Gradio as ``app_kwargs={"middleware": [Middleware(UploadGate, temp=temp)]}``."""

    def __init__(self, app: Any, *, temp: SpaceTemp) -> None:
        self.app = app
        self.temp = temp

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or scope.get("method") != "POST" or not _is_upload(scope):
            await self.app(scope, receive, send)
            return
        raw = dict(scope.get("headers") or []).get(b"content-length", b"")
        if not raw.isdigit():
            await _plain(send, 411, "an upload needs a Content-Length header")
            return
        size = int(raw)
        if size > self.temp.max_bytes:
            await _plain(send, 413, f"the upload ({size} bytes) is larger than this Space accepts")
            return
        if not self.temp.reserve(size):
            await _plain(send, 503, "the Space is busy with other uploads; try again in a moment")
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.temp.release(size)
            self.temp.enforce()


def _is_upload(scope: dict) -> bool:
    return str(scope.get("path", "")).rstrip("/").endswith("/upload")


async def _plain(send: Any, status: int, text: str) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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
