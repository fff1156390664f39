"""The arena's vote store, its per-account limits and the Bradley–Terry fit, unit by unit: hostile
records, every limit and refusal, tallies, shards of concurrent writers, and the fit's optimality."""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ggt_hf.leaderboard.votes import (
    RANKING_COLUMNS,
    InvalidVoteError,
    Vote,
    VoteLedger,
    VoteLimit,
    VoteLimitError,
    VoteStore,
    bradley_terry,
    counted_votes,
    fit_strengths,
)

T0 = "2026-01-01T00:00:00+00:00"


def at(seconds: float) -> str:
    """The ISO time ``seconds`` after :data:`T0`."""
    from datetime import datetime, timedelta

    return (datetime.fromisoformat(T0) + timedelta(seconds=seconds)).isoformat()


def vote(pair="p", a="A", b="B", winner="a", user="u", seconds=0.0) -> Vote:
    return Vote(pair, a, b, winner, user=user, time=at(seconds))


# --- records -------------------------------------------------------------------------------------


def test_refusals_name_the_image_and_the_reason():
    with pytest.raises(InvalidVoteError) as caught:
        Vote("img7", "A", "B", "left")
    assert caught.value.item == "img7" and "winner must be one of" in caught.value.reason
    with pytest.raises(InvalidVoteError) as caught:
        Vote("img7", "A", "A", "a")
    assert (
        caught.value.item == "img7"
        and caught.value.reason == "a vote needs two different systems, got 'A' twice"
    )


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("system_a", ["x"], "system_a must be a text, got ['x']"),
        ("system_b", {"b": 1}, "system_b must be a text, got {'b': 1}"),
        ("pair_id", 3, "pair_id must be a text, got 3"),
        ("winner", None, "winner must be a text, got None"),
        ("user", None, "user must be a text, got None"),
        ("time", 5, "time must be a text, got 5"),
        ("time", "soon", "time must be an ISO 8601 time, got 'soon'"),
    ],
)
def test_a_record_with_a_wrong_field_is_refused(field, value, reason):
    record = {**vote().to_json(), field: value}
    with pytest.raises(InvalidVoteError) as caught:
        Vote.from_json(record)
    assert caught.value.reason == reason
    assert caught.value.item == str(record["pair_id"])


def test_hostile_records_in_a_shard_are_skipped_and_named_and_the_ranking_still_works(tmp_path, caplog):
    """Each of these records crashed the listing or the ranking before (an unhashable system, a
    numeric time that cannot be sorted with the others, a time the vote limit cannot read)."""
    store = VoteStore(tmp_path)
    store.add(vote())
    hostile = [
        {**vote().to_json(), "system_a": ["x"]},
        {**vote().to_json(), "time": 5},
        {**vote().to_json(), "time": "soon"},
        {"pair_id": "q"},
    ]
    with open(store.shard, "a") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in hostile)
    with caplog.at_level(logging.WARNING, logger="ggt_hf.leaderboard.votes"):
        votes = VoteStore(tmp_path).votes()
    assert votes == [vote()]
    assert len(counted_votes(votes, VoteLimit())) == 1
    assert list(bradley_terry(votes, bootstrap=0)["System"]) == ["A", "B"]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 4
    assert messages[0] == (
        f"{store.shard}: skipping malformed vote {hostile[0]!r} (p: system_a must be a text, got ['x'])"
    )
    assert messages[3].startswith(f"{store.shard}: skipping malformed vote {{'pair_id': 'q'}} (")
    assert "missing" in messages[3]


