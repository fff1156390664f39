"""``ggt mirror``: shard-by-shard upload from an fsspec source, card last, resumable after a kill."""

from __future__ import annotations

import io

import fsspec
import pyarrow.parquet as pq
import pytest
import yaml
from huggingface_hub import DatasetCard

from ggt_hf.constants import HubLayout
from ggt_hf.hub.layout import ReleaseSource, detect_layout
from ggt_hf.hub.mirror import StreamConfig, mirror_release

from .hub_recorder import Killed, RecordingHubApi
from .release_fixtures import official_like, write_files

COUNTS = {("train", "Rain"): 4, ("train", "Snow"): 3, ("test", "Rain"): 2, ("test", "Snow"): 1}
CONFIG = dict(max_shard_bytes=6000, workers=3)  # ~2 pairs of 24² PNGs per shard


@pytest.fixture
def release():
    fs = fsspec.filesystem("memory")
    fs.store.clear()
    write_files(fs, "/VCLab-PolyU/GGT-100K", official_like(COUNTS))
    yield "memory://VCLab-PolyU/GGT-100K"  # the official repo's name: its licence and title apply
    fs.store.clear()


class FailingSource(ReleaseSource):
    """Reads fail from the n-th read on (a network drop mid-shard)."""

    def __init__(self, url, fail_at):
        super().__init__(url)
        self.reads, self.fail_at = 0, fail_at

    def read(self, file):
        self.reads += 1
        if self.fail_at is not None and self.reads >= self.fail_at:
            raise Killed(f"read {self.reads} failed")
        return super().read(file)


def run(url, api, work, source=None):
    source = source or ReleaseSource(url)
    plan = detect_layout(source)
    return mirror_release(plan, source, "me/ggt-100k", work, StreamConfig(**CONFIG), api=api, progress=False)


def check_disk_bound(work):
    def on_commit(api, operations):
        local = [p for p in work.rglob("*") if p.name.endswith((".parquet", ".parquet.partial"))]
        api.max_local = max(getattr(api, "max_local", 0), len(local))

    return on_commit


def test_mirror_uploads_shards_then_card(release, tmp_path):
    api = RecordingHubApi()
    api.on_commit = check_disk_bound(tmp_path / "w")
    report = run(release, api, tmp_path / "w")
    shards = sorted(f for f in api.files if f.endswith(".parquet"))
    assert len(shards) >= 6 and len(api.commits) == len(shards) + 1
    assert all(len(c["paths"]) == 1 for c in api.commits[:-1])  # one shard per commit
    assert api.commits[-1]["paths"] == [
        HubLayout.SAMPLE_GRID,
        HubLayout.MANIFEST,
        HubLayout.EVAL_YAML,
        HubLayout.CARD,
    ]  # card last
    assert api.max_local <= 1  # one shard on disk at a time
    assert not list((tmp_path / "w").rglob("*.parquet"))
    assert dict(report.written) == {
        ("data", "rain", "train"): 4,
        ("data", "snow", "train"): 3,
        ("data", "rain", "test"): 2,
        ("data", "snow", "test"): 1,
        ("baseline", "rain", "train"): 1,
    }
    card = DatasetCard(api.files[HubLayout.CARD].decode())
    data = card.data.to_dict()
    assert data["license"] == "cc-by-nc-nd-4.0" and data["pretty_name"] == "GGT-100K"
    assert [c["config_name"] for c in data["configs"]] == ["default", "rain", "snow", "baseline"]
    assert (
        "Repackaged from memory://VCLab-PolyU/GGT-100K (the official GGT-100K release" in card.text
        and "@article{kong2026ggt100k" in card.text
    )
    rows = sum(pq.read_metadata(io.BytesIO(api.files[s])).num_rows for s in shards)
    assert rows == 11
    bench = yaml.safe_load(api.files[HubLayout.EVAL_YAML])
    assert {"id": "psnr", "config": "default", "split": "test"} in bench["tasks"]
    # a second run has nothing to upload and leaves the repo as it was
    before, commits = dict(api.files), len(api.commits)
    again = run(release, api, tmp_path / "w")
    assert not again.uploaded and len(again.resumed) == len(shards) and api.files == before
    assert len(api.commits) == commits  # not even an empty card commit


