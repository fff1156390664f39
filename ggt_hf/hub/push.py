"""``ggt push``: publish a packed dataset folder to the Hugging Face Hub.

Uploads go through ``huggingface_hub.HfApi.upload_folder``, which (since huggingface_hub 1.x)
uploads large folders in streamed, resumable, multi-commit batches; re-running an interrupted
push re-sends only what the Hub does not have yet. Shards that a repack removed are deleted on the
Hub in the same commit (``delete_patterns``), so the remote folder equals the local one.

The token comes from ``HF_TOKEN`` or the stored ``hf auth login`` token, never from a flag that
would end up in shell history; it is never logged. Without a token the push is refused with a
clear message. ``dry_run=True`` lists exactly the files that would be sent and contacts no server.
Only regular files are sent: a folder holding any symlink is refused before anything is sent (a
link could point anywhere, e.g. ``notes.txt -> /etc/passwd``), naming the links. A hand-edited card
that ``ggt pack`` kept aside (``README.user.md``, ``eval.user.yaml``) is the user's and is not sent.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import HfApi, get_token

from ggt_hf.constants import HubLayout
from ggt_hf.errors import DatasetValidationError, GGTError
from ggt_hf.files.walk import walk_files
from ggt_hf.hub.card import ASIDE_PATTERNS
from ggt_hf.hub.validate import validate_folder

logger = logging.getLogger(__name__)

#: Local files never sent (staging folders, OS junk, caches, hand edits pack kept aside).
IGNORE_PATTERNS = [".*", "**/.*", "**/__pycache__/**", "*.tmp", *ASIDE_PATTERNS]
#: Remote files removed when absent locally (stale shards of an earlier pack).
DELETE_PATTERNS = [f"{subset}/**" for subset in HubLayout.SUBSETS]


class PushError(GGTError):
    """The push cannot go ahead (no token, invalid folder)."""


@dataclass
class PushPlan:
    """What a push sends."""

    repo_id: str
    revision: str | None
    private: bool
    files: list[tuple[str, int]] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)

    def describe(self) -> str:
        """Human-readable list of the files and the target."""
        lines = [
            f"would upload {len(self.files)} file(s), {self.total_bytes / 1e6:.1f} MB, to dataset "
            f"{self.repo_id}@{self.revision or 'main'} ({'private' if self.private else 'public'}), "
            f"deleting remote files matching {', '.join(DELETE_PATTERNS)} that are not listed:"
        ]
        lines += [f"  {path}  ({size:,} bytes)" for path, size in self.files]
        return "\n".join(lines)


def plan_push(
    folder: str | Path, repo_id: str, *, revision: str | None = None, private: bool = False
) -> PushPlan:
    """The files of ``folder`` a push would send (hidden files and temporaries excluded).

    Only regular files are sent. Any symlink (to a file or folder, inside or outside ``folder``) or
    other non-regular entry is refused before anything is sent: a link such as
    ``notes.txt -> /etc/passwd`` would otherwise upload what it points to.

    Raises:
        PushError: naming every refused entry; copy the real files in instead.
    """
    folder = Path(folder)
    walk = walk_files(folder, links=False)
    if walk.problems:
        listed = "; ".join(f"{os.path.relpath(p.path, folder)}: {p.reason}" for p in walk.problems[:10])
        raise PushError(
            folder,
            f"{len(walk.problems)} entr{'y' if len(walk.problems) == 1 else 'ies'} refused, nothing sent "
            f"(only regular files inside the folder are uploaded; replace links by the real files): {listed}",
        )
    files = []
    for path in sorted(walk.files):
        rel = path.relative_to(folder)
        if "__pycache__" in rel.parts or path.suffix == ".tmp":
            continue
        if len(rel.parts) == 1 and any(fnmatch.fnmatchcase(rel.name, p) for p in ASIDE_PATTERNS):
            logger.warning("not sent: %s (a hand-edited file ggt pack kept aside; it is yours)", rel)
            continue
        files.append((rel.as_posix(), path.stat().st_size))
    return PushPlan(repo_id=repo_id, revision=revision, private=private, files=files)


def resolve_token(token: str | None = None) -> str:
    """The token to push with (argument, ``HF_TOKEN`` or stored login); raises :class:`PushError`."""
    token = token or get_token()
    if not token:
        raise PushError(
            "Hugging Face token",
            "no token found: set the HF_TOKEN environment variable or run `hf auth login` (needs write access)",
        )
    return token


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    dry_run: bool = False,
    check: bool = True,
    token: str | None = None,
    api: HfApi | None = None,
) -> PushPlan:
    """Validate ``folder`` and upload it to the dataset repo ``repo_id``; returns the plan sent.

    Raises:
        DatasetValidationError: when ``check`` and :func:`validate_folder` finds problems.
        PushError: when no token is available (not raised for ``dry_run``).
    """
    folder = Path(folder)
    if check:
        problems = validate_folder(folder, progress=False)
        if problems:
            listed = "; ".join(str(p) for p in problems[:5])
            raise DatasetValidationError(
                folder, f"{len(problems)} problem(s), fix them or pass --no-check: {listed}"
            )
    plan = plan_push(folder, repo_id, revision=revision, private=private)
    if dry_run:
        return plan
    token = resolve_token(token)
    api = api or HfApi()
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True, token=token)
    if revision and revision != "main":
        api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True, token=token)
    info = api.upload_folder(
        repo_id=repo_id,
        folder_path=folder,
        repo_type="dataset",
        revision=revision,
        commit_message=f"Upload GGT dataset ({len(plan.files)} files) with ggt-hf",
        ignore_patterns=IGNORE_PATTERNS,
        delete_patterns=DELETE_PATTERNS,
        token=token,
    )
    logger.info("pushed %s to %s: %s", folder, repo_id, getattr(info, "commit_url", info))
    return plan
