"""Model submissions take Hub repo ids only, pinned to a commit: each way a server path used to get in
(a directory probe, a config echoed in the error, a server folder queued and loaded by the worker, a
home folder walked, refusals that cost nothing) is reproduced here and refused."""

from __future__ import annotations

import json
import os
import pathlib
from pathlib import Path

import pytest

from ggt_hf.leaderboard.model_repo import fetch_pinned_model, parse_repo_id, pin_model_repo
from ggt_hf.leaderboard.queue import REFUSED_MODEL, Worker, submit_model
from ggt_hf.leaderboard.ratelimit import RateLimit, RateLimitError
from ggt_hf.leaderboard.store import LeaderboardStore, Request
from ggt_hf.leaderboard.submission import InvalidSubmissionError

SECRET = "hf_SECRET_do_not_echo_1234"


def _save_tiny(folder: Path, tiny_registry, **config) -> Path:
    tiny_registry(config=tiny_registry.config_class(**config)).save_pretrained(folder)
    return folder


@pytest.fixture
def no_filesystem(monkeypatch):
    """Any look at the server's disk during the call fails the test."""

    def forbidden(*args, **kwargs):
        raise AssertionError(f"filesystem probed: {args[:1]}")

    for name in ("isdir", "exists", "isfile"):
        monkeypatch.setattr(os.path, name, forbidden)
    for name in ("is_dir", "exists", "is_file", "iterdir", "rglob", "read_text", "stat"):
        monkeypatch.setattr(pathlib.Path, name, forbidden)


def test_server_paths_are_refused_unread_and_alike(tmp_path, tiny_registry, no_filesystem):
    """/etc and a missing folder answered differently (a directory probe); a home folder was walked."""
    probes = [
        "/etc",
        str(tmp_path / "no-such-folder"),
        str(Path.home()),
        "../../etc/passwd",
        "~/x",
        "C:\\Windows",
    ]
    probes += ["file:///etc/passwd", "https://huggingface.co/u/m", "a/b/c", "u/" + "x" * 200, "u/m\nx"]
    reasons = set()
    for text in probes:
        with pytest.raises(InvalidSubmissionError) as info:
            pin_model_repo(text, api=object())  # the api is never reached
        reasons.add(info.value.reason)
        assert len(str(info.value).splitlines()) == 1 and len(str(info.value)) < 200
    assert reasons == {"not a Hub model repo id (expected user/name; server paths are not accepted)"}
    with pytest.raises(InvalidSubmissionError, match="namespace"):
        parse_repo_id("nafnet")  # a bare registry name would build a randomly initialised model
    with pytest.raises(InvalidSubmissionError, match="give a Hub model id"):
        parse_repo_id("   ")
    assert parse_repo_id(" user/nafnet-ggt ") == "user/nafnet-ggt"


def test_a_config_secret_is_never_echoed(tmp_path, tiny_registry, hub_api):
    """A folder whose config.json held a secret echoed it in the error."""
    folder = _save_tiny(tmp_path / "leaky", tiny_registry)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": SECRET}))
    with pytest.raises(InvalidSubmissionError) as as_path:
        pin_model_repo(str(folder), api=hub_api)
    assert SECRET not in str(as_path.value) and hub_api.calls == []
    hub_api.add_repo("eve/leaky", folder)  # the same config on the Hub: refused, still not quoted
    with pytest.raises(InvalidSubmissionError, match="model_type is not a registry restorer") as on_hub:
        pin_model_repo("eve/leaky", api=hub_api)
    assert SECRET not in str(on_hub.value)
    (folder / "config.json").write_text('{"model_type": "' + SECRET)  # broken JSON: not quoted either
    with pytest.raises(InvalidSubmissionError, match="not valid JSON") as broken:
        pin_model_repo("eve/leaky", api=hub_api)
    assert SECRET not in str(broken.value)
    (folder / "config.json").write_text(json.dumps({"model_type": "tiny_lb", "pad": "x" * 300_000}))
    with pytest.raises(InvalidSubmissionError, match="over the 262,144 limit"):
        pin_model_repo("eve/leaky", api=hub_api)


