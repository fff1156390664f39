"""Results/requests stores: lifecycle, atomic claims, rate limit, no lost writes, the Hub mirror."""

from __future__ import annotations

import functools
import inspect
import json
import shutil
import subprocess
import sys
import textwrap
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
from huggingface_hub import HfApi

from ggt_hf.leaderboard.queue import submit_predictions
from ggt_hf.leaderboard.ratelimit import RateLimit, RateLimitError, check_rate_limit
from ggt_hf.leaderboard.store import (
    HubLeaderboardStore,
    LeaderboardStore,
    Request,
    RequestStatus,
    StoreError,
    open_store,
)
from ggt_hf.leaderboard.votes import Vote


def _result(model: str, psnr: float = 20.0) -> dict:
    return {
        "format": "ggt-eval-results",
        "version": 1,
        "model": model,
        "overall": {"psnr": psnr},
        "complete": True,
    }


def test_results_are_unique_files_and_read_back(tmp_path):
    store = LeaderboardStore(tmp_path / "lb")
    first = store.add_result(_result("org/m"), {"model_type": "model", "model_repo": "org/m"})
    second = store.add_result(_result("org/m", 21.0))
    assert first != second and first.startswith("org__m/results_")
    results = store.results()
    assert [r["overall"]["psnr"] for r in results] == [20.0, 21.0]
    assert results[0]["leaderboard"]["model_repo"] == "org/m" and results[0]["leaderboard"]["file"] == first
    with pytest.raises(StoreError, match="not a ggt-eval-results"):
        store.add_result({"model": "x"})
    (tmp_path / "lb/results/org__m/results_broken.json").write_text("{")
    assert len(store.results()) == 2  # an unreadable file is skipped, not fatal


def test_request_lifecycle_and_history(tmp_path):
    store = LeaderboardStore(tmp_path)
    request = store.add_request(Request.new("model", "org/m", "alice", model_repo="org/m"))
    assert store.get_request(request.request_id).status == RequestStatus.PENDING
    claimed = store.claim_next("w1")
    assert claimed.request_id == request.request_id and claimed.status == "RUNNING" and claimed.worker == "w1"
    assert store.claim_next("w2") is None
    with pytest.raises(StoreError, match="is RUNNING, expected PENDING"):
        store._transition(request.request_id, ("PENDING",), "RUNNING")
    done = store.finish(request.request_id, "org__m/results_x.json")
    assert [h["status"] for h in done.history] == ["PENDING", "RUNNING", "FINISHED"]
    with pytest.raises(StoreError, match="is FINISHED"):
        store.fail(request.request_id, "late")
    other = store.add_request(Request.new("predictions", "p", "bob"))
    failed = store.fail(other.request_id, "bad")
    assert failed.reason == "bad" and failed.history[-1] == {**failed.history[-1], "reason": "bad"}
    assert [r.status for r in LeaderboardStore(tmp_path).requests()] == ["FINISHED", "FAILED"]
    with pytest.raises(StoreError, match="no such request"):
        store.get_request("nope")
    with pytest.raises(StoreError, match="not a valid request id"):
        store.get_request("../../etc/passwd")


def test_two_workers_never_claim_the_same_request(tmp_path):
    store = LeaderboardStore(tmp_path)
    ids = {store.add_request(Request.new("model", f"m{i}", "u")).request_id for i in range(20)}
    claimed: list[str] = []

    def work(name: str) -> None:
        own = LeaderboardStore(tmp_path)  # separate instances, as separate processes would have
        while (request := own.claim_next(name)) is not None:
            claimed.append(request.request_id)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(ids)  # each exactly once
    assert {r.status for r in store.requests()} == {"RUNNING"}


def test_stale_running_requests_are_requeued(tmp_path):
    store = LeaderboardStore(tmp_path)
    store.add_request(Request.new("model", "m", "u"))
    claimed = store.claim_next("dead-worker")
    assert store.requeue_stale(1.0) == []
    later = datetime.now(timezone.utc) + timedelta(hours=2)
    [requeued] = store.requeue_stale(1.0, now=later)
    assert requeued.status == "PENDING" and "dead-worker" in requeued.reason
    assert store.claim_next("w2").request_id == claimed.request_id
    done = store.finish(claimed.request_id, "r.json")
    assert done.reason is None and [h["status"] for h in done.history] == [
        *("PENDING", "RUNNING", "PENDING", "RUNNING", "FINISHED")
    ]


def test_rate_limit_counts_the_store_and_survives_restarts(tmp_path):
    limit = RateLimit(max_requests=2, window_hours=24)
    store = LeaderboardStore(tmp_path)
    store.add_request(Request.new("model", "a", "alice"), rate_limit=limit)
    store.add_request(Request.new("model", "b", "alice"), rate_limit=limit)
    store.add_request(Request.new("model", "c", "bob"), rate_limit=limit)
    reopened = LeaderboardStore(tmp_path)
    with pytest.raises(RateLimitError, match="2 submissions in the last 24 h") as info:
        reopened.add_request(Request.new("model", "d", "alice"), rate_limit=limit)
    assert info.value.item == "alice"
    assert len(reopened.requests()) == 3
    later = datetime.now(timezone.utc) + timedelta(hours=25)
    assert check_rate_limit(reopened.requests(), "alice", limit, now=later) == 2
    with pytest.raises(ValueError):
        RateLimit(max_requests=0)