def _reference(release, tmp_path):
    api = RecordingHubApi()
    run(release, api, tmp_path / "ref")
    return api


def _kill_and_resume(release, tmp_path, reference, k, when):
    api = RecordingHubApi().fail(k, when)
    work = tmp_path / f"{when}{k}"
    with pytest.raises(Killed):
        run(release, api, work)
    last = len(reference.commits) - 1
    if HubLayout.CARD in api.files:  # the card only ever appears with everything else
        assert k == last and when == "after" and api.files == reference.files
    run(release, api, work)
    assert api.files == reference.files, (when, k)
    assert all(n == 1 for path, n in api.added.items() if path.endswith(".parquet")), (when, k)


@pytest.mark.parametrize("when", ["before", "after"])
def test_killed_around_commits_resumes_to_the_same_repo(release, tmp_path, when):
    reference = _reference(release, tmp_path)
    for k in (len(reference.commits) // 2, len(reference.commits) - 1):  # a shard commit, the card
        _kill_and_resume(release, tmp_path, reference, k, when)


@pytest.mark.slow
@pytest.mark.parametrize("when", ["before", "after"])
def test_killed_at_every_commit_resumes_to_the_same_repo(release, tmp_path, when):
    reference = _reference(release, tmp_path)
    for k in range(len(reference.commits)):
        _kill_and_resume(release, tmp_path, reference, k, when)


def test_killed_mid_shard_and_journal_lost(release, tmp_path):
    reference = _reference(release, tmp_path)
    for fail_at in (5, 13):  # inside the first shard (after its first sample), in a later shard
        api, work = RecordingHubApi(), tmp_path / f"read{fail_at}"
        with pytest.raises(Killed):
            run(release, api, work, FailingSource(release, fail_at))
        assert not list(work.rglob("*.parquet"))  # only a .partial file can be left behind
        run(release, api, work)
        assert api.files == reference.files
        assert all(n == 1 for path, n in api.added.items() if path.endswith(".parquet"))
    # the work folder is lost after some uploads: shards already on the Hub are recognised by hash
    api = RecordingHubApi().fail(3, "before")
    with pytest.raises(Killed):
        run(release, api, tmp_path / "lost")
    run(release, api, tmp_path / "other-work")
    assert api.files == reference.files
    assert all(n == 1 for path, n in api.added.items() if path.endswith(".parquet"))


def test_stale_shards_of_an_earlier_plan_are_removed(release, tmp_path):
    api = RecordingHubApi({"data/rain/train-00000-of-00009.parquet": b"old", "notes.txt": b"keep"})
    run(release, api, tmp_path / "w")
    assert "data/rain/train-00000-of-00009.parquet" not in api.files and "notes.txt" in api.files


def test_mirror_cli_plan_and_run(release, tmp_path, monkeypatch, capsys):
    from ggt_hf.cli import main

    api = RecordingHubApi()
    monkeypatch.setattr("ggt_hf.hub.mirror.HfApi", lambda: api)
    assert main(["mirror", release, "me/ggt-100k", "--plan"]) == 0  # no token needed to look
    assert "data/rain/train: 4" in capsys.readouterr().out and not api.commits
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("ggt_hf.hub.push.get_token", lambda: None)
    assert main(["mirror", release, "me/ggt-100k"]) == 1
    assert "no token found" in capsys.readouterr().err and not api.calls
    monkeypatch.setattr("ggt_hf.hub.push.get_token", lambda: "hf_test_token")
    monkeypatch.setattr("ggt_hf.runtime.network.require_hub", lambda what: None)  # the fake Hub answers
    work = tmp_path / "w"
    assert main(["mirror", release, "me/ggt-100k", "--work", str(work), "--max-shard-mb", "1"]) == 0
    out = capsys.readouterr().out
    assert "mirror: 11 pairs in 5 shard(s) (5 new, 0 already done)" in out
    assert HubLayout.CARD in api.files
    assert all(c.get("token") == "hf_test_token" for c in api.commits)
    assert "hf_test_token" not in out
