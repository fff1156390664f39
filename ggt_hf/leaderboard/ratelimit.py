"""Per-user submission rate limit, counted from the requests store (so it survives restarts).

Every request file records its ``user`` and ``submitted_at``; a user may have at most
``max_requests`` requests submitted within the last ``window_hours``. FAILED requests count too (a
failing submission still costs a worker run). :meth:`ggt_hf.leaderboard.store.LeaderboardStore.add_request`
runs the check and the write under one lock, so parallel submissions cannot slip past it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from ggt_hf.errors import GGTError

if TYPE_CHECKING:
    from ggt_hf.leaderboard.requests import Request


class RateLimitError(GGTError):
    """A user who has used up their submissions for the window."""


@dataclass(frozen=True)
class RateLimit:
    """At most ``max_requests`` submissions per user within ``window_hours``."""

    max_requests: int = 5
    window_hours: float = 24.0

    def __post_init__(self) -> None:
        if self.max_requests < 1 or self.window_hours <= 0:
            raise ValueError("a rate limit needs max_requests >= 1 and window_hours > 0")


def _parse(stamp: str) -> datetime:
    value = datetime.fromisoformat(stamp)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def check_rate_limit(
    requests: Iterable[Request], user: str, limit: RateLimit, now: datetime | None = None
) -> int:
    """How many submissions ``user`` has left; raises :class:`RateLimitError` when none."""
    now = now or datetime.now(timezone.utc)
    start = now - timedelta(hours=limit.window_hours)
    recent = sorted(
        _parse(r.submitted_at) for r in requests if r.user == user and _parse(r.submitted_at) > start
    )
    if len(recent) >= limit.max_requests:
        next_at = recent[len(recent) - limit.max_requests] + timedelta(hours=limit.window_hours)
        raise RateLimitError(
            user,
            f"rate limit reached: {len(recent)} submissions in the last {limit.window_hours:g} h "
            f"(limit {limit.max_requests}); next one allowed after {next_at.isoformat(timespec='seconds')}",
        )
    return limit.max_requests - len(recent)