def test_parallel_submissions_of_one_user_cannot_exceed_the_limit(tmp_path):
    limit = RateLimit(max_requests=3)
    outcomes: list[str] = []

    def submit(i: int) -> None:
        try:
            LeaderboardStore(tmp_path).add_request(Request.new("model", f"m{i}", "mallory"), rate_limit=limit)
            outcomes.append("ok")
        except RateLimitError:
            outcomes.append("limited")

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["limited"] * 7 + ["ok"] * 3
    assert len(LeaderboardStore(tmp_path).requests()) == 3


_WRITER = textwrap.dedent(
    """
    import sys
    from ggt_hf.leaderboard.store import LeaderboardStore, Request
    from ggt_hf.leaderboard.votes import Vote
    import pathlib, time
    store, tag = LeaderboardStore(sys.argv[1]), sys.argv[2]
    votes = store.votes_store()
    pathlib.Path(sys.argv[1], f"ready-{tag}").touch()
    while not pathlib.Path(sys.argv[1], "go").exists():  # start together with the threads
        time.sleep(0.005)
    for i in range(15):
        store.add_result({"format": "ggt-eval-results", "version": 1, "model": f"{tag}-result-{i % 3}"})
        store.add_request(Request.new("model", f"{tag}-{i}", tag))
        votes.add(Vote(f"{tag}-{i}", "x", "y", "a", user=tag))
    """
)


