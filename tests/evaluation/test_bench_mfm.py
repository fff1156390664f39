"""ggt bench-mfm end to end on real photos with simple systems (fast, offline)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image, ImageFilter

from ggt_hf.cli import main
from ggt_hf.evaluation.bench_mfm import (
    BenchConfig,
    System,
    human_win_rates,
    run_bench,
    write_report,
)
from ggt_hf.judging.heuristic import HeuristicJudge
from ggt_hf.metrics.specs import parse_metric_list
from ggt_hf.restore.factory import unchanged as identity


def _median(image: Image.Image, prompt: str | None) -> Image.Image:
    return image.filter(ImageFilter.MedianFilter(3))


def _shift(image: Image.Image, prompt: str | None) -> Image.Image:
    return image.transform(image.size, Image.Transform.AFFINE, (1, 0, 12, 0, 1, 0))


def _folders(tmp_path, photos):
    clean, real = tmp_path / "clean", tmp_path / "real"
    clean.mkdir()
    real.mkdir()
    for i, photo in enumerate(photos[:3]):
        photo.resize((128, 128)).save(clean / f"c{i}.png")
        noisy = np.asarray(photo.resize((128, 128))).astype(float) + np.random.default_rng(i).normal(
            0, 20, (128, 128, 3)
        )
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(real / f"r{i}.png")
    return clean, real


def test_bench_ranks_systems_and_resumes(tmp_path, photos, monkeypatch):
    monkeypatch.setenv("GGT_OFFLINE", "1")
    clean, real = _folders(tmp_path, photos)
    config = BenchConfig(
        clean_dir=str(clean),
        real_dir=str(real),
        out=str(tmp_path / "out"),
        fidelity_metrics=parse_metric_list("psnr,ssim,lpips", []),
        perceptual_metrics=parse_metric_list("niqe", []),
        categories=("general", "rain"),
    )
    systems = [System("identity", identity), System("median", _median), System("shift", _shift)]
    calls = []
    systems.append(System("counted", lambda im, p: calls.append(1) or _median(im, p), prompt="fix it"))
    result = run_bench(systems, config, judge=HeuristicJudge(), progress=False)
    assert set(result["skipped"]) == {"lpips", "niqe"}
    raw = result["raw"]
    assert raw["median"]["psnr"] > raw["shift"]["psnr"]
    assert raw["shift"]["vlm_r"] == 0.0  # a shifted output fails geometry alignment
    assert raw["identity"]["vlm_r"] == 0.0  # a no-op is not a restoration
    assert raw["median"]["vlm_r"] > 0
    assert len(calls) == 6
    run_bench(systems, config, judge=HeuristicJudge(), progress=False)
    assert len(calls) == 6  # outputs cached: nothing restored twice

    paths = write_report(result, tmp_path / "out")
    table = json.loads(paths["json"].read_text())
    assert table["avg"]["median"] > table["avg"]["shift"]
    assert "PSNR" in paths["markdown"].read_text()
    assert Image.open(paths["radar"]).size[0] > 100 and Image.open(paths["bar"]).size[0] > 100


def test_human_votes(tmp_path):
    votes = tmp_path / "votes.csv"
    votes.write_text("system_a,system_b,winner\na,b,a\na,b,tie\nb,a,both_bad\n")
    assert human_win_rates(votes, ["a", "b"]) == {"a": 0.5, "b": 1 / 6}


def test_cli(tmp_path, photos, capsys, monkeypatch):
    monkeypatch.setenv("GGT_OFFLINE", "1")
    clean, real = _folders(tmp_path, photos)
    code = main(
        [
            "bench-mfm",
            "--system",
            "identity",
            "--system",
            "ggt_hf.restore.factory:unchanged@fixed=same",
            "--system",
            "classical@adaptive:heuristic",
            "--clean",
            str(clean),
            "--real",
            str(real),
            "--out",
            str(tmp_path / "o"),
            "--fidelity-metrics",
            "psnr,ssim",
            "--perceptual-metrics",
            "piqe",
            "--no-plots",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "identity" in out and "same" in out and "classical@adaptive:heuristic" in out


def test_cli_names_every_missing_key_before_any_work(tmp_path, monkeypatch, capsys):
    for variable in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "real_lq").mkdir()
    systems = [
        "gemini:gemini-3-pro-image-preview@fixed-no-change=NanoBananaPro+FixNC",
        "classical@adaptive:openai=C+GPT",
    ]
    args = ["bench-mfm", "--real", "real_lq/", "--out", "table1/", "--judge", "gemini:gemini-3.1-pro-preview"]
    assert main([*args, *(f"--system={s}" for s in systems)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "GEMINI_API_KEY" in err and "OPENAI_API_KEY" in err
    assert "'C+GPT'" in err and "judge 'gemini:gemini-3.1-pro-preview'" in err
    assert not (tmp_path / "table1").exists()


def test_cli_refuses_two_systems_sharing_an_output_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "real_lq").mkdir()
    assert (
        main(["bench-mfm", "--real", "real_lq", "--system", "identity=A+B", "--system", "classical=A_B"]) == 2
    )
    assert "share the output folder outputs/A_B" in capsys.readouterr().err
