"""What an output folder must be before ggt writes into it, in one place.

Every command that writes into a folder the user names goes through here:

* :func:`check_no_overlap`: input and output never overlap (the same path, the output inside the
  input, or the input inside the output; symlinks resolved). Raised before any work.
* :func:`claim_output_folder`: a folder ggt is about to change or delete files in must be ggt's:
  new, empty, or made by ggt for the same kind of output (its marker file :data:`MARKER`, or a
  ``recognise`` test such as "holds a ``ggt_dataset.json`` manifest"). Anything else is refused,
  naming what in it is not ggt's, before any work. A folder claimed gets the marker, so a run
  killed before its manifest was written is still recognised next time.
* :func:`check_no_links`: the paths ggt writes inside an output folder are not symlinks (nor inside
  a symlinked folder), so nothing is ever written or deleted through a link. Raised before any work.
* :func:`output_lock`: one writer at a time per output folder (an OS lock, see
  :mod:`ggt_hf.files.file_lock`); a second one is refused with "in use by PID ...".

Hidden bookkeeping files ggt writes (the marker, the lock, temporaries) never make a folder
"not empty"; the user's hidden files do.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from ggt_hf.errors import UsageError
from ggt_hf.files.file_lock import FileLock
from ggt_hf.files.io_utils import atomic_write_json

logger = logging.getLogger(__name__)

#: Marker file ggt writes into an output folder it claims: ``{"kind": ..., "created_by": ...}``.
MARKER = ".ggt-output.json"
#: Lock file a writer of an output folder holds (see :func:`output_lock`).
LOCK_FILE = ".ggt-output.lock"
#: ggt's own bookkeeping names, which never make a folder "someone else's".
OWN_NAMES = frozenset({MARKER, LOCK_FILE})


class OutputFolderError(UsageError):
    """An output folder ggt must not write into (overlaps the input, or holds files not ggt's)."""


def _resolved(path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(os.path.abspath(path)))


def overlap(a: str | os.PathLike, b: str | os.PathLike) -> str | None:
    """How paths ``a`` and ``b`` overlap once resolved: ``"is"``, ``"is inside"``, ``"contains"``
    (said of ``a``), or ``None`` when they are apart."""
    ra, rb = _resolved(a), _resolved(b)
    if ra == rb:
        return "is"
    if ra.is_relative_to(rb):
        return "is inside"
    if rb.is_relative_to(ra):
        return "contains"
    return None


def check_no_overlap(
    inputs: str | os.PathLike | Iterable[str | os.PathLike],
    output: str | os.PathLike,
    *,
    what: str = "output",
    allow_output_inside: bool = False,
) -> None:
    """Refuse an ``output`` that is, is inside, or contains one of ``inputs``.

    ``allow_output_inside`` accepts an output inside an input folder, for commands that skip their
    own output folder while they walk the input (``ggt ingest photos photos/ingested``).

    Raises:
        OutputFolderError: naming both paths (as given and as resolved when they differ).
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    for source in inputs:
        how = overlap(output, source)
        if how is None or (how == "is inside" and allow_output_inside):
            continue
        shown = {"is": "is the same as", "is inside": "is inside", "contains": "contains"}[how]
        linked = [_resolved(p) != Path(os.path.abspath(p)) for p in (output, source)]
        resolved = f" (symlinks resolved: {_resolved(output)} and {_resolved(source)})" if any(linked) else ""
        raise OutputFolderError(
            output,
            f"the {what} {output} {shown} the input {source}{resolved}; input and output must not "
            f"overlap (ggt could overwrite or delete its own input): write to a new folder apart "
            "from the input instead",
        )


def read_marker(folder: str | os.PathLike) -> dict | None:
    """The marker ggt wrote into ``folder`` (``None`` when there is none or it does not parse)."""
    try:
        data = json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError, RecursionError):  # RecursionError: a hostile `[[[[…` marker
        return None
    return data if isinstance(data, dict) else None


def foreign_entries(folder: str | os.PathLike, allowed: Callable[[str], bool] | None = None) -> list[str]:
    """Names of the entries of ``folder`` that are not ggt's bookkeeping (nor ``allowed(name)``)."""
    names = sorted(os.listdir(folder))
    return [n for n in names if n not in OWN_NAMES and not (allowed is not None and allowed(n))]


def claim_output_folder(
    folder: str | os.PathLike,
    kind: str,
    *,
    recognise: Callable[[Path], bool] | None = None,
    allowed: Callable[[str], bool] | None = None,
    command: str = "ggt",
) -> Path:
    """Make sure ggt may change files in ``folder`` (creating it when missing); returns its path.

    The folder is ggt's when it is new, empty (ignoring ggt's bookkeeping and names for which
    ``allowed`` is true, e.g. staging folders of an interrupted run), carries ggt's marker for
    ``kind``, or ``recognise(folder)`` says ggt made it (e.g. a manifest). The marker is then
    written, so the next run recognises the folder even if this one is killed before its own
    files are complete.

    Raises:
        OutputFolderError: ``folder`` is a file, holds another kind of ggt output, or holds files
            that are not ggt's (named in the message, up to five).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputFolderError(
            folder, f"is a file, not a folder; {command} needs a new or empty output folder"
        )
    marker = read_marker(folder) if folder.is_dir() else None
    if marker is not None and marker.get("kind") != kind:
        raise OutputFolderError(
            folder,
            f"holds another kind of ggt output ({marker.get('kind')!r}, not {kind!r}); "
            "choose a new or empty folder",
        )
    if marker is None and folder.is_dir() and not (recognise is not None and recognise(folder)):
        foreign = foreign_entries(folder, allowed)
        if foreign:
            listed = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise OutputFolderError(
                folder,
                f"is not empty and was not made by ggt (it holds {listed}); {command} only writes into "
                f"a new folder, an empty one, or one it made earlier: choose a new or empty folder "
                "(nothing was changed)",
            )
    folder.mkdir(parents=True, exist_ok=True)
    if marker is None:
        atomic_write_json(folder / MARKER, {"kind": kind, "created_by": command})
        logger.debug("claimed %s as a %s output folder", folder, kind)
    return folder


def record_in_marker(
    folder: str | os.PathLike, key: str, values: Iterable[str], *, replace: bool = False
) -> None:
    """Add ``values`` to the list ``key`` of ``folder``'s marker (or set it, with ``replace``): e.g.
    the files a run wrote, recorded before it changes anything so the next run knows they are ggt's."""
    marker = read_marker(folder) or {}
    old = marker.get(key) if isinstance(marker.get(key), list) else []
    marker[key] = list(values) if replace else list(dict.fromkeys([*old, *values]))
    atomic_write_json(Path(folder) / MARKER, marker)


def check_no_links(folder: str | os.PathLike, relative: Iterable[str], command: str = "ggt") -> None:
    """Refuse when one of the ``relative`` paths inside ``folder`` (or a folder on the way to it)
    is a symlink: ggt would write, move or delete files wherever the link points.

    Raises:
        OutputFolderError: naming the link and where it points.
    """
    folder = Path(folder)
    for rel in relative:
        path = folder
        for part in Path(rel).parts:
            path = path / part
            if path.is_symlink():
                raise OutputFolderError(
                    path,
                    f"is a symlink (to {os.readlink(path)}); {command} never writes through a link "
                    f"into files outside {folder}: replace the link with a real folder or file, or "
                    "choose a new output folder (nothing was changed)",
                )
            if not path.is_dir():
                break


def output_lock(folder: str | os.PathLike, what: str = "output folder") -> FileLock:
    """The exclusive lock of output ``folder`` (not yet taken: use ``with output_lock(f): ...``).

    A second writer is refused with :class:`ggt_hf.files.file_lock.InUseError` ("... in use by PID ...").
    """
    folder = Path(folder)
    return FileLock(folder / LOCK_FILE, what=what, item=folder)
