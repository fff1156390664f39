"""Walk a folder for files without letting one hostile or unlucky entry end the run.

:func:`walk_files` is the one place ggt-hf lists a folder tree (ingest, pack, restore, degrade, eval,
bench-mfm, training sources, push). It never raises for an entry; it returns the files and, per
entry it refuses, a :class:`~ggt_hf.errors.UnsafePathError` naming it and saying why:

* a **symlink loop** or a **dangling symlink** (file or folder);
* a **symlink that leaves the root** (resolved outside it): refused, never read, whatever it points
  to (``/etc/passwd`` linked as ``notes.png``). Links that stay inside the root are followed for files
  (the target is read through the link) and skipped for folders (their content is walked anyway);
  ``links=False`` refuses every symlink (``ggt push``);
* a **file name that is not valid UTF-8** (e.g. Latin-1 ``caf\\xe9.png``): Python keeps such bytes as
  lone surrogates, which cannot be written to JSON, parquet or a UTF-8 report, so the entry is
  refused (named with its bytes escaped) unless ``allow_non_utf8`` (``ggt ingest`` names its outputs
  itself and records the escaped path);
* an **unreadable folder** (permission denied, vanished while listed) and a **non-regular file**
  (FIFO, socket, device) with a listed extension.

Hidden entries (``.name``) are skipped unless ``hidden=True``. Files come back top-down, each
folder's files (sorted by name) before its sub-folders (sorted by name), as ``os.walk`` gives them.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from ggt_hf.constants import IMAGE_EXTENSIONS
from ggt_hf.errors import UnsafePathError, path_text

logger = logging.getLogger(__name__)


@dataclass
class Walk:
    """The files found under a root and the entries refused, one problem each."""

    root: Path
    files: list[Path] = field(default_factory=list)
    problems: list[UnsafePathError] = field(default_factory=list)

    def refuse(self, path: str | os.PathLike, reason: str) -> None:
        """Record ``path`` as refused for ``reason`` (logged at INFO)."""
        problem = UnsafePathError(path, reason)
        logger.info("skipped %s", problem)
        self.problems.append(problem)


def is_utf8_name(name: str | os.PathLike) -> bool:
    """Whether ``name`` can be written as UTF-8 (no surrogate-escaped bytes)."""
    try:
        str(name).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _link_problem(path: Path, root_real: Path) -> tuple[str | None, bool]:
    """(reason to refuse or None, whether the target is a folder) for a symlink ``path``."""
    target = path_text(os.readlink(path))
    try:
        real = path.resolve(strict=True)
    except RuntimeError:  # Python 3.11 reports a loop this way
        return f"symlink loop (points to {target!r})", False
    except OSError as exc:
        kind = "symlink loop" if exc.errno == errno.ELOOP else "dangling symlink"
        return f"{kind} (points to {target!r})", False
    if not _within(real, root_real):
        return (
            f"symlink leaves the folder (points to {path_text(real)}); refused, copy the file in instead",
            real.is_dir(),
        )
    return None, real.is_dir()


def walk_files(
    root: str | os.PathLike,
    *,
    extensions: Collection[str] | None = None,
    hidden: bool = False,
    links: bool = True,
    allow_non_utf8: bool = False,
) -> Walk:
    """Every regular file under ``root`` (recursively) whose suffix is in ``extensions`` (any when
    ``None``), and every entry refused on the way; see the module docs. Never raises for an entry."""
    root = Path(root)
    walk = Walk(root)
    if not allow_non_utf8 and not is_utf8_name(root):
        walk.refuse(root, "folder path is not valid UTF-8; rename it (none of its files can be named)")
        return walk
    root_real = root.resolve()
    suffixes = {e.lower() for e in extensions} if extensions is not None else None

    def onerror(exc: OSError) -> None:
        walk.refuse(exc.filename or root, f"unreadable folder: {exc.strerror or exc}")

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror, followlinks=False):
        base = Path(dirpath)
        filenames.sort()
        kept = []
        for name in dirnames:
            if name.startswith(".") and not hidden:
                continue
            path = base / name
            if not allow_non_utf8 and not is_utf8_name(name):
                walk.refuse(path, "folder name is not valid UTF-8; rename it (its files are skipped)")
            elif path.is_symlink():
                _check_link(walk, path, root_real, links)
            else:
                kept.append(name)
        dirnames[:] = sorted(kept)
        for name in filenames:
            if (name.startswith(".") and not hidden) or (
                suffixes is not None and os.path.splitext(name)[1].lower() not in suffixes
            ):
                continue
            path = base / name
            if not allow_non_utf8 and not is_utf8_name(name):
                walk.refuse(path, "file name is not valid UTF-8; rename it")
            elif path.is_symlink():
                if _check_link(walk, path, root_real, links):
                    walk.files.append(path)
            elif _regular(walk, path):
                walk.files.append(path)
    return walk


def _check_link(walk: Walk, path: Path, root_real: Path, links: bool) -> bool:
    """Whether the symlink ``path`` is a file to yield; refusals are recorded."""
    reason, target_is_dir = _link_problem(path, root_real)
    if reason is None and not links:
        reason = "symlink refused (only regular files are accepted here); copy the file in instead"
    if reason is not None:
        walk.refuse(path, reason)
        return False
    return not target_is_dir  # a folder link inside the root: its content is walked anyway


def _regular(walk: Walk, path: Path) -> bool:
    try:
        mode = path.lstat().st_mode
    except OSError as exc:
        walk.refuse(path, f"unreadable: {exc.strerror or exc}")
        return False
    if not stat.S_ISREG(mode):
        walk.refuse(path, "not a regular file")
        return False
    return True


def image_files(root: str | os.PathLike) -> list[Path]:
    """The image files under ``root``, sorted by path, for callers with no problem report of their
    own: each entry refused on the way is logged as a warning naming it, and skipped."""
    walk = walk_files(root, extensions=IMAGE_EXTENSIONS)
    for problem in walk.problems:
        logger.warning("%s: skipped %s", root, problem)
    return sorted(walk.files)