def test_a_damaged_line_in_a_shard_is_named_and_the_votes_around_it_still_count(tmp_path, caplog):
    """A shard is the Space's own append-only file, but a disk or a sync can still damage one line:
    that line is skipped with its file and number, never the whole arena."""
    store = VoteStore(tmp_path)
    store.add(vote())
    with open(store.shard, "ab") as fh:
        fh.write(b'{"pair_id": "p", "wi\xff\n')
    later = vote(seconds=60.0)
    store.add(later)
    with caplog.at_level(logging.WARNING, logger="ggt_hf.leaderboard.votes"):
        votes = VoteStore(tmp_path).votes()
    assert votes == [vote(), later]
    assert [r.getMessage() for r in caplog.records] == [
        f"{store.shard}:2: corrupt JSON line (not UTF-8): skipping it"
    ]


def test_extra_fields_of_a_record_are_ignored():
    assert Vote.from_json({**vote().to_json(), "ip": "1.2.3.4"}) == vote()


# --- the store -----------------------------------------------------------------------------------


def test_a_store_creates_its_folder_and_reports_each_write(tmp_path):
    written = []
    store = VoteStore(tmp_path / "new" / "votes", on_write=written.append)
    assert re.fullmatch(r"votes-[0-9a-f]{12}\.jsonl", store.shard.name)
    store.add(vote())
    store.add(vote("q"))
    assert written == [store.shard, store.shard]
    assert [v.pair_id for v in store.votes()] == ["p", "q"]


def test_writers_never_share_a_shard_and_a_reader_merges_them_in_time_order(tmp_path):
    first, second = VoteStore(tmp_path), VoteStore(tmp_path)
    assert first.shard != second.shard
    second.add(vote("late", seconds=60))
    first.add(vote("early", seconds=0))
    second.add(vote("middle", seconds=30))
    assert [v.pair_id for v in VoteStore(tmp_path).votes()] == ["early", "middle", "late"]
    assert sorted(p.name for p in tmp_path.glob("votes-*.jsonl")) == sorted(
        [first.shard.name, second.shard.name]
    )


