"""`ggt demo OUT`: the whole offline pipeline through the real console script, and its resume."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from datasets import load_dataset
from PIL import Image

from ggt_hf.degrade import replay

GGT = [sys.executable, "-m", "ggt_hf.cli"] if not shutil.which("ggt") else ["ggt"]


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory) -> tuple[Path, str]:
    cwd = tmp_path_factory.mktemp("demo")
    # a relative OUT from the working directory, exactly as the README types it
    proc = subprocess.run([*GGT, "demo", "out"], cwd=cwd, capture_output=True, text=True, timeout=600)
    out = cwd / "out"
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout


def test_demo_builds_a_loadable_ggt_dataset(demo_out):
    out, stdout = demo_out
    assert "ingest: 6 new, 0 already done, 0 rejected" in stdout
    assert "## Build report" in stdout and "validate: OK" in stdout
    # the LQ photos are the build's source as they are: nothing is ingested twice
    assert not (out / "build" / "ingest").exists()
    lq_records = [json.loads(x) for x in (out / "pairs" / "ingested.jsonl").read_text().splitlines()]
    assert len(lq_records) == 6 and all((out / "pairs" / r["image"]).is_file() for r in lq_records)
    dataset = out / "build" / "dataset"
    assert f'load_dataset("{dataset.resolve()}")' in stdout
    ds = load_dataset(str(dataset))
    rows = [r for split in ds.values() for r in split]
    records = [json.loads(p.read_text()) for p in sorted((out / "build" / "items").glob("*.json"))]
    accepted = [r for r in records if r["state"] == "accepted"]
    assert len(records) == 6 and len(rows) == len(accepted) >= 1
    for row in rows:
        assert row["lq"].size == row["hq"].size == (1024, 1024)
        assert row["provenance"]["backend"] == "classical"
        assert row["provenance"]["prompt_strategy"] == "adaptive:heuristic"
        assert row["qc"]["verdict"] == "accepted" and row["prompt"]
        assert {c["stage"] for c in row["qc"]["checks"]} == {"metric", "auto", "judge"}
    rejected = [r for r in records if r["state"] == "rejected"]
    if rejected:  # rejected candidates are kept as negatives
        negatives = load_dataset(str(dataset), "negatives")["train"]
        assert {row["qc"]["verdict"] for row in negatives} == {"rejected"}


def test_demo_lq_photos_are_replayable_labelled_degradations(demo_out):
    out, _ = demo_out
    for line in (out / "pairs" / "pairs.jsonl").read_text().splitlines():
        record = json.loads(line)
        params = record["provenance"]["degradation"]
        assert params["category"] == record["category"]
        # paths in the manifest are relative to its folder
        hq = np.asarray(Image.open(out / "pairs" / record["hq_path"]).convert("RGB"))
        lq = np.asarray(Image.open(out / "pairs" / record["lq_path"]).convert("RGB"))
        assert np.array_equal(replay(hq, params), lq), record["id"]


def test_demo_rerun_resumes_without_changes(demo_out):
    out, _ = demo_out
    before = _files(out / "build" / "dataset")
    proc = subprocess.run([*GGT, "demo", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "ingest: 0 new, 6 already done, 0 rejected" in proc.stdout
    assert _files(out / "build" / "dataset") == before


def _count_lines(path: Path) -> int:
    return path.read_text().count("\n") if path.exists() else 0


def _count_done_items(folder: Path) -> int:
    done = 0
    for path in folder.glob("*.json"):
        with contextlib.suppress(ValueError, KeyError):  # a record being written right now
            done += json.loads(path.read_text())["state"] in ("accepted", "rejected", "failed")
    return done


@pytest.mark.parametrize("stage", ["ingest", "build"])
def test_demo_killed_midway_then_rerun_equals_uninterrupted(demo_out, tmp_path, stage):
    reference, _ = demo_out
    out = tmp_path / "killed"
    proc = subprocess.Popen([*GGT, "demo", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if stage == "ingest":
        progress = lambda: _count_lines(out / "ingest" / "ingested.jsonl")  # noqa: E731
    else:
        progress = lambda: _count_done_items(out / "build" / "items")  # noqa: E731
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None and progress() < 2:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert progress() < 6, (
        f"demo finished the {stage} stage before it could be killed; the test proves nothing"
    )
    rerun = subprocess.run([*GGT, "demo", str(out)], capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert _files(out / "build" / "dataset") == _files(reference / "build" / "dataset")
    lines = [json.loads(x) for x in (out / "ingest" / "ingested.jsonl").read_text().splitlines()]
    assert len(lines) == len({r["id"] for r in lines}) == 6
    assert len(list((out / "build" / "items").glob("*.json"))) == 6


def test_sample_photos_are_real_and_licensed():
    from ggt_hf.pipeline.demo import sample_dir

    folder = sample_dir()
    assert "CC0" in (folder / "LICENSE.md").read_text()
    names = [line.split(",")[0] for line in (folder / "manifest.csv").read_text().splitlines()[1:]]
    assert len(names) == 6
    for name in names:
        with Image.open(folder / name) as img:
            assert min(img.size) >= 256
