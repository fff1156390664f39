"""The per-user submission limit (:mod:`ggt_hf.leaderboard.ratelimit`) on a fake clock: the count
left, the window edge, the "next allowed at" time, naive timestamps, and the invariant that no
window ever holds more than ``max_requests`` accepted submissions."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ggt_hf.leaderboard.ratelimit import RateLimit, RateLimitError, check_rate_limit

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def at(hours_ago: float, user: str = "alice", naive: bool = False) -> SimpleNamespace:
    stamp = NOW - timedelta(hours=hours_ago)
    if naive:
        stamp = stamp.replace(tzinfo=None)
    return SimpleNamespace(user=user, submitted_at=stamp.isoformat())


def test_remaining_counts_only_this_users_requests_inside_the_window():
    limit = RateLimit(max_requests=5, window_hours=24)
    requests = [at(1), at(23.9), at(2, user="bob"), at(25), at(24)]
    # at(24) sits exactly on the window start: outside (the window is (now - 24 h, now])
    assert check_rate_limit(requests, "alice", limit, now=NOW) == 3
    assert check_rate_limit(requests, "bob", limit, now=NOW) == 4
    assert check_rate_limit([], "alice", limit, now=NOW) == 5


def test_the_user_is_matched_by_name_not_by_the_same_string_object():
    """A request file read back and the signed-in account's name are two different strings that
    are equal: the request still counts against that user."""
    stored = json.loads(json.dumps({"user": "alice", "submitted_at": at(1).submitted_at}))
    signed_in = "".join(["ali", "ce"])
    assert stored["user"] is not signed_in
    request = SimpleNamespace(**stored)
    assert check_rate_limit([request], signed_in, RateLimit(max_requests=2, window_hours=24), now=NOW) == 1


def test_limit_reached_names_the_user_the_count_and_the_next_allowed_time():
    limit = RateLimit(max_requests=2, window_hours=10)
    requests = [at(1), at(3), at(9)]  # three inside (possible after a limit change): the oldest frees first
    with pytest.raises(RateLimitError) as info:
        check_rate_limit(requests, "alice", limit, now=NOW)
    # the 2nd-newest (3 h ago) must leave the window before a new one fits: 7 h from now
    next_at = (NOW + timedelta(hours=7)).isoformat(timespec="seconds")
    assert info.value.item == "alice"
    assert info.value.reason == (
        f"rate limit reached: 3 submissions in the last 10 h (limit 2); next one allowed after {next_at}"
    )


def test_a_store_holding_twice_the_limit_frees_a_slot_when_enough_have_left():
    """After the limit is lowered to 2, four recent submissions: three must leave the 10 h window
    before a new one fits, so the next slot opens when the 3rd-oldest (3 h ago) leaves: in 7 h."""
    requests = [at(1), at(3), at(5), at(9)]
    with pytest.raises(RateLimitError) as info:
        check_rate_limit(requests, "alice", RateLimit(max_requests=2, window_hours=10), now=NOW)
    next_at = (NOW + timedelta(hours=7)).isoformat(timespec="seconds")
    assert info.value.reason.endswith(
        f"4 submissions in the last 10 h (limit 2); next one allowed after {next_at}"
    )


def test_max_requests_one_allows_exactly_one_per_window():
    limit = RateLimit(max_requests=1, window_hours=1.5)
    assert check_rate_limit([at(1.5)], "alice", limit, now=NOW) == 1
    with pytest.raises(RateLimitError, match=r"next one allowed after 2026-03-01T13:00:00\+00:00"):
        check_rate_limit([at(0.5)], "alice", limit, now=NOW)


def test_timestamps_with_another_offset_keep_it():
    five_west = timezone(timedelta(hours=-5))
    one_hour_ago = (NOW - timedelta(hours=1)).astimezone(five_west).isoformat()  # 06:00-05:00
    assert (
        check_rate_limit(
            [SimpleNamespace(user="alice", submitted_at=one_hour_ago)], "alice", RateLimit(3, 2), now=NOW
        )
        == 2
    )


def test_naive_timestamps_are_read_as_utc():
    limit = RateLimit(max_requests=3, window_hours=2)
    requests = [at(1, naive=True), at(3, naive=True), at(0.5)]
    assert check_rate_limit(requests, "alice", limit, now=NOW) == 1
    with pytest.raises(RateLimitError, match=r"after 2026-03-01T13:00:00\+00:00"):
        check_rate_limit([at(1, naive=True)], "alice", RateLimit(1, 2), now=NOW)


def test_the_default_clock_is_now_in_utc():
    recent = SimpleNamespace(user="alice", submitted_at=datetime.now(timezone.utc).isoformat())
    old = SimpleNamespace(user="alice", submitted_at="2000-01-01T00:00:00+00:00")
    assert check_rate_limit([recent, old], "alice", RateLimit(3, 1)) == 2


@pytest.mark.parametrize(("max_requests", "window_hours"), [(0, 24), (-1, 24), (1, 0), (1, -0.5), (0, 0)])
def test_a_limit_that_cannot_work_is_refused(max_requests, window_hours):
    with pytest.raises(ValueError) as info:
        RateLimit(max_requests, window_hours)
    assert str(info.value) == "a rate limit needs max_requests >= 1 and window_hours > 0"


def test_the_default_limit_is_five_a_day_and_cannot_be_changed_after_its_check():
    """The documented default (``RateLimit(max_requests=5, window_hours=24)``); a limit is frozen, so
    the values ``__post_init__`` checked are the ones used."""
    assert RateLimit() == RateLimit(max_requests=5, window_hours=24)
    limit = RateLimit()
    with pytest.raises(FrozenInstanceError):
        limit.max_requests = 0
    assert check_rate_limit([at(1)] * 4, "alice", limit, now=NOW) == 1


def test_the_smallest_valid_limit_is_accepted():
    assert RateLimit(1, 0.001).max_requests == 1


@settings(max_examples=60, deadline=None)
@given(
    max_requests=st.integers(1, 4),
    window_hours=st.floats(0.5, 6),
    gaps=st.lists(st.floats(0, 3), min_size=1, max_size=25),
)
def test_no_window_ever_holds_more_than_max_requests(max_requests, window_hours, gaps):
    """Submissions arriving at any times, each accepted only when the check lets it through: every
    window of ``window_hours`` ends up with at most ``max_requests`` of them, and the count left
    that the check reports is exactly what the window still has room for."""
    limit = RateLimit(max_requests, window_hours)
    accepted: list[datetime] = []
    clock = NOW
    for gap in gaps:
        clock += timedelta(hours=gap)
        store = [SimpleNamespace(user="u", submitted_at=t.isoformat()) for t in accepted]
        inside = sum(1 for t in accepted if t > clock - timedelta(hours=window_hours))
        try:
            left = check_rate_limit(store, "u", limit, now=clock)
        except RateLimitError:
            assert inside >= max_requests
            continue
        assert left == max_requests - inside > 0
        accepted.append(clock)
    for t in accepted:
        assert sum(1 for s in accepted if t - timedelta(hours=window_hours) < s <= t) <= max_requests