def test_concurrent_processes_and_threads_lose_no_write(tmp_path):
    root = tmp_path / "lb"
    LeaderboardStore(root)
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(root), f"proc{i}"], stderr=subprocess.PIPE)
        for i in range(3)
    ]
    store = LeaderboardStore(root)
    votes = store.votes_store()
    for _ in range(3000):  # wait (≤ 60 s) until every process is ready, then release all at once
        if len(list(root.glob("ready-*"))) == 3:
            break
        threading.Event().wait(0.02)
    (root / "go").touch()

    def thread_writer(tag: str) -> None:
        for i in range(15):
            store.add_result(_result(f"{tag}-result-{i % 3}"))
            store.add_request(Request.new("model", f"{tag}-{i}", tag))
            votes.add(Vote(f"{tag}-{i}", "x", "y", "b", user=tag))

    threads = [threading.Thread(target=thread_writer, args=(f"thread{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
    assert len(store.results()) == 6 * 15
    assert len(store.requests()) == 6 * 15
    all_votes = store.votes_store().votes()
    assert len(all_votes) == 6 * 15 and len({(v.pair_id, v.user) for v in all_votes}) == 90
    written = [p for p in root.rglob("*") if p.suffix in (".json", ".jsonl")]
    assert len(written) == 2 * 90 + 4  # results, requests, one vote shard per writer
    for path in written:  # every file is complete, valid JSON / JSONL
        for line in path.read_text().splitlines() if path.suffix == ".jsonl" else [path.read_text()]:
            json.loads(line)
    assert not list(root.rglob("*.tmp"))


def _real_signature(method):
    """Refuse calls the real ``HfApi`` method would not accept (the stand-in must not be laxer)."""
    real = inspect.signature(getattr(HfApi, method.__name__))

    @functools.wraps(method)
    def checked(self, *args, **kwargs):
        real.bind(self, *args, **kwargs)
        return method(self, *args, **kwargs)

    return checked


class FakeHub(HfApi):
    """``HfApi`` whose Hub endpoints used here keep each dataset repo as a folder; records every call.

    Subclassing keeps the real non-network parts (``run_as_future``, used by ``CommitScheduler``);
    every overridden endpoint checks its arguments against the real method's signature.
    """

    def __init__(self, remote: Path) -> None:
        super().__init__(token="hf_test")
        self.remote = remote
        self.calls: list[tuple[str, str, str]] = []
        self.private: dict[str, bool] = {}

    def _repo(self, repo_id: str) -> Path:
        return self.remote / repo_id

    @_real_signature
    def create_repo(self, repo_id, repo_type=None, private=None, exist_ok=False, token=None):
        assert repo_type == "dataset" and exist_ok
        if private is not None:  # the scheduler re-creates with private=None: "leave as is"
            self.private[repo_id] = private
        self._repo(repo_id).mkdir(parents=True, exist_ok=True)
        self.calls.append(("create_repo", repo_id, ""))
        return SimpleNamespace(repo_id=repo_id)

    @_real_signature
    def create_commit(self, *, repo_id, repo_type, operations, commit_message, revision):
        """What ``CommitScheduler`` calls: each operation carries a size-capped file object."""
        assert repo_type == "dataset"
        for op in operations:
            target = self._repo(repo_id) / op.path_in_repo
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(op.path_or_fileobj.read())
            self.calls.append(("create_commit", repo_id, op.path_in_repo))

    @_real_signature
    def upload_file(self, *, path_or_fileobj, path_in_repo, repo_id, repo_type, token, commit_message):
        assert repo_type == "dataset" and token == "hf_test" and not path_in_repo.startswith("/")
        target = self._repo(repo_id) / path_in_repo
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path_or_fileobj, target)
        self.calls.append(("upload_file", repo_id, path_in_repo))

    @_real_signature
    def upload_folder(self, *, folder_path, path_in_repo, repo_id, repo_type, token, commit_message):
        shutil.copytree(folder_path, self._repo(repo_id) / path_in_repo, dirs_exist_ok=True)
        self.calls.append(("upload_folder", repo_id, path_in_repo))

    @_real_signature
    def snapshot_download(self, *, repo_id, repo_type, local_dir, allow_patterns, ignore_patterns, token):
        import fnmatch

        source = self._repo(repo_id)
        for path in source.rglob("*"):
            rel = path.relative_to(source).as_posix()
            if path.is_dir() or (allow_patterns and not any(fnmatch.fnmatch(rel, p) for p in allow_patterns)):
                continue
            if ignore_patterns and any(fnmatch.fnmatch(rel, p) for p in ignore_patterns):
                continue
            target = Path(local_dir) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        self.calls.append(("snapshot_download", repo_id, str(local_dir)))
        return local_dir


def test_hub_store_mirrors_results_requests_and_votes(tmp_path, make_zip, hq_members, expected):
    hub = FakeHub(tmp_path / "remote")
    with pytest.raises(TypeError):  # the stand-in is as strict as the real API
        hub.upload_file(path_or_fileobj=b"", path_in_repo="x", repo_id="a/b", folder="nope")
    space = HubLeaderboardStore(
        tmp_path / "space",
        requests_repo="org/req",
        results_repo="org/res",
        api=hub,
        token="hf_test",
        private=False,
    )
    assert hub.private == {"org/req": False, "org/res": False}
    result_file = space.add_result(_result("org/m"), {"model_repo": "org/m", "owner": "alice"})
    request = space.add_request(Request.new("model", "org/m", "alice", model_repo="org/m"))
    zipped = submit_predictions(space, make_zip(hq_members), model="z", user="bob", expected=expected)
    votes = space.votes_store()
    votes.add(Vote("p0", "a", "b", "tie"))
    assert ("upload_file", "org/res", result_file) in hub.calls
    assert ("upload_file", "org/req", f"{request.request_id}.json") in hub.calls
    assert ("upload_folder", "org/req", f"{zipped.request_id}/predictions") in hub.calls
    # the predictions folder went up before the request file that points to it
    order = [c[2] for c in hub.calls]
    assert order.index(f"{zipped.request_id}/predictions") < order.index(f"{zipped.request_id}.json")
    assert not any(c[0] == "upload_file" and c[2].startswith("votes/") for c in hub.calls)  # not one per vote
    space.flush_votes()
    assert ("create_commit", "org/req", f"votes/{votes.shard.name}") in hub.calls
    votes.add(Vote("p1", "a", "b", "a"))
    space.close()  # pushes the last votes
    assert (tmp_path / "remote/org/req/votes" / votes.shard.name).read_text().count("\n") == 2

    worker_side = open_store(
        tmp_path / "worker", requests_repo="org/req", results_repo="org/res", api=hub, token="hf_test"
    )
    predictions = worker_side.request_dir(zipped.request_id) / "predictions"
    assert sorted(p.name for p in predictions.iterdir()) == ["p0.png", "p1.png", "p2.png", "p3.png"]
    assert [r.request_id for r in worker_side.requests("PENDING")] == [request.request_id, zipped.request_id]
    claimed = worker_side.claim_next("w")
    worker_side.finish(claimed.request_id, result_file)
    assert [r["leaderboard"]["file"] for r in worker_side.results()] == [result_file]
    assert [v.winner for v in worker_side.votes_store().votes()] == ["tie", "a"]
    worker_side.close()
    space.pull()
    assert space.get_request(request.request_id).status == "FINISHED"
    assert not (tmp_path / "space/requests/votes").exists()  # votes are pulled into votes/, not requests/


def test_hub_store_needs_both_repos_and_a_token(tmp_path, monkeypatch):
    with pytest.raises(StoreError, match="both a requests repo and a results repo"):
        open_store(tmp_path, requests_repo="org/req")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("ggt_hf.hub.push.get_token", lambda: None)
    with pytest.raises(Exception, match="no token found"):
        open_store(tmp_path, requests_repo="a/b", results_repo="a/c", api=FakeHub(tmp_path / "r"))
