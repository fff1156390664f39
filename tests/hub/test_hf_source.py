"""``hf://datasets/...`` sources through the real ``HfFileSystem``, pointed at a local fake Hub."""

from __future__ import annotations

import huggingface_hub.constants
import pytest
from huggingface_hub import HfFileSystem

from ggt_hf.cli import main
from ggt_hf.hub.layout import ReleaseSource, detect_layout
from ggt_hf.hub.mirror import StreamConfig, mirror_release
from ggt_hf.runtime import network

from .fake_hub import FakeHub
from .hub_recorder import RecordingHubApi
from .release_fixtures import image_bytes, official_like, zip_bytes

REPO = "VCLab-PolyU/GGT-100K"
URL = f"hf://datasets/{REPO}"


@pytest.fixture
def hub(monkeypatch):
    files = official_like({("train", "Rain"): 3, ("test", "Rain"): 1, ("train", "Snow"): 2})
    files["GGT-100K/test/Haze.zip"] = zip_bytes(
        {"LQ/h0.png": image_bytes(700), "GT/h0.png": image_bytes(701), "GT/h1.png": image_bytes(702)}
    )
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # only 127.0.0.1 is reached
    with FakeHub(REPO, files) as fake:
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", fake.endpoint)
        # ggt probes the Hub before reading hf:// (runtime/network.py): it must find the fake one
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
        network.reset()
        template = fake.endpoint + "/{repo_id}/resolve/{revision}/{filename}"
        monkeypatch.setattr(huggingface_hub.constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        yield fake
    network.reset()


def test_mirror_reads_each_file_once_from_the_hub(hub, tmp_path):
    source = ReleaseSource(URL, fs=HfFileSystem(endpoint=hub.endpoint, token=False, skip_instance_cache=True))
    plan = detect_layout(source)
    assert plan.counts() == {
        ("baseline", "rain", "train"): 1,
        ("data", "haze", "test"): 1,
        ("data", "rain", "test"): 1,
        ("data", "rain", "train"): 3,
        ("data", "snow", "train"): 2,
    }
    assert [str(p) for p in plan.unmatched] == ["GGT-100K/test/Haze/GT/h1.png: missing LQ partner"]
    api = RecordingHubApi()
    report = mirror_release(
        plan, source, "me/ggt-100k", tmp_path / "w", StreamConfig(workers=3), api=api, progress=False
    )
    assert sum(report.written.values()) == 8
    loose = [p for pair in plan.pairs for p in (pair.lq, pair.hq) if p.member is None]
    for file in loose:  # read once, as packed: never downloaded beforehand or twice
        assert hub.served[file.rel] == file.size, file.rel
    assert not any(path.startswith(("pretrained-model/", "demo_video", "README")) for path in hub.served)
    assert hub.served["GGT-100K/test/Haze.zip"] > 0  # the archive is read in ranges, in place
    assert api.files["README.md"].decode().count("cc-by-nc-nd-4.0") >= 1


def test_pack_cli_from_an_hf_url(hub, tmp_path, capsys):
    assert main(["pack", URL, str(tmp_path / "out"), "--plan"]) == 0
    assert "data/rain/train: 3" in capsys.readouterr().out and not (tmp_path / "out").exists()
    assert main(["pack", URL, str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "data/snow/train: 2" in out and "baseline/rain/train: 1" in out
    assert (tmp_path / "out" / "data" / "haze").is_dir()