def test_hub_repo_checks(tmp_path, tiny_registry, hub_api):
    good = _save_tiny(tmp_path / "good", tiny_registry)
    hub_api.add_repo("alice/good", good)
    pinned = pin_model_repo("alice/good", api=hub_api)
    assert pinned.model_type == "tiny_lb" and len(pinned.revision) == 40
    pickled = _save_tiny(tmp_path / "pickled", tiny_registry)
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    hub_api.add_repo("eve/pickled", pickled)
    with pytest.raises(InvalidSubmissionError, match=r"found pickled weights pytorch_model\.bin"):
        pin_model_repo("eve/pickled", api=hub_api)
    remote = _save_tiny(tmp_path / "remote", tiny_registry)
    config = json.loads((remote / "config.json").read_text())
    (remote / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModel": "x.Y"}}))
    hub_api.add_repo("eve/remote", remote)
    with pytest.raises(InvalidSubmissionError, match="remote code"):
        pin_model_repo("eve/remote", api=hub_api)
    with pytest.raises(InvalidSubmissionError, match="no such public model repo"):
        pin_model_repo("eve/missing", api=hub_api)


def test_hub_unreachable_is_one_line(monkeypatch):
    class Offline:
        def model_info(self, *args, **kwargs):
            raise OSError("network is unreachable\nwith a second line")

    with pytest.raises(InvalidSubmissionError) as info:
        pin_model_repo("someone/model", api=Offline())
    assert str(info.value) == "someone/model: cannot check the repo on the Hub (OSError)"


def test_submission_is_pinned_and_the_worker_loads_that_commit(tmp_path, tiny_registry, hub_api):
    repo = _save_tiny(tmp_path / "repo", tiny_registry, gain=0.5)
    hub_api.add_repo("alice/tiny", repo)
    store = LeaderboardStore(tmp_path / "lb")
    request = submit_model(store, "alice/tiny", user="alice", api=hub_api)
    assert request.model_repo == "alice/tiny" and request.revision in hub_api.commits
    assert store.get_request(request.request_id).revision == request.revision
    _save_tiny(repo, tiny_registry, gain=2.0)  # pushed after submission: a new head
    assert hub_api.model_info("alice/tiny").sha != request.revision
    hub_api.calls.clear()
    pinned, snapshot = fetch_pinned_model(request.model_repo, request.revision, api=hub_api)
    assert pinned.revision == request.revision
    assert sorted(p.name for p in snapshot.iterdir()) == ["config.json", "model.safetensors"]
    assert json.loads((snapshot / "config.json").read_text())["gain"] == 0.5  # the submitted commit
    assert {c[2].get("revision") for c in hub_api.calls} == {request.revision}
    with pytest.raises(InvalidSubmissionError, match="not pinned to a revision"):
        fetch_pinned_model("alice/tiny", None, api=hub_api)


def test_worker_never_loads_a_server_folder(tmp_path, tiny_registry, hub_api, test_split, monkeypatch):
    """A server folder with config.json + model.safetensors used to be queued and loaded."""
    folder = _save_tiny(tmp_path / "server-model", tiny_registry)
    store = LeaderboardStore(tmp_path / "lb")
    with pytest.raises(InvalidSubmissionError, match="not a Hub model repo id"):
        submit_model(store, str(folder), user="eve", api=hub_api)
    [refused] = store.requests()
    assert (
        refused.status == "FAILED"
        and refused.model == REFUSED_MODEL
        and refused.reason.startswith("refused: ")
    )
    # queued behind the checks' back (an old request file, a hand-edited store): refused by the worker
    sneaky = store.add_request(
        Request.new("model", "sneaky", "eve", model_repo=str(folder), revision="0" * 40)
    )
    loaded = []
    monkeypatch.setattr("ggt_hf.restorers.load_restorer", lambda *a, **k: loaded.append(a))
    [done] = Worker(store, str(test_split[0]), progress=False, api=hub_api).run_once()
    assert done.request_id == sneaky.request_id and done.status == "FAILED"
    assert "not a Hub model repo id" in done.reason and loaded == [] and hub_api.calls == []


def test_every_refusal_counts_against_the_rate_limit(tmp_path, tiny_registry, hub_api):
    good = _save_tiny(tmp_path / "good", tiny_registry)
    hub_api.add_repo("eve/good", good)
    store = LeaderboardStore(tmp_path / "lb")
    limit = RateLimit(max_requests=3)
    for text in ("/etc", "eve/missing", "/root"):
        with pytest.raises(InvalidSubmissionError):
            submit_model(store, text, user="eve", rate_limit=limit, api=hub_api)
    assert [r.status for r in store.requests()] == ["FAILED"] * 3
    with pytest.raises(RateLimitError, match="rate limit reached"):
        submit_model(store, "eve/good", user="eve", rate_limit=limit, api=hub_api)
    with pytest.raises(RateLimitError):  # refused before any check: nothing more is written
        submit_model(store, "/etc", user="eve", rate_limit=limit, api=hub_api)
    assert len(store.requests()) == 3
    assert submit_model(store, "eve/good", user="bob", rate_limit=limit, api=hub_api).status == "PENDING"
