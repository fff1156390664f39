"""Bradley–Terry on hand-worked and synthetic votes; blind arena pairs that hide system names."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from ggt_hf.leaderboard.arena import Arena
from ggt_hf.leaderboard.votes import InvalidVoteError, Vote, VoteStore, bradley_terry, fit_strengths


def _votes(pairs: list[tuple[str, str, str]]) -> list[Vote]:
    return [Vote(str(i), a, b, w) for i, (a, b, w) in enumerate(pairs)]


def _rating(frame, system: str) -> float:
    return float(frame.set_index("System").loc[system, "Rating"])


def test_hand_worked_two_systems():
    # A beats B 3 times out of 4: p_A / p_B = 3, so the rating gap is 400·log10(3)
    frame = bradley_terry(_votes([("A", "B", "a")] * 3 + [("A", "B", "b")]), bootstrap=0, prior=0)
    assert list(frame["System"]) == ["A", "B"]
    assert _rating(frame, "A") - _rating(frame, "B") == pytest.approx(400 * math.log10(3), abs=1e-6)
    assert _rating(frame, "A") + _rating(frame, "B") == pytest.approx(2000)
    assert frame.iloc[0][["Votes", "Wins", "Losses"]].tolist() == [4, 3, 1]


def test_ties_count_half_and_both_bad_is_excluded():
    # A–B: 1 win + 2 ties for A → A scores 2 of 3, gap 400·log10(2); both_bad changes nothing
    votes = _votes([("A", "B", "a"), ("A", "B", "tie"), ("B", "A", "tie")])
    frame = bradley_terry(votes, bootstrap=0, prior=0)
    assert _rating(frame, "A") - _rating(frame, "B") == pytest.approx(400 * math.log10(2), abs=1e-6)
    more = bradley_terry(votes + _votes([("B", "A", "both_bad")] * 5), bootstrap=0, prior=0)
    assert _rating(more, "A") == pytest.approx(_rating(frame, "A"))
    row = more.set_index("System").loc["A"]
    assert (row["Ties"], row["Both bad"], row["Votes"]) == (2, 5, 8)


def test_a_cycle_is_a_three_way_tie_and_the_prior_keeps_fits_finite():
    frame = bradley_terry(_votes([("A", "B", "a"), ("B", "C", "a"), ("C", "A", "a")]), bootstrap=0, prior=0)
    assert frame["Rating"].tolist() == pytest.approx([1000.0] * 3)
    # an undefeated system: infinite with prior=0, finite and first with the default prior
    frame = bradley_terry(_votes([("A", "B", "a")] * 5), bootstrap=0)
    assert list(frame["System"]) == ["A", "B"] and np.isfinite(frame["Rating"]).all()
    wins = np.array([[0.0, 3.0], [1.0, 0.0]])
    games = np.array([[0.0, 4.0], [4.0, 0.0]])
    assert fit_strengths(wins, games, prior=0) == pytest.approx([math.log(3) / 2, -math.log(3) / 2])


def test_synthetic_votes_recover_the_order_and_the_intervals_cover():
    rng = np.random.default_rng(7)
    true = {"s0": 0.0, "s1": 0.6, "s2": 1.2, "s3": -0.8, "s4": 0.3}
    names = list(true)
    votes = []
    for n in range(1500):
        i, j = rng.choice(len(names), 2, replace=False)
        p = 1 / (1 + math.exp(true[names[j]] - true[names[i]]))
        votes.append(Vote(str(n), names[i], names[j], "a" if rng.random() < p else "b"))
    frame = bradley_terry(votes, bootstrap=200, seed=0)
    assert list(frame["System"]) == sorted(true, key=true.get, reverse=True)
    mean = np.mean(list(true.values()))
    for system, strength in true.items():
        row = frame.set_index("System").loc[system]
        expected = 1000 + 400 * (strength - mean) / math.log(10)
        assert row["CI low"] <= expected <= row["CI high"], (system, expected, row.to_dict())
        assert row["CI low"] < row["Rating"] < row["CI high"]
    again = bradley_terry(votes, bootstrap=200, seed=0)
    assert again.equals(frame)  # seeded


def test_votes_are_validated(tmp_path):
    with pytest.raises(InvalidVoteError, match="winner must be one of"):
        Vote("p", "a", "b", "left")
    with pytest.raises(InvalidVoteError, match="two different systems"):
        Vote("p", "a", "a", "a")
    store = VoteStore(tmp_path)
    store.add(Vote("p", "a", "b", "a"))
    with open(store.shard, "a") as fh:
        fh.write('{"pair_id": "q", "system_a": "a", "system_b": "a", "winner": "a"}\n')
    assert [v.pair_id for v in VoteStore(tmp_path).votes()] == ["p"]  # malformed record skipped
    assert bradley_terry([]).empty


@pytest.fixture
def arena_dirs(tmp_path, photos):
    lq = tmp_path / "lq" / "rain"
    lq.mkdir(parents=True)
    for i in range(3):
        photos[i].resize((32, 32)).save(lq / f"p{i}.png")
    for system, ids in {"alpha": [0, 1, 2], "beta": [0, 1], "gamma": [0]}.items():
        folder = tmp_path / "out" / system
        folder.mkdir(parents=True)
        for i in ids:
            photos[i].resize((32, 32)).rotate(10 * len(system)).save(folder / f"p{i}.png")
    return tmp_path / "out", tmp_path / "lq"


def test_arena_pairs_are_blind_and_votes_resolve_server_side(arena_dirs, tmp_path):
    outputs, lq = arena_dirs
    votes = VoteStore(tmp_path / "votes")
    arena = Arena(outputs, lq, votes=votes, serve_dir=tmp_path / "serve")
    assert arena.systems == ["alpha", "beta", "gamma"] and arena.ids == ["p0", "p1"]  # p2: one system only
    rng = np.random.default_rng(0)
    seen_orders = set()
    for _ in range(30):
        pair = arena.sample(rng)
        shown = " ".join(str(p) for p in (pair.lq, pair.left, pair.right)) + pair.token
        assert not any(s in shown for s in arena.systems)
        left, right = arena.reveal(pair.token)
        assert left != right
        source = np.asarray(Image.open(outputs / left / f"{pair.pair_id}.png").convert("RGB"), dtype=int)
        served = np.asarray(Image.open(pair.left), dtype=int)  # the same picture, ±1 at most
        assert np.abs(served - source).max() == 1
        seen_orders.add((left, right))
        vote = arena.vote(pair.token, "left", user="u1")
        assert (vote.system_a, vote.system_b, vote.winner) == (left, right, "a")
        assert not pair.left.exists()
        with pytest.raises(InvalidVoteError, match="already used"):
            arena.vote(pair.token, "right")
    assert ("alpha", "beta") in seen_orders and ("beta", "alpha") in seen_orders  # order randomised
    assert len(votes.votes()) == 30
    pair = arena.sample(rng)
    assert arena.vote(pair.token, "both_bad").winner == "both_bad"
    with pytest.raises(InvalidVoteError, match="choice must be one of"):
        arena.vote(arena.sample(rng).token, "a")


def test_arena_tokens_expire(arena_dirs, tmp_path):
    arena = Arena(*arena_dirs, ttl_seconds=-1, serve_dir=tmp_path / "serve")
    first = arena.sample()
    arena.sample()  # sampling expires stale tokens
    with pytest.raises(InvalidVoteError, match="unknown, expired"):
        arena.vote(first.token, "tie")


def test_arena_without_two_systems_per_id(tmp_path):
    (tmp_path / "out" / "only").mkdir(parents=True)
    (tmp_path / "lq").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "lq" / "p0.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "out" / "only" / "p0.png")
    with pytest.raises(InvalidVoteError, match="at least two systems"):
        Arena(tmp_path / "out", tmp_path / "lq").sample()
