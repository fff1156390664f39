"""`ggt demo OUT`: the whole offline pipeline through the real console script, and its resume."""

from __future__ import annotations

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

from ggt_hf.constants import CATEGORIES
from ggt_hf.degrade import replay

GGT = [sys.executable, "-m", "ggt_hf.cli"] if not shutil.which("ggt") else ["ggt"]


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("demo") / "out"
    proc = subprocess.run([*GGT, "demo", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout


def test_demo_builds_a_loadable_dataset(demo_out):
    out, stdout = demo_out
    assert "ingest: 6 new, 0 already done, 0 rejected" in stdout
    assert "validate: OK" in stdout
    assert f'load_dataset("{(out / "dataset").resolve()}")' in stdout
    ds = load_dataset(str(out / "dataset"))
    assert ds["train"].num_rows == 5 and ds["test"].num_rows == 1
    assert sorted(ds["train"].features["category"].int2str(ds["train"]["category"])) == sorted(
        c for c in CATEGORIES if c != "haze"
    )
    row = ds["test"][0]
    assert row["lq"].size == row["hq"].size == (1024, 1024)
    assert row["provenance"]["backend"] == "synthetic" and row["license"] == "cc0-1.0"


def test_demo_lq_is_a_replayable_labelled_degradation(demo_out):
    out, _ = demo_out
    for row in load_dataset(str(out / "dataset"), split="train"):
        params = json.loads(row["provenance"]["degradation"])
        category = CATEGORIES[row["category"]]
        assert params["category"] == category
        hq = np.asarray(row["hq"])
        assert np.array_equal(replay(hq, params), np.asarray(row["lq"])), row["id"]


def test_demo_rerun_resumes_without_changes(demo_out):
    out, _ = demo_out
    before = _files(out / "dataset")
    proc = subprocess.run([*GGT, "demo", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "ingest: 0 new, 6 already done, 0 rejected" in proc.stdout
    assert _files(out / "dataset") == before


def test_demo_killed_midway_then_rerun_equals_uninterrupted(demo_out, tmp_path):
    reference, _ = demo_out
    out = tmp_path / "killed"
    proc = subprocess.Popen([*GGT, "demo", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = out / "ingest" / "ingested.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if records.exists() and records.read_text().count("\n") >= 2:
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    done = records.read_text().count("\n") if records.exists() else 0
    assert done < 6, "demo finished ingest before it could be killed; the test proves nothing"
    rerun = subprocess.run([*GGT, "demo", str(out)], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{6 - done} new, {done} already done" in rerun.stdout
    assert _files(out / "dataset") == _files(reference / "dataset")
    lines = [json.loads(x) for x in records.read_text().splitlines()]
    assert len(lines) == len({r["id"] for r in lines}) == 6


def test_sample_photos_are_real_and_licensed():
    from ggt_hf.demo import sample_dir

    folder = sample_dir()
    assert "CC0" in (folder / "LICENSE.md").read_text()
    names = [line.split(",")[0] for line in (folder / "manifest.csv").read_text().splitlines()[1:]]
    assert len(names) == 6
    for name in names:
        with Image.open(folder / name) as img:
            assert min(img.size) >= 256
