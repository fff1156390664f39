"""The one answer to "is this argument a local folder or a Hub repo id?".

Datasets, models and benchmarks can be named either way (``--dataset data/ggt`` or
``--dataset me/ggt-100k``), and ``data/ggt`` may be both. One rule, used by every caller:

1. a path that exists on this machine is local (a folder named like a repo id is that folder);
2. text written as a path (absolute, ``./``, ``../``, ``~``, a backslash) is local even when it
   does not exist, so a typo in a path is reported as a missing folder, never sent to the Hub;
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


def resolve_location(text: str | os.PathLike, what: str = "--dataset") -> Location:
    """The :class:`Location` of ``text`` by the module's rule; raises :class:`~ggt_hf.errors.UsageError`
    naming ``what`` and ``text`` when it is neither an existing path nor a Hub repo id."""
    raw = os.fspath(text)
    path = Path(raw)
    if path.exists():
        return Location(raw, path=path)
    repo_id = None if written_as_path(raw) else hub_repo_id(raw)
    if repo_id is None:
        raise UsageError(f"{what} {raw}", not_a_location(raw))
    return Location(raw, repo_id=repo_id)


def not_a_location(text: str) -> str:
    """The reason of every refusal: the folder that is missing and what a repo id looks like."""
    missing = Path(text).resolve()
    if written_as_path(text):
        return f"no such folder ({missing})"
    return f"no such folder ({missing}), and not a Hub repo id ({HUB_ID_RULE})"


def is_hub_id(text: str | os.PathLike | None) -> bool:
    """True when :func:`resolve_location` would send ``text`` to the Hub (not a local path)."""
    if text is None:
        return False
    raw = os.fspath(text)
    return not Path(raw).exists() and not written_as_path(raw) and hub_repo_id(raw) is not None
