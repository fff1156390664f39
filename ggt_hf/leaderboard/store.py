"""Results, requests and votes stores: a local folder, optionally mirrored to Hub dataset repos.

The layout follows the Open LLM Leaderboard *requests/results* pattern::

    <root>/requests/<request_id>.json                 one file per request, status + history
    <root>/requests/<request_id>/predictions/<id>.png  extracted zip submissions
    <root>/results/<model>/results_<time>_<uid>.json   ggt-eval-results v1 JSON + "leaderboard" block
    <root>/votes/votes.jsonl                          arena votes (see :mod:`ggt_hf.leaderboard.votes`)
    <root>/.locks/                                    file locks (never published)

Safety under concurrent writers (threads, processes, two workers):

* every result gets a unique file name (time + random uid) written atomically
  (:func:`ggt_hf.files.io_utils.atomic_write_json`), so two results never overwrite each other;
* request files are read-modify-written only under one inter-process :class:`filelock.FileLock`,
  which also makes :meth:`LeaderboardStore.claim_next` atomic: two workers never run one request;
* nothing is ever deleted; a request's status changes are appended to its ``history``.

:class:`HubLeaderboardStore` keeps the same local folder as its working copy, pulls the repos with
``snapshot_download`` and publishes each written file with ``upload_file`` (unique names, so
concurrent Spaces never conflict). The token is resolved like :mod:`ggt_hf.hub.push` (``HF_TOKEN`` or
the stored login) and never logged. The atomic claim relies on the local lock, so run the worker on
one machine (the Space or one worker host).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Collection
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from ggt_hf.errors import GGTError
from ggt_hf.files.io_utils import atomic_write_json
from ggt_hf.leaderboard.requests import Request, RequestStatus, unique_stamp, utc_now

if TYPE_CHECKING:
    from huggingface_hub import HfApi

    from ggt_hf.leaderboard.ratelimit import RateLimit
    from ggt_hf.leaderboard.votes import VoteStore

logger = logging.getLogger(__name__)

RESULTS_FORMAT = "ggt-eval-results"


class StoreError(GGTError):
    """A store entry that cannot be written or found."""


def safe_name(text: str) -> str:
    """``text`` as one safe path component (``org/model`` → ``org__model``)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text.replace("/", "__")).strip("._")
    return name[:120] or "unnamed"


