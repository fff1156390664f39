"""Hub-native eval results: the benchmark's eval.yaml, .eval_results entries, PRs on others' repos."""

from __future__ import annotations

import pytest
import yaml
from huggingface_hub import parse_eval_result_entries

from ggt_hf.errors import GGTError
from ggt_hf.hub.eval_results import (
    benchmark_yaml,
    entries_from_results,
    hub_dataset_id,
    publish_results,
    push_eval_results,
    results_filename,
)
from ggt_hf.metrics.specs import METRICS

from .hub_recorder import RecordingHubApi

RESULTS = {
    "format": "ggt-eval-results",
    "split": "test",
    "complete": True,
    "counts": {"rain": 3, "snow": 2},
    "overall": {"psnr": 24.5123456789, "lpips": 0.21, "my_metric": 3.0},
}


def test_benchmark_declares_one_task_per_metric():
    bench = benchmark_yaml("GGT-100K")
    assert bench["evaluation_framework"] == "ggt-hf" and bench["name"] == "GGT-100K"
    assert [t["id"] for t in bench["tasks"]] == list(METRICS)
    assert all(t["config"] == "default" and t["split"] == "test" for t in bench["tasks"])
    assert "Lower is better for" in bench["description"] and "LPIPS" in bench["description"]


def test_entries_round_trip_through_huggingface_hub_parser():
    entries = entries_from_results(RESULTS, "me/ggt-100k", revision="abc", date="2026-12-01T00:00:00Z")
    assert [(e.task_id, e.value) for e in entries] == [
        ("psnr", 24.512346),
        ("lpips", 0.21),
    ]  # unknown skipped
    api = RecordingHubApi(user="me")
    push_eval_results("me/restorer", entries, api=api)
    (call,) = [c for name, c in api.calls if name == "upload_file"]
    assert call["path_in_repo"] == results_filename("me/ggt-100k") == ".eval_results/me__ggt-100k.yaml"
    assert call["create_pr"] is False and call["repo_type"] == "model"  # own repo: direct commit
    data = yaml.safe_load(api.files[call["path_in_repo"]])
    assert data[0] == {
        "dataset": {"id": "me/ggt-100k", "task_id": "psnr", "revision": "abc"},
        "value": 24.512346,
        "date": "2026-12-01T00:00:00Z",
        "notes": "split test; 5 images",
    }
    assert [(e.dataset_id, e.task_id) for e in parse_eval_result_entries(data)] == [
        ("me/ggt-100k", "psnr"),
        ("me/ggt-100k", "lpips"),
    ]


@pytest.mark.parametrize(
    ("user", "orgs", "pr"), [("me", (), True), ("you", ("lab",), False), ("x", (), True)]
)
def test_pull_request_on_a_repo_the_user_does_not_own(user, orgs, pr):
    api = RecordingHubApi(user=user, orgs=orgs)
    info = publish_results(RESULTS, "lab/restorer", "me/ggt-100k", api=api)
    (call,) = [c for name, c in api.calls if name == "upload_file"]
    assert call["create_pr"] is pr and (info.pr_url is not None) is pr


def test_dataset_id_from_a_packed_folder_card(make_pairs_dir, tmp_path):
    from ggt_hf.hub.card import CardInfo
    from ggt_hf.hub.pack import PackConfig, pack
    from ggt_hf.hub.pairs import pairs_from_dir

    records, _ = pairs_from_dir(make_pairs_dir(n=2, size=64), split="test")
    pack(records, tmp_path / "a", PackConfig(card=CardInfo(repo_id="me/ggt-100k")), progress=False)
    assert hub_dataset_id(str(tmp_path / "a")) == "me/ggt-100k"
    assert (tmp_path / "a" / "eval.yaml").exists()
    pack(records, tmp_path / "b", progress=False)
    with pytest.raises(GGTError, match="local folder has no Hub id"):
        hub_dataset_id(str(tmp_path / "b"))
    with pytest.raises(GGTError, match="no metric results"):
        push_eval_results("me/restorer", [], api=RecordingHubApi())


def test_eval_cli_push_results(make_pairs_dir, tmp_path, monkeypatch, capsys):
    from PIL import Image

    from ggt_hf.cli import main
    from ggt_hf.hub.card import CardInfo
    from ggt_hf.hub.pack import PackConfig, pack
    from ggt_hf.hub.pairs import pairs_from_dir

    pairs = make_pairs_dir(n=3, size=64)
    records, _ = pairs_from_dir(pairs, split="test")
    pack(records, tmp_path / "ds", PackConfig(card=CardInfo(repo_id="me/ggt-100k")), progress=False)
    preds = tmp_path / "preds"
    preds.mkdir()
    for path in sorted((pairs / "lq").rglob("*.png")):
        Image.open(path).save(preds / path.name)
    api = RecordingHubApi(user="someone")
    monkeypatch.setattr("ggt_hf.hub.eval_results.HfApi", lambda: api)
    argv = ["eval", "--pred", str(preds), "--dataset", str(tmp_path / "ds"), "--metrics", "psnr"]
    assert main([*argv, "--push-results", "lab/restorer"]) == 0
    assert (
        "eval results pushed to lab/restorer: https://hub/lab/restorer/discussions/1"
        in capsys.readouterr().out
    )
    (entry,) = yaml.safe_load(api.files["refs/pr/1:.eval_results/me__ggt-100k.yaml"])
    assert entry["dataset"] == {"id": "me/ggt-100k", "task_id": "psnr"} and entry["value"] > 10


def test_leaderboard_worker_pushes_model_results(tmp_path, monkeypatch):
    from ggt_hf.leaderboard.queue import Worker
    from ggt_hf.leaderboard.store import LeaderboardStore, Request

    api = RecordingHubApi(user="leaderboard-bot")
    monkeypatch.setattr("ggt_hf.hub.eval_results.HfApi", lambda: api)
    store = LeaderboardStore(tmp_path / "lb")
    request = store.add_request(Request.new("model", "tiny", "alice", model_repo="alice/tiny"))
    worker = Worker(store, "me/ggt-100k", push_results=True, progress=False)
    monkeypatch.setattr(worker, "_predict", lambda request, out: None)
    monkeypatch.setattr(worker, "_score", lambda pred_dir, request: {**RESULTS, "model": "tiny"})
    (done,) = worker.run_once()
    assert done.request_id == request.request_id and done.status == "FINISHED"
    (call,) = [c for name, c in api.calls if name == "upload_file"]
    assert call["repo_id"] == "alice/tiny" and call["create_pr"] is True  # not the bot's repo: a PR
    # a refused push is logged; the leaderboard result stands
    monkeypatch.setattr(api, "upload_file", lambda **kw: (_ for _ in ()).throw(RuntimeError("403")))
    store.add_request(Request.new("model", "tiny2", "alice", model_repo="alice/tiny2"))
    (done,) = worker.run_once()
    assert done.status == "FINISHED"
