"""`ggt degrade` and `ggt metrics`: the evaluation-side sub-commands as a user runs them."""

from __future__ import annotations

import json

import numpy as np

from ggt_hf.cli import main
from ggt_hf.degrade import replay
from ggt_hf.imaging.images import load_image


def test_degrade_writes_replayable_outputs_and_resumes(tmp_path, photos, capsys):
    src = tmp_path / "clean"
    src.mkdir()
    for i, photo in enumerate(photos[:2]):
        photo.resize((96, 96)).save(src / f"c{i}.png")
    (src / "bad.jpg").write_bytes(b"not an image")
    out = tmp_path / "lq"
    assert main(["degrade", str(src), str(out), "--category", "all", "--seed", "3"]) == 1  # bad.jpg reported
    captured = capsys.readouterr()
    assert "12 written, 1 skipped" in captured.out and "bad.jpg: not an image" in captured.err
    params = json.loads((out / "c0_haze.json").read_text())
    assert params["category"] == "haze"
    clean = np.asarray(load_image(src / "c0.png").image)
    assert np.array_equal(replay(clean, params), np.asarray(load_image(out / "c0_haze.png").image))
    before = (out / "c1_rain.png").read_bytes()
    assert main(["degrade", str(src), str(out), "--category", "all", "--seed", "3"]) == 1
    assert "0 written" in capsys.readouterr().out and (out / "c1_rain.png").read_bytes() == before


def test_metrics_list_offline(capsys, monkeypatch):
    monkeypatch.setenv("GGT_OFFLINE", "1")
    assert main(["metrics", "list", "psnr", "niqe", "vlm_r"]) == 0
    out = capsys.readouterr().out
    assert "| psnr | psnr | FR | higher | fidelity | ready |" in out
    assert "| niqe |" in out and "missing: weights file 'niqe_modelparameters.mat'" in out
    assert "needs a judge" in out
    assert main(["metrics", "fetch", "niqe"]) == 3  # offline: the network is what stops it (exit 3), says so