class LeaderboardStore:
    """The local-folder store (see the module docstring for the layout and guarantees)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.requests_dir = self.root / "requests"
        self.results_dir = self.root / "results"
        self.votes_dir = self.root / "votes"
        for folder in (self.requests_dir, self.results_dir, self.votes_dir, self.root / ".locks"):
            folder.mkdir(parents=True, exist_ok=True)
        # one lock object per store: reentrant within a thread, exclusive across threads and processes
        self._lock = FileLock(self.root / ".locks" / "requests.lock")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r})"

    def lock(self) -> FileLock:
        """The inter-process lock guarding request files (reentrant within a thread)."""
        return self._lock

    # -- hooks for mirrors ------------------------------------------------------------------------
    def publish(self, path: Path) -> None:
        """Called after ``path`` (a file or folder under the root) was written; local: nothing."""

    def pull(self) -> None:
        """Refresh the working copy from the remote (nothing to do for a local folder)."""

    # -- results ----------------------------------------------------------------------------------
    def add_result(self, result_json: dict[str, Any], meta: dict[str, Any] | None = None) -> str:
        """Write one result (an ``EvalResult.to_json()`` dict) under a unique name; returns its path
        relative to ``results/``. ``meta`` (request id, user, model type, repo, ...) is stored under
        the ``leaderboard`` key."""
        if result_json.get("format") != RESULTS_FORMAT:
            raise StoreError(result_json.get("model", "result"), f"not a {RESULTS_FORMAT} JSON document")
        model = str((meta or {}).get("model") or result_json.get("model") or "unnamed")
        record = {**result_json, "leaderboard": {"submitted_at": utc_now(), **(meta or {}), "model": model}}
        path = self.results_dir / safe_name(model) / f"results_{unique_stamp()}.json"
        atomic_write_json(path, record)
        self.publish(path)
        return path.relative_to(self.results_dir).as_posix()

    def results(self) -> list[dict[str, Any]]:
        """Every readable result, oldest first; unreadable files are skipped with a warning."""
        out = []
        for path in sorted(self.results_dir.glob("*/results_*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                logger.warning("skipping unreadable result %s: %s", path, exc)
                continue
            if data.get("format") == RESULTS_FORMAT:
                data.setdefault("leaderboard", {}).setdefault(
                    "file", path.relative_to(self.results_dir).as_posix()
                )
                out.append(data)
        out.sort(key=lambda d: (d["leaderboard"].get("submitted_at", ""), d["leaderboard"]["file"]))
        return out

    # -- requests ---------------------------------------------------------------------------------
    def _request_path(self, request_id: str) -> Path:
        if safe_name(request_id) != request_id:
            raise StoreError(request_id, "not a valid request id")
        return self.requests_dir / f"{request_id}.json"

    def request_dir(self, request_id: str) -> Path:
        """The folder holding a request's files (its extracted predictions)."""
        return self._request_path(request_id).with_suffix("")

    def _write_request(self, request: Request) -> None:
        path = self._request_path(request.request_id)
        atomic_write_json(path, request.to_json())
        self.publish(path)

    def add_request(
        self,
        request: Request,
        rate_limit: RateLimit | None = None,
        *,
        admins: Collection[str] = (),
        claim: bool = True,
    ) -> Request:
        """Queue ``request``; the rate limit and the model name's ownership are checked and the
        request written under one lock, so concurrent submissions cannot exceed the limit or both
        claim one name.

        With ``claim`` (every accepted submission) the request records the row's owner: the
        submitter for a new name, else the existing owner, and only that account or one of
        ``admins`` may submit under it (:class:`~ggt_hf.leaderboard.ownership.OwnershipError`).
        """
        with self.lock():
            if self._request_path(request.request_id).exists():
                raise StoreError(request.request_id, "a request with this id exists already")
            requests = self.requests()
            if rate_limit is not None:
                from ggt_hf.leaderboard.ratelimit import check_rate_limit

                check_rate_limit(requests, request.user, rate_limit)
            if claim:
                request.owner = self.check_owner(request.model, request.user, admins, requests=requests)
            self._write_request(request)
        logger.info(
            "request %s (%s %s) for %s: %s",
            *(request.request_id, request.kind, request.model, request.user, request.status),
        )
        return request

    def add_refusal(
        self, request: Request, reason: str, rate_limit: RateLimit | None = None
    ) -> Request | None:
        """Record a refused submission as a FAILED request, so it counts against the submitter's
        rate limit; ``None`` (nothing written) when the user has no submissions left anyway."""
        request.status = RequestStatus.FAILED
        request.reason = f"refused: {reason}"
        request.owner = None  # a refusal claims no model name
        request.history.append({"status": RequestStatus.FAILED, "time": utc_now(), "reason": request.reason})
        try:
            self.add_request(request, rate_limit=rate_limit, claim=False)
        except GGTError:  # over the limit already: refused either way, nothing more to count
            return None
        return request

    def check_owner(
        self,
        model: str,
        user: str,
        admins: Collection[str] = (),
        *,
        requests: list[Request] | None = None,
    ) -> str | None:
        """The owner a submission of ``model`` by ``user`` would record; raises
        :class:`~ggt_hf.leaderboard.ownership.OwnershipError` when ``user`` may not replace its row."""
        from ggt_hf.leaderboard.ownership import claim_owner, row_owners

        owners = row_owners(self.requests() if requests is None else requests, self.results())
        return claim_owner(owners, model, user, admins)

    def get_request(self, request_id: str) -> Request:
        """The request ``request_id``; raises :class:`StoreError` when there is none."""
        path = self._request_path(request_id)
        try:
            return Request.from_json(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise StoreError(request_id, "no such request") from None

    def requests(self, status: str | None = None) -> list[Request]:
        """All requests (optionally of one status), oldest first."""
        out = []
        for path in sorted(self.requests_dir.glob("*.json")):
            try:
                request = Request.from_json(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError) as exc:
                logger.warning("skipping unreadable request %s: %s", path, exc)
                continue
            if status is None or request.status == status:
                out.append(request)
        return sorted(out, key=lambda r: (r.submitted_at, r.request_id))

    def _transition(self, request_id: str, expected: tuple[str, ...], status: str, **fields: Any) -> Request:
        with self.lock():
            request = self.get_request(request_id)
            if request.status not in expected:
                raise StoreError(request_id, f"is {request.status}, expected {' or '.join(expected)}")
            request.status = status
            for key, value in fields.items():
                setattr(request, key, value)
            entry = {"status": status, "time": utc_now()}
            if fields.get("reason"):
                entry["reason"] = fields["reason"]
            request.history.append(entry)
            self._write_request(request)
        return request

    def claim_next(self, worker: str) -> Request | None:
        """Atomically move the oldest PENDING request to RUNNING for ``worker``; ``None`` if none."""
        with self.lock():
            pending = self.requests(RequestStatus.PENDING)
            if not pending:
                return None
            return self._transition(
                pending[0].request_id, (RequestStatus.PENDING,), RequestStatus.RUNNING, worker=worker
            )

    def finish(self, request_id: str, result_file: str) -> Request:
        """Mark a RUNNING request FINISHED with the result it produced."""
        return self._transition(
            request_id, (RequestStatus.RUNNING,), RequestStatus.FINISHED, result_file=result_file, reason=None
        )

    def fail(self, request_id: str, reason: str) -> Request:
        """Mark a PENDING or RUNNING request FAILED, keeping the reason."""
        return self._transition(
            request_id, (RequestStatus.PENDING, RequestStatus.RUNNING), RequestStatus.FAILED, reason=reason
        )

    def requeue_stale(self, hours: float, now: datetime | None = None) -> list[Request]:
        """Put RUNNING requests claimed more than ``hours`` ago back to PENDING (a worker that died
        mid-run leaves them behind); returns them."""
        now = now or datetime.now(timezone.utc)
        out = []
        with self.lock():
            for request in self.requests(RequestStatus.RUNNING):
                since = datetime.fromisoformat(request.history[-1]["time"]) if request.history else now
                if (now - since).total_seconds() > hours * 3600:
                    reason = f"requeued: RUNNING on {request.worker} for over {hours:g} h"
                    out.append(
                        self._transition(
                            request.request_id, (RequestStatus.RUNNING,), RequestStatus.PENDING, reason=reason
                        )
                    )
        return out

    # -- votes ------------------------------------------------------------------------------------
    def votes_store(self, kind: type[VoteStore] | None = None) -> VoteStore:
        """The arena votes store of this leaderboard (``kind``: e.g. the study-vote store)."""
        from ggt_hf.leaderboard.votes import VoteStore

        return (kind or VoteStore)(self.votes_dir, on_write=self.publish)


class HubLeaderboardStore(LeaderboardStore):
    """:class:`LeaderboardStore` mirrored to Hub dataset repos.

    Requests and results are uploaded file by file as they are written. Votes go to the requests
    repo under ``votes/`` through a :class:`huggingface_hub.CommitScheduler` (one commit every
    ``votes_every_minutes`` with the changed shards, the documented pattern for append-only data
    collected by a Space), so a busy arena does not make one commit per vote. Call :meth:`close` at
    shutdown to push the last votes. ``api`` defaults to ``HfApi(token=...)``; tests pass a stand-in.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        requests_repo: str,
        results_repo: str,
        api: HfApi | None = None,
        token: str | None = None,
        private: bool = True,
        votes_every_minutes: float = 5.0,
        pull: bool = True,
    ) -> None:
        super().__init__(root)
        from huggingface_hub import HfApi

        from ggt_hf.hub.push import resolve_token

        self.requests_repo = requests_repo
        self.results_repo = results_repo
        self._token = resolve_token(token)
        self.api = api or HfApi(token=self._token)
        self.votes_every_minutes = votes_every_minutes
        self._scheduler = None
        for repo in (requests_repo, results_repo):
            self.api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True, token=self._token)
        if pull:
            self.pull()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r}, {self.requests_repo!r}, {self.results_repo!r})"

    def _target(self, path: Path) -> tuple[str, str]:
        """(repo id, path in repo) of a local path."""
        if path.is_relative_to(self.results_dir):
            return self.results_repo, path.relative_to(self.results_dir).as_posix()
        if path.is_relative_to(self.votes_dir):
            return self.requests_repo, "votes/" + path.relative_to(self.votes_dir).as_posix()
        return self.requests_repo, path.relative_to(self.requests_dir).as_posix()

    def publish(self, path: Path) -> None:
        repo_id, in_repo = self._target(path)
        if path.is_dir():
            self.api.upload_folder(
                folder_path=str(path),
                path_in_repo=in_repo,
                repo_id=repo_id,
                repo_type="dataset",
                token=self._token,
                commit_message=f"Add {in_repo}",
            )
        else:
            self.api.upload_file(
                path_or_fileobj=str(path),
                path_in_repo=in_repo,
                repo_id=repo_id,
                repo_type="dataset",
                token=self._token,
                commit_message=f"Update {in_repo}",
            )

    def votes_store(self, kind: type[VoteStore] | None = None) -> VoteStore:
        """A votes store whose shard is pushed by the store's commit scheduler (started on first use)."""
        from huggingface_hub import CommitScheduler

        from ggt_hf.leaderboard.votes import VoteStore

        if self._scheduler is None:
            self._scheduler = CommitScheduler(
                repo_id=self.requests_repo,
                repo_type="dataset",
                folder_path=self.votes_dir,
                path_in_repo="votes",
                every=self.votes_every_minutes,
                allow_patterns=["votes-*.jsonl", "study-*.jsonl"],
                hf_api=self.api,
            )
        return (kind or VoteStore)(self.votes_dir, lock=self._scheduler.lock)

    def flush_votes(self) -> None:
        """Push the votes written so far now (blocks until the commit is done)."""
        if self._scheduler is not None:
            self._scheduler.trigger().result()

    def close(self) -> None:
        """Push the last votes and stop the scheduler."""
        if self._scheduler is not None:
            self.flush_votes()
            self._scheduler.stop()
            self._scheduler = None

    def pull(self) -> None:
        """Download both repos into the working copy (``snapshot_download``, only changed files)."""
        pulls = (
            (self.requests_repo, self.requests_dir, None, ["votes/*"]),
            (self.requests_repo, self.root, ["votes/*"], None),  # votes live in the requests repo
            (self.results_repo, self.results_dir, None, None),
        )
        for repo_id, folder, allow, ignore in pulls:
            self.api.snapshot_download(
                repo_id=repo_id,
                repo_type="dataset",
                local_dir=str(folder),
                allow_patterns=allow,
                ignore_patterns=ignore,
                token=self._token,
            )


def open_store(
    root: str | os.PathLike,
    *,
    requests_repo: str | None = None,
    results_repo: str | None = None,
    api: HfApi | None = None,
    token: str | None = None,
) -> LeaderboardStore:
    """A local store at ``root``, mirrored to the Hub when both repo ids are given."""
    if requests_repo or results_repo:
        if not (requests_repo and results_repo):
            raise StoreError("store", "a Hub store needs both a requests repo and a results repo")
        return HubLeaderboardStore(
            root, requests_repo=requests_repo, results_repo=results_repo, api=api, token=token
        )
    return LeaderboardStore(root)