def test_threads_of_one_store_never_lose_or_tear_a_vote(tmp_path):
    store = VoteStore(tmp_path)
    start = threading.Barrier(8)

    def cast(n: int) -> None:
        start.wait()
        for i in range(25):
            store.add(vote(f"t{n}-{i}", user=f"u{n}", seconds=i))

    threads = [threading.Thread(target=cast, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = store.shard.read_text().splitlines()
    assert len(lines) == 200 and all(json.loads(line)["winner"] == "a" for line in lines)
    assert len({v.pair_id for v in store.votes()}) == 200


def test_a_given_lock_guards_every_write(tmp_path):
    """The uploader's lock (``CommitScheduler.lock``) is held while a vote is written and published."""
    lock = threading.Lock()
    held = []
    store = VoteStore(tmp_path, on_write=lambda shard: held.append(lock.locked()), lock=lock)
    store.add(vote())
    assert held == [True] and not lock.locked()


# --- limits --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_votes", "window_hours"), [(0, 24), (-1, 24), (1, 0), (1, -1), (math.nan, 24), (1, math.nan)]
)
def test_a_limit_needs_a_positive_count_and_window(max_votes, window_hours):
    with pytest.raises(
        ValueError, match=f"^{re.escape('a vote limit needs max_votes >= 1 and window_hours > 0')}$"
    ):
        VoteLimit(max_votes=max_votes, window_hours=window_hours)


def test_the_smallest_limit_is_one_vote_in_any_short_window():
    ledger = VoteLedger(VoteLimit(max_votes=1, window_hours=0.5))
    assert ledger.admit(vote("p1"))
    assert not ledger.admit(vote("p2", seconds=1799))
    assert ledger.admit(vote("p3", seconds=1800))  # exactly one window later: the first has left it


def test_a_vote_exactly_one_window_later_counts_and_one_second_earlier_does_not():
    ledger = VoteLedger(VoteLimit(max_votes=2, window_hours=24))
    assert ledger.admit(vote("p1", seconds=0)) and ledger.admit(vote("p2", seconds=10))
    with pytest.raises(VoteLimitError) as caught:
        ledger.check(vote("p3", seconds=24 * 3600 - 1))
    assert caught.value.item == "u"
    assert caught.value.reason == (
        "not counted: vote limit reached (2 votes per account in 24 h); try again later"
    )
    assert ledger.admit(vote("p3", seconds=24 * 3600))
    assert not ledger.admit(vote("p4", seconds=24 * 3600 + 9))
    assert ledger.admit(vote("p4", seconds=24 * 3600 + 10))


def test_one_vote_per_battle_in_either_order_and_each_account_has_its_own_limit():
    ledger = VoteLedger(VoteLimit(max_votes=5, window_hours=1))
    assert ledger.admit(vote("p", "A", "B"))
    assert ledger.judged("u", ("p", "A", "B")) and not ledger.judged("v", ("p", "A", "B"))
    with pytest.raises(VoteLimitError) as caught:
        ledger.check(vote("p", "B", "A", winner="tie", seconds=7200))  # same battle, sides swapped
    assert caught.value.item == "p"
    assert caught.value.reason == "not counted: this account has already judged this comparison"
    assert ledger.admit(vote("p", "A", "C")) and ledger.admit(vote("q", "A", "B"))  # other battles
    assert ledger.admit(vote("p", "A", "B", user="v"))  # another account


def test_a_refused_vote_uses_up_nothing():
    ledger = VoteLedger(VoteLimit(max_votes=1, window_hours=1))
    assert ledger.admit(vote("p1"))
    for n in range(5):
        assert not ledger.admit(vote(f"x{n}", seconds=60 + n))
    assert ledger.admit(vote("p2", seconds=3600))  # the refusals did not extend the window
    assert not ledger.judged("u", vote("x0").battle)


def test_stored_votes_count_in_time_order_up_to_the_limit():
    votes = [vote(f"p{i}", seconds=3600 - 60 * i) for i in range(6)]  # stored newest first
    assert counted_votes(votes, None) == sorted(votes, key=lambda v: v.time)
    counted = counted_votes(votes, VoteLimit(max_votes=4, window_hours=2))
    assert [v.pair_id for v in counted] == ["p5", "p4", "p3", "p2"]


def test_naive_times_are_utc_whatever_the_servers_time_zone(monkeypatch):
    """A record without an offset (older stores) is read as UTC, not as the server's local time."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is POSIX only")
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        ledger = VoteLedger(VoteLimit(max_votes=1, window_hours=24))
        assert ledger.admit(Vote("p1", "A", "B", "a", user="u", time="2026-01-01T00:00:00"))
        assert not ledger.admit(Vote("p2", "A", "B", "a", user="u", time="2026-01-01T23:59:59+00:00"))
        # an offset is honoured: 01:00 at +02:00 is 23:00 UTC the day before
        assert not ledger.admit(Vote("p3", "A", "B", "a", user="u", time="2026-01-02T01:00:00+02:00"))
        assert ledger.admit(Vote("p4", "A", "B", "a", user="u", time="2026-01-02T02:00:00+02:00"))
    finally:
        monkeypatch.undo()
        time.tzset()


# --- the ranking ---------------------------------------------------------------------------------


def test_tallies_of_both_sides():
    votes = [
        vote("1", "A", "B", "b"),
        vote("2", "A", "B", "b"),
        vote("3", "B", "A", "a"),
        vote("4", "C", "B", "tie"),
    ]
    frame = bradley_terry([*votes, vote("5", "B", "C", "both_bad")], bootstrap=0).set_index("System")
    tallies = frame[["Votes", "Wins", "Losses", "Ties", "Both bad"]].to_dict("index")
    assert tallies == {
        "A": {"Votes": 3, "Wins": 0, "Losses": 3, "Ties": 0, "Both bad": 0},
        "B": {"Votes": 5, "Wins": 3, "Losses": 0, "Ties": 1, "Both bad": 1},
        "C": {"Votes": 2, "Wins": 0, "Losses": 0, "Ties": 1, "Both bad": 1},
    }


def test_a_tie_is_half_a_win_whichever_side_it_is_recorded_on():
    # A and B each win once and tie once (A on side a): equal strengths, 1000 each
    frame = bradley_terry(
        [vote("1", "A", "B", "a"), vote("2", "A", "B", "b"), vote("3", "A", "B", "tie")], bootstrap=0, prior=0
    )
    assert frame["Rating"].tolist() == pytest.approx([1000.0, 1000.0])


def test_equal_ratings_rank_by_name_and_ranks_count_from_one():
    frame = bradley_terry([vote("1", "C", "A", "both_bad"), vote("2", "B", "A", "both_bad")], bootstrap=0)
    assert list(frame.columns) == RANKING_COLUMNS
    assert list(frame["System"]) == ["A", "B", "C"] and list(frame["Rank"]) == [1, 2, 3]
    assert frame["Rating"].tolist() == [1000.0, 1000.0, 1000.0]
    assert list(bradley_terry([]).columns) == RANKING_COLUMNS


def test_ratings_average_1000_with_the_prior():
    votes = [vote(str(i), "A", "B", "a") for i in range(5)] + [
        vote("x", "B", "C", "a"),
        vote("y", "A", "C", "a"),
    ]
    ratings = bradley_terry(votes, bootstrap=0)["Rating"]
    assert ratings.mean() == pytest.approx(1000.0) and ratings.is_monotonic_decreasing


def test_documented_defaults():
    votes = [vote(str(i), "A", "B", "a" if i % 3 else "b") for i in range(9)] + [vote("c", "B", "C", "a")]
    assert bradley_terry(votes).equals(
        bradley_terry(votes, bootstrap=200, seed=0, confidence=0.95, prior=0.5)
    )
    wins, games = np.array([[0.0, 3.0], [1.0, 0.0]]), np.array([[0.0, 4.0], [4.0, 0.0]])
    assert fit_strengths(wins, games) == pytest.approx(fit_strengths(wins, games, prior=0.5), abs=1e-12)


def test_without_bootstrap_the_interval_is_nan():
    frame = bradley_terry([vote()], bootstrap=0)
    assert all(math.isnan(v) for v in (*frame["CI low"], *frame["CI high"]))


def test_when_every_resample_is_the_data_the_interval_is_the_rating():
    """Identical votes: each bootstrap resample is the data, so its fit (with the same prior) is the
    rating itself — also with one resample and a prior other than the default."""
    votes = [vote(str(i), "A", "B", "a") for i in range(6)]
    for bootstrap, prior in ((1, 0.5), (20, 2.0)):
        frame = bradley_terry(votes, bootstrap=bootstrap, prior=prior)
        assert frame["CI low"].tolist() == pytest.approx(frame["Rating"].tolist())
        assert frame["CI high"].tolist() == pytest.approx(frame["Rating"].tolist())


def test_a_zero_confidence_interval_is_the_bootstrap_median():
    votes = [vote(str(i), "A", "B", "a" if i % 3 else "b") for i in range(30)]
    point = bradley_terry(votes, bootstrap=51, confidence=0.0)
    assert point["CI low"].tolist() == pytest.approx(point["CI high"].tolist())
    wide = bradley_terry(votes, bootstrap=51, confidence=0.95)
    assert (wide["CI low"] < point["CI low"]).all() and (point["CI high"] < wide["CI high"]).all()


def _stationary(theta: np.ndarray, wins: np.ndarray, games: np.ndarray, prior: float) -> np.ndarray:
    """The gradient of the documented model's log-likelihood at the fit, shifted back from mean zero.

    Model: ``P(i beats j) = p_i / (p_i + p_j)`` with ``p = exp(theta)``, plus ``prior`` ties of each
    system against a reference of strength 1. The fit is returned centred; with a prior the optimum
    sits at ``theta + c`` for the one ``c`` at which the prior's terms balance (found by bisection).
    """

    def gradient(t: np.ndarray) -> np.ndarray:
        p = np.exp(t)
        beats = p[:, None] / (p[:, None] + p[None, :])
        beats_reference = p / (p + 1.0)
        return wins.sum(axis=1) - (games * beats).sum(axis=1) + prior * (0.5 - beats_reference)

    lo, hi = -60.0, 60.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if gradient(theta + mid).sum() > 0 else (lo, mid)
    return gradient(theta + (lo + hi) / 2)


@st.composite
def _results(draw):
    k = draw(st.integers(2, 5))
    counts = st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 7.0, 50.0, 1000.0, 1e5])
    wins = np.array([[0.0 if i == j else draw(counts) for j in range(k)] for i in range(k)])
    return wins, draw(st.sampled_from([0.05, 0.5, 2.0, 20.0]))


@settings(max_examples=150, deadline=None)
@given(_results())
def test_the_fit_is_the_maximum_of_the_stated_likelihood(case):
    """For any wins (ties as halves, up to 100 000 votes a pair) and any positive prior, the
    strengths are the model's maximum-likelihood fit (zero gradient) with mean zero."""
    wins, prior = case
    games = wins + wins.T
    theta = fit_strengths(wins, games, prior=prior)
    assert abs(theta.mean()) < 1e-9
    assert np.abs(_stationary(theta, wins, games, prior)).max() <= 1e-8 * (1.0 + games.sum())


#: Fits checked to 1e-9 of the votes: a single vote (default prior), a strong prior, a sparse board
#: with a weak prior, and extreme counts whose first Newton steps overshoot (the line search acts).
HARD_FITS = [
    ([[0, 1], [0, 0]], 0.5),
    ([[0, 3], [1, 0]], 20.0),
    (
        [[0, 1e5, 3, 0.5, 1e5], [2, 0, 3, 3, 2], [7, 7, 0, 2, 1], [1, 0, 1e5, 0, 7], [0, 0, 1e5, 1e5, 0]],
        0.05,
    ),
    ([[0, 1e5, 0.5, 0], [1e5, 0, 0, 0], [3, 0, 0, 1], [0, 1000, 0, 0]], 0.5),
    ([[0, 1e5, 0.5, 0], [1e5, 0, 0, 0], [3, 0, 0, 1], [0, 1000, 0, 0]], 5.0),
]


@pytest.mark.parametrize(("wins", "prior"), HARD_FITS)
def test_hard_fits_reach_the_maximum(wins, prior):
    wins = np.array(wins, dtype=float)
    games = wins + wins.T
    theta = fit_strengths(wins, games, prior=prior)
    assert np.abs(_stationary(theta, wins, games, prior)).max() <= 1e-9 * (1.0 + games.sum())


def test_hostile_records_in_a_study_shard_are_skipped_too(tmp_path, caplog):
    """The best-of-N study's store shares the vote store's reader: ``"time": 5`` crashed its
    listing (sorting an int with texts), ``"shown": "ab"`` counted letters as systems."""
    from ggt_hf.leaderboard.study import StudyStore, StudyVote

    store = StudyStore(tmp_path)
    good = StudyVote("p", ("A", "B"), "A", "u", at(0))
    store.add(good)
    hostile = [
        {**good.to_json(), "time": 5},
        {**good.to_json(), "time": "soon"},
        {**good.to_json(), "choice": ["A"]},
        {**good.to_json(), "shown": "AB", "choice": "A"},
        {**good.to_json(), "shown": [1, 2], "choice": 1},
    ]
    with open(store.shard, "a") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in hostile)
    with caplog.at_level(logging.WARNING, logger="ggt_hf.leaderboard.votes"):
        assert StudyStore(tmp_path).votes() == [good]
    assert len([r for r in caplog.records if "skipping malformed vote" in r.getMessage()]) == len(hostile)
