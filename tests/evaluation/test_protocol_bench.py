"""Table 1 from the command line: bench-mfm systems with model ids and strategies checked up front,
--real or --clean alone, and the best-of-N human study feeding the Human column."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ggt_hf.cli import main


@pytest.fixture
def work(user_cwd, photos):
    """A working folder with real/ (noisy real photos) and clean/ (clean photos), 64² each."""
    tmp_path = user_cwd
    for folder in ("real", "clean"):
        (tmp_path / folder).mkdir()
    for i, photo in enumerate(photos[:2]):
        small = photo.resize((64, 64))
        small.save(tmp_path / "clean" / f"c{i}.png")
        noisy = np.asarray(small).astype(float) + np.random.default_rng(i).normal(0, 20, (64, 64, 3))
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(tmp_path / "real" / f"r{i}.png")
    return tmp_path


def test_real_alone_and_clean_alone(work, capsys):
    args = "bench-mfm --system identity --system classical=cls --no-plots --max-side 64"
    assert main([*args.split(), "--real", "real", "--perceptual-metrics", "piqe", "--out", "b_real"]) == 0
    raw = json.loads((work / "b_real" / "table1.json").read_text())["raw"]
    assert set(raw["cls"]) == {"piqe", "vlm_r"}  # perceptual + VLM groups only
    from ggt_hf.leaderboard.study import StudyArena

    study = StudyArena("b_real/outputs", "real")  # a human study on exactly the benchmarked outputs
    assert sorted(study.systems) == ["cls", "identity"] and study.ids == ["r0", "r1"]
    assert main([*args.split(), "--clean", "clean", "--fidelity-metrics", "psnr", "--out", "b_clean"]) == 0
    raw = json.loads((work / "b_clean" / "table1.json").read_text())["raw"]
    assert set(raw["cls"]) == {"psnr"} and raw["identity"]["psnr"] != raw["cls"]["psnr"]


@pytest.mark.parametrize(
    ("system", "judge", "message"),
    [
        ("gemini:gemini-3.1-flash-image-preview@adaptive:gemini=NB2", "heuristic", "GEMINI_API_KEY"),
        ("openai:gpt-image-1.5@fixed", "heuristic", "OPENAI_API_KEY"),
        ("classical@adaptive:gemini:gemini-3.1-pro-preview", "heuristic", "GEMINI_API_KEY"),
        ("classical", "openai:gpt-4.1", "OPENAI_API_KEY"),
        ("hf-inference:Qwen/Qwen-Image-Edit", "none", "HF_TOKEN"),
        ("classical@creative", "heuristic", "unknown prompt strategy 'creative'"),
        ("classical:tornado", "heuristic", "unknown category 'tornado'"),
    ],
)
def test_systems_and_judge_checked_before_any_image_is_read(work, capsys, system, judge, message):
    code = main(
        [
            "bench-mfm",
            "--system",
            "identity",
            "--system",
            system,
            "--judge",
            judge,
            "--real",
            "real",
            "--out",
            "b",
        ]
    )
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (work / "b").exists()  # nothing restored, nothing written


def _pick_preferred(arena, rng, preferred: bytes) -> str:
    """A simulated participant: picks the option whose pixels are the preferred system's output."""
    from ggt_hf.leaderboard.study import NONE

    round_ = arena.sample_round(rng)
    assert all(system not in str(p) for p in round_.options for system in arena.systems)  # blind
    wanted = preferred.get(round_.pair_id)
    if wanted is None:
        return arena.pick(round_.token, NONE).choice
    # served copies are blind (re-encoded, never byte-identical): pick what looks like the preferred
    distance = [np.abs(np.asarray(Image.open(p), np.int16) - wanted).mean() for p in round_.options]
    return arena.pick(round_.token, int(np.argmin(distance)) + 1, user="p1").choice


def test_study_shares_feed_the_human_column(work, capsys):
    from ggt_hf.leaderboard.arena import Arena
    from ggt_hf.leaderboard.store import open_store
    from ggt_hf.leaderboard.study import StudyArena, StudyStore
    from ggt_hf.leaderboard.votes import InvalidVoteError, VoteStore

    for model, name in (("identity", "identity"), ("classical", "cls"), ("classical:haze", "haze")):
        assert main(["restore", "--model", model, "real", f"study/{name}"]) == 0
    outputs = {n: Image.open(work / "study" / n / "r0.png").tobytes() for n in ("identity", "cls", "haze")}
    assert len(set(outputs.values())) == 3  # a participant can tell the three apart
    store = open_store("board")
    arena = StudyArena("study", "real", votes=store.votes_store(StudyStore))
    preferred = {
        i: np.asarray(Image.open(work / "study" / "cls" / f"{i}.png"), np.int16) for i in ("r0", "r1")
    }
    rng = np.random.default_rng(0)
    orders = set()
    for _ in range(12):
        round_ = arena.sample_round(rng)
        orders.add(tuple(Image.open(p).tobytes()[:64] for p in round_.options))
        assert len(round_.options) == 3
        vote = arena.pick(round_.token, 1)
        with pytest.raises(InvalidVoteError):  # single use
            arena.pick(round_.token, 1)
        assert vote.choice in vote.shown
    assert len(orders) > 2  # shuffled per round
    picks = [_pick_preferred(arena, rng, preferred) for _ in range(20)]
    assert set(picks) == {"cls"}
    # the pairwise Bradley–Terry mode is kept beside the study
    pairwise = Arena("study", "real", votes=store.votes_store(VoteStore))
    pair = pairwise.sample(rng)
    pairwise.vote(pair.token, "left")
    capsys.readouterr()
    assert main(["leaderboard", "votes", "--store", "board"]) == 0
    assert "Rating" in capsys.readouterr().out

    assert main(["leaderboard", "votes", "--store", "board", "--share", "--out", "human.json"]) == 0
    out = capsys.readouterr().out
    assert "CI low" in out and "32 round(s)" in out
    shares = json.loads((work / "human.json").read_text())["shares"]
    votes = store.votes_store(StudyStore).votes()
    assert shares["cls"]["share"] == pytest.approx(sum(v.choice == "cls" for v in votes) / len(votes))
    assert shares["cls"]["ci_low"] <= shares["cls"]["share"] <= shares["cls"]["ci_high"]
    assert sum(s["share"] for s in shares.values()) == pytest.approx(1.0)

    args = "bench-mfm --system identity --system classical=cls --real real --perceptual-metrics piqe"
    assert main([*args.split(), "--human", "human.json", "--out", "b", "--no-plots"]) == 0
    table = (work / "b" / "table1.md").read_text()
    assert "Human↑" in table and f"{shares['cls']['share']:.1%}" in table
