"""A leaderboard request (one submission in the queue), its states and the store's clock.

Kept apart from :mod:`ggt_hf.leaderboard.store` so the modules the store uses (ownership, rate
limits, votes) can name a request without importing the store.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any


class RequestStatus:
    """The states of a request (strings, as stored in the request files)."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    ALL = (PENDING, RUNNING, FINISHED, FAILED)


def utc_now() -> str:
    """The current UTC time as ISO 8601 (what every store record carries)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def unique_stamp() -> str:
    """A unique, time-ordered stamp (UTC time to the microsecond and a random suffix)."""
    now = datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%S}{now.microsecond:06d}Z-{uuid.uuid4().hex[:8]}"


@dataclass
class Request:
    """One submission in the queue.

    ``kind`` is ``"predictions"`` (a validated zip, extracted under the request folder) or
    ``"model"`` (a registry restorer on the Hub: ``model_repo`` pinned to the commit ``revision``).
    A refused submission is stored FAILED from the start (it counts against the rate limit).
    """

    request_id: str
    kind: str
    model: str
    user: str
    status: str = RequestStatus.PENDING
    submitted_at: str = field(default_factory=utc_now)
    model_repo: str | None = None
    revision: str | None = None
    reason: str | None = None
    result_file: str | None = None
    worker: str | None = None
    history: list[dict[str, str]] = field(default_factory=list)
    #: the account owning the model name's row (:mod:`ggt_hf.leaderboard.ownership`); ``None`` for
    #: refusals and for requests written before rows had owners
    owner: str | None = None

    @classmethod
    def new(
        cls, kind: str, model: str, user: str, model_repo: str | None = None, revision: str | None = None
    ) -> Request:
        """A fresh PENDING request with a unique, time-ordered id."""
        if kind not in ("predictions", "model"):
            raise ValueError(f"unknown request kind {kind!r}")
        request = cls(unique_stamp(), kind, model, user, model_repo=model_repo, revision=revision)
        request.history.append({"status": RequestStatus.PENDING, "time": request.submitted_at})
        return request

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Request:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})
