"""A recording stand-in for ``huggingface_hub.HfApi``: repo files in memory, every call logged,
failures injectable before or after the n-th commit (a process killed mid-upload)."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

from huggingface_hub import CommitOperationAdd, CommitOperationDelete


class Killed(RuntimeError):
    """The injected failure."""


class RecordingHubApi:
    def __init__(
        self, files: dict[str, bytes] | None = None, *, user: str = "me", orgs: tuple[str, ...] = ()
    ):
        self.files: dict[str, bytes] = dict(files or {})
        self.calls: list[tuple[str, dict]] = []
        self.commits: list[dict] = []
        self.added: Counter = Counter()
        self.fail_at: int | None = None
        self.fail_when = "before"
        self.on_commit = None
        self.user, self.orgs = user, orgs

    def fail(self, at: int | None, when: str = "before") -> RecordingHubApi:
        self.fail_at, self.fail_when = at, when
        return self

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))

    def list_repo_files(self, repo_id, **kwargs):
        return sorted(self.files)

    def get_paths_info(self, repo_id, paths, **kwargs):
        return [
            SimpleNamespace(path=p, lfs=SimpleNamespace(sha256=hashlib.sha256(self.files[p]).hexdigest()))
            for p in paths
            if p in self.files
        ]

    def whoami(self, token=None):
        return {"name": self.user, "orgs": [{"name": o} for o in self.orgs]}

    def _read(self, obj) -> bytes:
        return obj if isinstance(obj, bytes) else Path(obj).read_bytes()

    def create_commit(self, repo_id, operations, commit_message="", **kwargs):
        index = len(self.commits)
        if self.on_commit is not None:
            self.on_commit(self, operations)
        if self.fail_at == index and self.fail_when == "before":
            self.fail_at = None
            raise Killed(f"killed before commit {index}")
        for op in operations:
            if isinstance(op, CommitOperationAdd):
                self.files[op.path_in_repo] = self._read(op.path_or_fileobj)
                self.added[op.path_in_repo] += 1
            elif isinstance(op, CommitOperationDelete):
                self.files.pop(op.path_in_repo, None)
        self.commits.append(
            {
                "repo_id": repo_id,
                "message": commit_message,
                "paths": [o.path_in_repo for o in operations],
                **kwargs,
            }
        )
        if self.fail_at == index and self.fail_when == "after":
            self.fail_at = None
            raise Killed(f"killed after commit {index}")
        return SimpleNamespace(commit_url=f"https://hub/{repo_id}/commit/{index}", pr_url=None)

    def upload_file(self, *, path_or_fileobj, path_in_repo, repo_id, create_pr=False, **kwargs):
        self.calls.append(
            (
                "upload_file",
                {"path_in_repo": path_in_repo, "repo_id": repo_id, "create_pr": create_pr, **kwargs},
            )
        )
        pr_url = f"https://hub/{repo_id}/discussions/1" if create_pr else None
        if not create_pr:
            self.files[path_in_repo] = self._read(path_or_fileobj)
        else:
            self.files[f"refs/pr/1:{path_in_repo}"] = self._read(path_or_fileobj)
        return SimpleNamespace(commit_url=f"https://hub/{repo_id}/commit/x", pr_url=pr_url)
