"""The one answer to "is this argument a local folder or a Hub repo id?".

Datasets, models and benchmarks can be named either way (``--dataset data/ggt`` or
``--dataset me/ggt-100k``), and ``data/ggt`` may be both. One rule, used by every caller:

1. a path that exists on this machine is local (a folder named like a repo id is that folder);
2. text written as a path (absolute, ``./``, ``../``, ``~``, a backslash) is local even when it
   does not exist, so a typo in a path is reported as a missing folder, never sent to the Hub;
   so is text whose first component is a folder in the current directory (``demo_out/dataset``
   where ``demo_out/`` exists, :func:`under_local_folder`): a path in that folder, not the Hub repo
   of a namespace ``demo_out`` (to use such a Hub repo, run from a folder without ``demo_out/``);
   the refusal names the path one folder down when it exists (``demo_out/build/dataset``);
3. otherwise a Hub repo id ``namespace/name``, as :func:`huggingface_hub.utils.validate_repo_id`
   accepts it (letters, digits, ``-``, ``_``, ``.``; at most 96 characters; no ``--`` or ``..``;
   not ending in ``.git``), is the Hub repo;
4. anything else is refused with one message, :func:`not_a_location` (a
   :class:`~ggt_hf.errors.UsageError`).

``~`` is not expanded here (the shell does it; every reader then opens the same text).

No caller takes a ``@revision`` suffix: ``org/name@rev`` is not a repo id and is refused (the
leaderboard pins revisions itself).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ggt_hf.errors import UsageError

#: What a Hub repo id looks like (the one error message of every refusal below).
HUB_ID_RULE = (
    "a Hub repo id is namespace/name: letters, digits, '-', '_' and '.', at most 96 characters, "
    "no '--' or '..'"
)


@dataclass(frozen=True)
class Location:
    """Where an argument points: a local ``path`` or a Hub ``repo_id`` (exactly one is set)."""

    text: str
    path: Path | None = None
    repo_id: str | None = None

    @property
    def is_hub(self) -> bool:
        return self.repo_id is not None


def hub_repo_id(text: str | os.PathLike | None) -> str | None:
    """``text`` when it is a Hub repo id ``namespace/name`` (:func:`huggingface_hub.utils.validate_repo_id`),
    else ``None``. Looks at the text only, never at the filesystem (for ids that may not name a path,
    e.g. a visitor's submission)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if not isinstance(text, str) or text.count("/") != 1:
        return None
    try:
        validate_repo_id(text)
    except HFValidationError:
        return None
    return text


def written_as_path(text: str) -> bool:
    """True for text that can only mean a path: absolute, ``~``, ``.``/``..``-relative, a backslash."""
    return (
        os.path.isabs(text)
        or text.startswith(("~", "./", "../", ".\\", "..\\"))
        or text in (".", "..")
        or "\\" in text
    )


def under_local_folder(text: str) -> bool:
    """True for relative text ``head/...`` whose ``head`` is a folder in the current directory: it
    names a path in that folder (``demo_out/dataset`` after ``ggt demo demo_out``), even when that
    path does not exist."""
    head, slash, _ = text.partition("/")
    return bool(slash and head) and not written_as_path(text) and os.path.isdir(head)


def _hub_candidate(raw: str) -> str | None:
    """Rules 1–3 of the module: the Hub repo id ``raw`` names, or ``None`` when it is local or
    not a repo id. The one place both :func:`resolve_location` and :func:`is_hub_id` decide."""
    if Path(raw).exists() or written_as_path(raw) or under_local_folder(raw):
        return None
    return hub_repo_id(raw)


def resolve_location(text: str | os.PathLike, what: str = "--dataset") -> Location:
    """The :class:`Location` of ``text`` by the module's rule; raises :class:`~ggt_hf.errors.UsageError`
    naming ``what`` and ``text`` when it is neither an existing path nor a Hub repo id."""
    raw = os.fspath(text)
    path = Path(raw)
    if path.exists():
        return Location(raw, path=path)
    repo_id = _hub_candidate(raw)
    if repo_id is None:
        raise UsageError(f"{what} {raw}", not_a_location(raw))
    return Location(raw, repo_id=repo_id)


#: Entries of a folder looked at for a "did you mean" (a huge folder costs no more than this).
_MAX_NEARBY_ENTRIES = 1000


def one_folder_down(text: str) -> list[str]:
    """Existing paths that ``text`` (a missing path) names with one more folder after its deepest
    existing folder: ``demo_out/build/dataset`` for ``demo_out/dataset``. Sorted, at most three."""
    parts = Path(text).parts
    depth = max((k for k in range(1, len(parts)) if Path(*parts[:k]).is_dir()), default=0)
    if not depth:
        return []
    folder, tail = Path(*parts[:depth]), Path(*parts[depth:])
    found = []
    try:
        with os.scandir(folder) as entries:
            for _, entry in zip(range(_MAX_NEARBY_ENTRIES), entries, strict=False):
                if entry.is_dir() and (folder / entry.name / tail).exists():
                    found.append((folder / entry.name / tail).as_posix())
    except OSError:  # unreadable folder: no suggestion
        return []
    return sorted(found)[:3]


def not_a_location(text: str) -> str:
    """The reason of every refusal: the folder that is missing (and an existing path one folder down
    it may mean) and, for text that is not a path, what a repo id looks like."""
    reason = f"no such folder ({Path(text).resolve()})"
    if nearby := one_folder_down(text):
        reason += f"; did you mean {' or '.join(nearby)}?"
    if written_as_path(text):
        return reason
    if under_local_folder(text):
        head = text.partition("/")[0]
        note = f"{head}/ is a folder here, so this names a path in it"
        if hub_repo_id(text):
            note += f"; to use the Hub repo {text}, run from a folder without {head}/"
        return f"{reason} ({note})"
    return f"{reason}, and not a Hub repo id ({HUB_ID_RULE})"


def is_hub_id(text: str | os.PathLike | None) -> bool:
    """True when :func:`resolve_location` would send ``text`` to the Hub (not a local path)."""
    if text is None:
        return False
    return _hub_candidate(os.fspath(text)) is not None
