"""End to end: submit a zip or a restorer → worker → result → leaderboard table; the CLI."""

from __future__ import annotations

import math

import pytest
import torch

from ggt_hf.cli import main
from ggt_hf.leaderboard.queue import Worker, submit_model, submit_predictions
from ggt_hf.leaderboard.ratelimit import RateLimit, RateLimitError
from ggt_hf.leaderboard.store import LeaderboardStore, Request
from ggt_hf.leaderboard.submission import InvalidSubmissionError
from ggt_hf.leaderboard.table import leaderboard_frame
from ggt_hf.leaderboard.votes import Vote
from ggt_hf.metrics.specs import parse_metric_list

FAST_METRICS = parse_metric_list("psnr,ssim", [])  # weight-free: fast and offline


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_zip_and_model_submissions_are_scored(
    test_split, expected, make_zip, hq_members, tiny_registry, hub_api, tmp_path
):
    dataset, _ = test_split
    store = LeaderboardStore(tmp_path / "lb")
    limit = RateLimit(max_requests=3)  # the refused zip below counts too
    # (a) a zip of the HQ images themselves: a perfect submission
    zipped = submit_predictions(
        store, make_zip(hq_members), model="oracle", user="alice", expected=expected, rate_limit=limit
    )
    bad = dict(hq_members, **{"p0.png": b"nope"})
    with pytest.raises(InvalidSubmissionError, match=r"p0\.png: not a usable image"):
        submit_predictions(store, make_zip(bad, "bad.zip"), model="x", user="alice", expected=expected)
    # (b) a tiny saved restorer (0.5·identity: a darkening "restorer")
    repo = tmp_path / "repo"
    tiny_registry(config=tiny_registry.config_class(gain=0.5)).save_pretrained(repo)
    hub_api.add_repo("alice/tiny-dark", repo)
    modelled = submit_model(
        store, "alice/tiny-dark", user="alice", model="tiny-dark", rate_limit=limit, api=hub_api
    )
    with pytest.raises(RateLimitError):
        submit_model(store, "alice/tiny-dark", user="alice", rate_limit=limit, api=hub_api)
    # (c) a repo that only has pickled weights, queued behind the checks' back: the worker refuses it
    pickled = tmp_path / "pickled"
    tiny_registry(config=tiny_registry.config_class()).save_pretrained(pickled)
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    hub_api.add_repo("eve/pickled", pickled)
    sha = hub_api.model_info("eve/pickled").sha
    sneaky = store.add_request(Request.new("model", "sneaky", "eve", model_repo="eve/pickled", revision=sha))
    assert len(store.requests("PENDING")) == 3

    worker = Worker(
        store,
        str(dataset),
        metrics=FAST_METRICS,
        device="cpu",
        tile=32,
        overlap=8,
        progress=False,
        api=hub_api,
    )
    done = {r.request_id: r for r in worker.run_once()}
    assert worker.run_once() == []  # safe to run again: nothing left
    assert done[zipped.request_id].status == "FINISHED"
    assert done[modelled.request_id].status == "FINISHED", done[modelled.request_id].reason
    assert done[sneaky.request_id].status == "FAILED"
    assert "found pickled weights pytorch_model.bin" in store.get_request(sneaky.request_id).reason

    results = {r["model"]: r for r in store.results()}
    oracle, dark = results["oracle"], results["tiny-dark"]
    assert oracle["complete"] and dark["complete"] and sum(dark["counts"].values()) == 4
    assert math.isinf(oracle["overall"]["psnr"]) or oracle["overall"]["psnr"] > 60
    assert oracle["overall"]["ssim"] == pytest.approx(1.0)
    assert 3 < dark["overall"]["psnr"] < 20 and dark["leaderboard"]["model_type"] == "model"
    assert store.get_request(modelled.request_id).result_file == dark["leaderboard"]["file"]

    frame = leaderboard_frame(store.results(), links=False)
    assert list(frame["Model"]) == ["oracle", "tiny-dark"]
    assert frame.loc[0, "Avg"] == 1.0 and frame.loc[1, "Avg"] == 0.0


def test_cli_worker_once_and_show(test_split, expected, make_zip, hq_members, tmp_path, capsys):
    dataset, _ = test_split
    store = LeaderboardStore(tmp_path / "lb")
    submit_predictions(store, make_zip(hq_members), model="oracle", user="u", expected=expected)
    args = ["leaderboard", "worker", "--store", str(store.root), "--dataset", str(dataset), "--once"]
    assert main([*args, "--metrics", "psnr,ssim", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "1 pending request(s)" in out and "oracle: FINISHED" in out
    assert main([*args, "--metrics", "psnr"]) == 0
    assert "0 pending request(s)" in capsys.readouterr().out
    csv = tmp_path / "board.csv"
    assert main(["leaderboard", "show", "--store", str(store.root), "--csv", str(csv)]) == 0
    assert "oracle" in capsys.readouterr().out and csv.read_text().startswith("Rank,Model")
    store.votes_store().add(Vote("p0", "x", "y", "a"))
    assert main(["leaderboard", "votes", "--store", str(store.root), "--bootstrap", "20"]) == 0
    assert "Rating" in capsys.readouterr().out


def test_run_forever_polls_and_reports_failures(test_split, hub_api, tmp_path):
    store = LeaderboardStore(tmp_path / "lb")
    missing = store.add_request(
        Request.new("model", "ghost", "u", model_repo="u/no-such-repo", revision="0" * 40)
    )
    reported: list[Request] = []
    worker = Worker(store, str(test_split[0]), metrics=FAST_METRICS, progress=False, api=hub_api)
    worker.run_forever(poll_seconds=0, max_polls=2, report=reported.append)
    assert [r.request_id for r in reported] == [missing.request_id]
    assert reported[0].status == "FAILED" and "no such public model repo" in reported[0].reason
    assert main(["leaderboard", "show", "--store", str(store.root)]) == 0  # no results: still fine


def test_a_registry_nafnet_submission_is_restored_tiled_and_scored(test_split, hub_api, tmp_path):
    from ggt_hf.restorers import build_restorer, list_restorers

    if "nafnet" not in list_restorers():
        pytest.skip("the NAFNet restorer is not importable in this tree")
    repo = tmp_path / "nafnet-tiny"
    build_restorer(
        "nafnet", width=8, middle_blk_num=1, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1]
    ).save_pretrained(repo)
    hub_api.add_repo("u/nafnet-tiny", repo)
    store = LeaderboardStore(tmp_path / "lb")
    request = submit_model(store, "u/nafnet-tiny", user="u", model="nafnet-tiny", api=hub_api)
    worker = Worker(
        store,
        str(test_split[0]),
        metrics=FAST_METRICS,
        device="cpu",
        tile=32,
        overlap=8,
        progress=False,
        api=hub_api,
    )
    [done] = worker.run_once()
    assert done.status == "FINISHED", done.reason
    [result] = store.results()
    assert result["leaderboard"]["request_id"] == request.request_id and result["complete"]
    assert set(result["per_image"]) == {"p0", "p1", "p2", "p3"}
    assert all(math.isfinite(row["psnr"]) for row in result["per_image"].values())
