"""`ggt metrics list` answers from the weight files pyiqa declares and the disk: no model is built,
no network touched, and the answer is the one building the model gives."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from unittest import mock

import pytest

pytest.importorskip("pyiqa")

import pyiqa
import safetensors.torch
import timm.models._hub as timm_hub
import torch
import torch.hub
from huggingface_hub import constants as hf_constants
from pyiqa.archs import afineclip_model
from pyiqa.utils import download_util

from ggt_hf.cli import main
from ggt_hf.metrics import weights
from ggt_hf.metrics.specs import METRICS
from ggt_hf.metrics.weight_files import missing_files, readiness, weight_files
from ggt_hf.runtime.network import forced_offline

LEARNED = [s for s in METRICS.values() if s.needs_weights]


@pytest.fixture
def empty_caches(tmp_path, monkeypatch) -> Path:
    """Every weights cache pyiqa, torchvision, timm (Hugging Face) and CLIP use, empty under tmp_path."""
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "torch_hub"))
    monkeypatch.setattr(download_util, "DEFAULT_CACHE_DIR", str(tmp_path / "torch_hub" / "pyiqa"))
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    weights.forget_created()
    yield tmp_path
    weights.forget_created()


def _place(file) -> None:
    """Put a (fake) file where its loader looks for it."""
    if file.repo_id is None:
        file.folder.mkdir(parents=True, exist_ok=True)
        (file.folder / file.name).write_bytes(b"fake weights")
        return
    repo = file.folder / f"models--{file.repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text("0" * 40)
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True, exist_ok=True)
    (snapshot / file.name).write_bytes(b"fake weights")


def test_status_follows_the_declared_files_on_disk(empty_caches):
    assert all(readiness(spec).startswith("missing: ") for spec in LEARNED)
    declared = {spec.name: weight_files(spec) for spec in LEARNED}
    for files in declared.values():
        for file in files:
            _place(file)
    assert all(readiness(spec) == "ready" for spec in METRICS.values() if spec.pyiqa_id)

    victim = declared["maniqa"][-1]  # pyiqa's own MANIQA checkpoint
    (victim.folder / victim.name).unlink()
    assert readiness(METRICS["maniqa"]) == f"missing: {victim.missing_reason()}"
    assert [f.name for f in missing_files(METRICS["maniqa"])] == [victim.name]
    assert all(readiness(spec) == "ready" for spec in LEARNED if spec.name != "maniqa")


@pytest.mark.parametrize("name", ["psnr", "niqe", "lpips", "musiq"])
def test_the_listing_gives_the_answer_building_the_model_gives(empty_caches, name):
    """The old way (build the model offline, see which download it attempts) names the same file."""
    spec = METRICS[name]
    with forced_offline():
        try:
            weights.create_pyiqa_metric(spec.name, spec.pyiqa_id, "cpu")
            built = "ready"
        except weights.MissingWeightsError as exc:
            built = exc.reason
    missing = missing_files(spec)
    assert built == (missing[0].missing_reason(tried_download=True) if missing else "ready")


class _AnyStateDict(dict):
    """A state dict with every key (pyiqa picks sub-dicts such as ``params`` out of checkpoints)."""

    def __missing__(self, key):
        return _AnyStateDict()

    def pop(self, key, *default):
        return super().pop(key, None)


def _files_a_build_loads(spec) -> list[tuple[str, str]]:
    """The old way, made complete: build ``spec``'s pyiqa model with every download and weight load
    faked, and record (file name, folder or Hub repo) of each file it asks for, in order."""
    seen: list[tuple[str, str]] = []

    def download(url, dst, *args, **kwargs):
        seen.append((os.path.basename(str(dst)), str(Path(dst).parent)))

    def hub_download(repo_id, filename, *args, **kwargs):
        seen.append((filename, repo_id))
        return "/nonexistent/" + filename

    def clip_download(url, root):
        seen.append((os.path.basename(url), str(root)))
        raise RuntimeError("stop: a fake CLIP checkpoint cannot be loaded")

    no_keys = torch.nn.modules.module._IncompatibleKeys([], [])
    with (
        mock.patch.object(torch.hub, "download_url_to_file", download),
        mock.patch.object(download_util, "download_url_to_file", download),
        mock.patch.object(timm_hub, "hf_hub_download", hub_download),
        mock.patch.object(afineclip_model, "_download", clip_download),
        mock.patch.object(safetensors.torch, "load_file", lambda *a, **k: _AnyStateDict()),
        mock.patch.object(torch, "load", lambda *a, **k: _AnyStateDict()),
        mock.patch.object(torch.nn.Module, "load_state_dict", lambda *a, **k: no_keys),
        mock.patch("scipy.io.loadmat", side_effect=RuntimeError("stop: NIQE's parameters are fake")),
    ):
        try:
            pyiqa.create_metric(spec.pyiqa_id, device="cpu")
        except RuntimeError as exc:
            assert "stop:" in str(exc)
    return seen


@pytest.mark.parametrize(
    "name",
    [
        "lpips",
        "dists",
        "niqe",
        "musiq",
        "topiq_nr",
        "afine_nr",
        pytest.param("maniqa", marks=pytest.mark.slow),
    ],
)
def test_the_declared_files_are_the_files_a_model_build_loads(empty_caches, name):
    spec = METRICS[name]
    declared = [(f.name, f.repo_id or str(f.folder)) for f in weight_files(spec)]
    loaded = _files_a_build_loads(spec)
    if name == "afine_nr":  # the walk stops at the CLIP checkpoint (its content is hash-checked)
        declared = declared[: len(loaded)]
    assert loaded and loaded == declared


def test_listing_builds_no_model_and_opens_no_connection(empty_caches, monkeypatch, capsys):
    built, connects = [], []
    real_init = torch.nn.Module.__init__

    def module_init(self, *args, **kwargs):
        built.append(type(self).__name__)
        real_init(self, *args, **kwargs)

    def connect(self, *args, **kwargs):
        connects.append(args)
        raise OSError("no network in this test")

    monkeypatch.setattr(torch.nn.Module, "__init__", module_init)
    monkeypatch.setattr(pyiqa, "create_metric", lambda *a, **k: built.append("create_metric"))
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.delenv("GGT_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert main(["metrics", "list"]) == 0
    without_network = capsys.readouterr().out
    monkeypatch.setenv("GGT_OFFLINE", "1")
    assert main(["metrics", "list"]) == 0
    assert capsys.readouterr().out == without_network  # the same answer, told offline or not
    assert built == [] and connects == []
    assert all(f"| {spec.name} |" in without_network for spec in METRICS.values())
