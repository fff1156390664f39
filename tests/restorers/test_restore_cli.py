"""``ggt restore``: folders (recursive, mirrored names, lossless PNG), per-item failures, resume,
the classical baseline, a save_pretrained model, and one real console-script run."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

from ggt_hf.cli import main
from ggt_hf.imaging.images import load_image
from ggt_hf.restorers import build_restorer, load_restorer
from ggt_hf.restorers.tiling import restore_image

pytestmark = pytest.mark.usefixtures("torch_single_thread")


@pytest.fixture
def model_dir(tmp_path):
    """A tiny NAFNet whose blocks all act, saved with save_pretrained."""
    torch.manual_seed(0)
    model = build_restorer("nafnet", width=4, middle_blk_num=1, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1])
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    folder = tmp_path / "model"
    model.save_pretrained(folder)
    return folder


@pytest.fixture
def photo_tree(tmp_path, photos):
    """in/a/x.png, in/b/y.jpg (real photo crops), in/bad.jpg (not an image), a hidden file, a text file."""
    root = tmp_path / "in"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    (root / ".cache").mkdir()
    photos[0].crop((100, 50, 196, 130)).save(root / "a" / "x.png")
    photos[2].crop((0, 0, 70, 50)).save(root / "b" / "y.jpg", quality=90)
    (root / "bad.jpg").write_bytes(b"this is not a JPEG at all")
    photos[1].crop((0, 0, 16, 16)).save(root / ".cache" / "z.png")
    (root / "notes.txt").write_text("ignored")
    return root


def test_folder_with_saved_model_failures_and_resume(tmp_path, photo_tree, model_dir, capsys):
    out = tmp_path / "out"
    args = ["restore", "--model", str(model_dir), str(photo_tree), str(out), "--tile", "32", "--overlap", "8"]
    assert main(args) == 1  # bad.jpg failed, the rest went on
    captured = capsys.readouterr()
    assert "restored 2, skipped 0 existing, failed 1" in captured.out
    assert "bad.jpg" in captured.err
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == [".ggt_restore.jsonl", "a/x.png", "b/y.png"]  # + which restorer made them
    model = load_restorer(str(model_dir), device="cpu")
    for src, dst in [("a/x.png", "a/x.png"), ("b/y.jpg", "b/y.png")]:
        lq = load_image(photo_tree / src).image
        restored = Image.open(out / dst)
        assert restored.format == "PNG" and restored.size == lq.size
        expected = restore_image(model, lq, tile=32, overlap=8)
        assert np.array_equal(np.asarray(restored), np.asarray(expected))
        assert not np.array_equal(np.asarray(restored), np.asarray(lq))

    before = (out / "a" / "x.png").stat().st_mtime_ns
    assert main(args) == 1
    assert "restored 0, skipped 2 existing, failed 1" in capsys.readouterr().out
    assert (out / "a" / "x.png").stat().st_mtime_ns == before
    assert main([*args, "--overwrite", "--report", str(tmp_path / "failed.tsv")]) == 1
    assert "restored 2, skipped 0 existing" in capsys.readouterr().out
    item, reason = (tmp_path / "failed.tsv").read_text().strip().split("\t")
    assert item.endswith("bad.jpg") and reason


def test_classical_baseline_single_file(tmp_path, photos, capsys):
    src = tmp_path / "photo.png"
    photos[0].crop((0, 0, 120, 90)).save(src)
    plain, hazy = tmp_path / "plain.png", tmp_path / "folder"
    assert main(["restore", "--model", "classical", str(src), str(plain)]) == 0
    assert main(["restore", "--model", "classical:haze", str(src), str(hazy)]) == 0
    a, b = Image.open(plain), Image.open(hazy / "photo.png")
    assert a.size == b.size == (120, 90)
    assert not np.array_equal(np.asarray(a), np.asarray(b))  # the category forced the dehaze step
    assert main(["restore", "--model", "classical:nonsense", str(src), str(hazy)]) == 2
    assert "unknown category 'nonsense'" in capsys.readouterr().err


def test_collisions_and_an_output_inside_the_input(tmp_path, photos, capsys):
    root = tmp_path / "in"
    root.mkdir()
    photos[0].crop((0, 0, 40, 40)).save(root / "a.png")
    photos[1].crop((0, 0, 40, 40)).save(root / "a.jpg")
    out = tmp_path / "restored"
    assert main(["restore", "--model", "classical", str(root), str(out)]) == 1
    assert "rename one" in capsys.readouterr().err
    assert [p.name for p in out.iterdir() if not p.name.startswith(".")] == ["a.png"]  # + provenance
    assert main(["restore", "--model", "classical", str(root), str(out)]) == 1  # resumes
    assert "restored 0, skipped 1 existing, failed 1" in capsys.readouterr().out
    assert main(["restore", "--model", "classical", str(tmp_path / "missing"), str(out)]) == 2
    inside = root / "restored"  # an output inside the input is refused before any work
    assert main(["restore", "--model", "classical", str(root), str(inside)]) == 2
    assert "must not overlap" in capsys.readouterr().err
    assert not inside.exists() and sorted(p.name for p in root.iterdir()) == ["a.jpg", "a.png"]


def test_registry_name_warns_about_random_weights(tmp_path, photos, caplog):
    src = tmp_path / "p.png"
    photos[0].crop((0, 0, 24, 24)).save(src)
    with caplog.at_level(logging.WARNING):
        assert main(["restore", "--model", "mprnet", str(src), str(tmp_path / "o.png")]) == 0
    assert "randomly initialised" in caplog.text
    assert Image.open(tmp_path / "o.png").size == (24, 24)


def test_console_script(tmp_path, photos, model_dir):
    exe = shutil.which("ggt")
    assert exe, "the ggt console script is installed with the package"
    src = tmp_path / "photo.jpg"
    photos[3].crop((0, 0, 150, 100)).save(src, quality=92)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [exe, "restore", "--model", str(model_dir), str(src), str(tmp_path / "out"), "--tile", "64"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "restored 1" in done.stdout
    assert Image.open(tmp_path / "out" / "photo.png").size == (150, 100)


@pytest.mark.parametrize(
    "second", [["--tile", "0"], ["--tile", "32", "--overlap", "4"], ["--dtype", "bfloat16"]]
)
def test_other_tiling_does_not_keep_the_first_runs_outputs(
    tmp_path, photos, model_dir, capsys, monkeypatch, second
):
    """Tiled and untiled runs of a model differ at the seams: a re-run with another --tile/--overlap
    (or dtype) is refused like another model, not resumed with the first run's outputs (issue 22)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    photos[0].crop((0, 0, 64, 48)).save(tmp_path / "in" / "x.png")
    first = ["restore", "--model", str(model_dir), "in", "out", "--tile", "32", "--overlap", "8"]
    assert main(first) == 0
    made = (tmp_path / "out" / "x.png").read_bytes()
    assert main([*first[:5], *second]) == 2  # EXIT_USAGE
    err = capsys.readouterr().err
    assert "were made by another restorer" in err and '"tile": 32' in err
    assert (tmp_path / "out" / "x.png").read_bytes() == made
    assert main([*first[:5], *second, "--overwrite"]) == 0
    assert main([*first[:5], *second]) == 0  # the same options again: resumes
    assert "skipped 1 existing" in capsys.readouterr().out
