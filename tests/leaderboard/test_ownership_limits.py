"""Hostile leaderboard identities and vote floods at the library level: a row belongs to the account
that first submitted the name, votes past an account's limit are not counted, and the arena never
serves two byte-identical copies of an output."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from ggt_hf.leaderboard import LeaderboardStore, leaderboard_frame, submit_predictions
from ggt_hf.leaderboard.arena import Arena
from ggt_hf.leaderboard.ownership import OwnershipError, model_key
from ggt_hf.leaderboard.ratelimit import RateLimit
from ggt_hf.leaderboard.votes import (
    Vote,
    VoteLimit,
    VoteLimitError,
    VoteStore,
    bradley_terry,
    counted_votes,
)


def _result(model: str, psnr: float) -> dict:
    return {"format": "ggt-eval-results", "version": 1, "model": model, "overall": {"psnr": psnr}}


def _finish(store: LeaderboardStore, request, psnr: float) -> None:
    """What the worker writes for a request (its meta, owner included)."""
    meta = {"model": request.model, "model_repo": request.model_repo, "user": request.user}
    store.add_result(_result(request.model, psnr), {**meta, "owner": request.owner})


def test_second_account_cannot_replace_a_row(tmp_path, make_zip, hq_members, expected):
    store = LeaderboardStore(tmp_path / "lb")
    limit = RateLimit(max_requests=10)
    first = submit_predictions(
        store, make_zip(hq_members), model="TeamA-NAFNet", user="teama", expected=expected,
        rate_limit=limit, model_repo="teama/nafnet",
    )  # fmt: skip
    assert first.owner == "teama"
    _finish(store, first, 30.0)
    for name in ("TeamA-NAFNet", "teama-nafnet", "ＴｅａｍＡ-NAFNet "):  # same row: case, width, spaces
        with pytest.raises(OwnershipError, match="belongs to the account 'teama'"):
            submit_predictions(
                store, make_zip(hq_members), model=name, user="mallory", expected=expected,
                rate_limit=limit, model_repo="mallory/evil",
            )  # fmt: skip
    # the refusals are recorded (they count against mallory's limit) and claim nothing
    refused = [r for r in store.requests() if r.user == "mallory"]
    assert len(refused) == 3 and all(r.status == "FAILED" and r.owner is None for r in refused)
    # the owner may replace the row, and so may an admin (the row stays the owner's)
    again = submit_predictions(
        store, make_zip(hq_members), model="TeamA-NAFNet", user="teama", expected=expected, rate_limit=limit
    )
    admin = submit_predictions(
        store, make_zip(hq_members), model="TeamA-NAFNet", user="root", expected=expected,
        rate_limit=limit, admins=["root"],
    )  # fmt: skip
    assert (again.owner, admin.owner) == ("teama", "teama")
    # a result that slipped past (another replica, a copied file) is not shown
    store.add_result(
        _result("TeamA-NAFNet", 99.0), {"model_repo": "mallory/evil", "user": "mallory", "owner": "mallory"}
    )
    table = leaderboard_frame(store.results())
    assert list(table["Model"]) == ["[TeamA-NAFNet](https://huggingface.co/teama/nafnet)"]
    assert table["PSNR↑"].tolist() == [30.0]


def test_rows_from_before_owners_are_admin_only(tmp_path, make_zip, hq_members, expected):
    store = LeaderboardStore(tmp_path / "lb")
    store.add_result(_result("legacy", 25.0), {"model_repo": "old/legacy", "user": "anonymous@1.2.3.4"})
    with pytest.raises(OwnershipError, match="before rows had owners; only an admin"):
        submit_predictions(store, make_zip(hq_members), model="Legacy", user="mallory", expected=expected)
    request = submit_predictions(
        store, make_zip(hq_members), model="legacy", user="root", expected=expected, admins=["root"]
    )
    assert request.owner is None  # stays owned by nobody
    assert model_key(" Legacy\t") == "legacy"


def _flood_arena(tmp_path, photos, limit):
    lq, out = tmp_path / "lq", tmp_path / "out"
    lq.mkdir()
    small = [p.resize((24, 24)) for p in photos[:4]]
    for i in range(10):
        small[i % len(small)].rotate(i).save(lq / f"p{i}.png")
        for k, system in enumerate(("strong", "weak", "mid")):
            (out / system).mkdir(parents=True, exist_ok=True)
            small[i % len(small)].rotate(i + 5 * k).save(out / system / f"p{i}.png")
    votes = VoteStore(tmp_path / "votes")
    return Arena(out, lq, votes=votes, vote_limit=limit, serve_dir=tmp_path / "serve"), votes


def test_150_votes_from_one_account_count_only_up_to_the_limit(tmp_path, photos):
    limit = VoteLimit(max_votes=10, window_hours=24)
    arena, votes = _flood_arena(tmp_path, photos, limit)
    rng = np.random.default_rng(0)
    counted, refused = 0, 0
    for _ in range(150):  # always vote for "weak"
        pair = arena.sample(rng, user="mallory")
        left, right = arena.reveal(pair.token)
        choice = "left" if left == "weak" else "right" if right == "weak" else "tie"
        try:
            arena.vote(pair.token, choice, user="mallory")
            counted += 1
        except VoteLimitError:
            refused += 1
    assert (counted, refused) == (10, 140)
    assert len(votes.votes()) == 10
    # another account still votes; a second vote on one battle does not count
    pair = arena.sample(rng, user="alice")
    vote = arena.vote(pair.token, "left", user="alice")
    twin = next(p for p in (arena.sample(rng) for _ in range(500)) if arena.reveal(p.token) == (
        vote.system_a, vote.system_b) and p.pair_id == vote.pair_id)  # fmt: skip
    with pytest.raises(VoteLimitError, match="already judged"):
        arena.vote(twin.token, "left", user="alice")
    assert len(votes.votes()) == 11


def test_a_stored_flood_moves_the_ranking_only_as_far_as_the_limit(tmp_path):
    honest = [Vote(f"h{i}", "strong", "weak", "a", user=f"u{i}", time=f"2026-01-01T00:{i:02d}:00+00:00")
              for i in range(20)]  # fmt: skip
    flood = [Vote(f"f{i}", "strong", "weak", "b", user="mallory", time=f"2026-01-01T01:{i % 60:02d}:{i // 60:02d}+00:00")
             for i in range(150)]  # fmt: skip
    limit = VoteLimit(max_votes=10, window_hours=24)
    allowed = bradley_terry(honest + flood[:10], bootstrap=0).set_index("System")["Rating"]
    ranked = bradley_terry(counted_votes(honest + flood, limit), bootstrap=0).set_index("System")["Rating"]
    unlimited = bradley_terry(honest + flood, bootstrap=0).set_index("System")["Rating"]
    assert ranked["weak"] == pytest.approx(allowed["weak"])  # not moved past what 10 votes allow
    assert unlimited["weak"] > ranked["weak"] + 100  # what the flood did before
    assert len(counted_votes(honest + flood, limit)) == 30


def test_served_arena_copies_never_share_bytes(tmp_path, photos):
    arena, _ = _flood_arena(tmp_path, photos, None)
    rng = np.random.default_rng(1)
    hashes: dict[str, tuple[str, str]] = {}
    repeats = 0
    for _ in range(60):
        pair = arena.sample(rng)
        left, right = arena.reveal(pair.token)
        for path, system in ((pair.left, left), (pair.right, right)):
            assert not any(s in str(path) for s in ("strong", "weak", "mid")) and path.suffix == ".png"
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            assert digest not in hashes, "a served copy is byte-identical to an earlier one"
            pixels = hashlib.sha256(np.asarray(Image.open(path)).tobytes()).hexdigest()
            assert pixels not in hashes
            hashes[digest] = hashes[pixels] = (pair.pair_id, system)
            with Image.open(path) as img:
                assert not img.info.get("text") and set(img.info) <= {"dpi", "gamma"}
        repeats += 1
    assert repeats == 60 and len(hashes) == 2 * 2 * 60  # 30 outputs served 120 times, all distinct
    # open pairs are capped: the oldest copies are removed first
    arena.max_pending = 5
    for _ in range(12):
        arena.sample(rng)
    assert len([p for p in arena.serve_dir.iterdir()]) == 5
