"""ggt build end to end, offline: classical baseline + heuristic VLM + three-stage QC.

Covers resume after a crash with no paid call repeated, faults injected into the backend, the Ray
executor and rank/world-size splitting producing the same dataset as one local worker.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import load_dataset

import ggt_hf.backends.classical  # noqa: F401  (base dependencies only: a failing import must fail)
from ggt_hf.files.run_store import RunStore
from ggt_hf.pipeline.build import build, item_ids
from ggt_hf.pipeline.config import BuildConfig


def _dataset_files(run: Path) -> dict[str, bytes]:
    root = run / "dataset"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.parquet"))}


def _records(run: Path) -> list[dict]:
    store = RunStore(run)
    return [json.loads(store.layout.item(i).read_text()) for i in item_ids(run)]


def test_build_end_to_end(photo_dir, make_config, tmp_path):
    run = tmp_path / "run"
    report = build(make_config(photo_dir, run, backend__cost_per_call=0.04), progress=False)
    records = _records(run)
    assert report.calls >= 8 and report.cost_usd == pytest.approx(0.04 * report.calls)
    assert len(records) == 8
    assert {r["state"] for r in records} <= {"accepted", "rejected", "failed"}
    accepted = [r for r in records if r["state"] == "accepted"]
    assert report.packed == len(accepted) > 0
    for r in records:
        assert r["prompt"] and r["analysis"]  # adaptive prompt written from the analysis
        assert 1 <= len(r["attempts"]) <= 3
        for attempt in r["attempts"]:
            names = {c["name"] for c in attempt["checks"]}
            if attempt["image"]:
                assert {"piqe", "shift", "geometry_alignment", "color_consistency"} <= names
    ds = load_dataset(str(run / "dataset"), split="train")
    row = ds[0]
    assert (
        row["provenance"]["backend"] == "classical"
        and row["provenance"]["prompt_strategy"] == "adaptive:heuristic"
    )
    assert row["qc"]["verdict"] == "accepted" and row["qc"]["checks"]
    assert row["prompt"] and row["lq"].size == row["hq"].size == (256, 256)
    text = report.markdown()
    assert "Build report" in text and "Pairs packed" in text
    # every item was ingested and prompted, whatever its final state
    assert sum(c["ingested"] for c in report.states.values()) == 8
    assert sum(c["prompted"] for c in report.states.values()) == 8
    for category, counts in report.states.items():
        assert (
            f"| {category} | {counts['ingested']} | {counts['prompted']} |" in text and counts["ingested"] > 0
        )


class _Crash(BaseException):
    """Simulates the process dying mid-run (not an error the pipeline may catch)."""


def test_crash_and_resume_pays_no_call_twice(photo_dir, make_config, tmp_path, monkeypatch):
    from ggt_hf.backends.classical import ClassicalBackend

    reference = tmp_path / "reference"
    build(make_config(photo_dir, reference), progress=False)

    calls: list[str] = []
    original = ClassicalBackend.restore

    def counting(self, request):
        calls.append(request.item_id)
        if len(calls) == 4 and not getattr(counting, "crashed", False):
            counting.crashed = True
            raise _Crash()
        return original(self, request)

    monkeypatch.setattr(ClassicalBackend, "restore", counting)
    run = tmp_path / "run"
    config = make_config(photo_dir, run, workers=1, backend__concurrency=1)
    with pytest.raises(_Crash):
        build(config, progress=False)
    build(config, progress=False)  # resume
    unique_requests = len(list((run / "cache").rglob("*.png")))
    assert len(calls) - 1 == unique_requests  # the crashed call produced nothing; no call repeated
    assert _dataset_files(run) == _dataset_files(reference)
    before = len(calls)
    build(config, progress=False)  # a finished build re-run does nothing
    assert len(calls) == before


def test_faults_are_retried_or_recorded(photo_dir, make_config, tmp_path):
    run = tmp_path / "run"
    faults = {
        "rate_limit": 0.2,
        "server_error": 0.1,
        "timeout": 0.1,
        "garbage": 0.1,
        "wrong_size": 0.1,
        "safety": 0.05,
        "shifted": 0.1,
        "seed": 1,
    }
    build(make_config(photo_dir, run, backend__faults=faults, backend__retries=6), progress=False)
    records = _records(run)
    assert len(records) == 8  # nothing lost
    for r in records:
        assert r["state"] in ("accepted", "rejected", "failed")
        for attempt in r["attempts"]:
            assert attempt["image"] or attempt["error"]  # every failure recorded with its reason
    errors = [a["error"] for r in records for a in r["attempts"] if a["error"]]
    assert all(e.startswith(("refused:", "failed:")) for e in errors)


def test_ray_and_rank_split_match_local(photo_dir, make_config, tmp_path):
    local = tmp_path / "local"
    build(make_config(photo_dir, local), progress=False)
    split = tmp_path / "split"
    config = make_config(photo_dir, split)
    build(config, stage="ingest", progress=False)
    for rank in range(2):
        build(config, stage="generate", rank=rank, world_size=2, progress=False)
    build(config, stage="pack", progress=False)
    assert _dataset_files(split) == _dataset_files(local)

    ray = pytest.importorskip("ray")
    on_ray = tmp_path / "ray"
    try:
        build(make_config(photo_dir, on_ray), executor="ray", progress=False)
    finally:
        ray.shutdown()
    assert _dataset_files(on_ray) == _dataset_files(local)


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown key"):
        BuildConfig.from_dict({"nme": "x"})
    with pytest.raises(ValueError, match=r"config.backend: unknown key\(s\) nam"):
        BuildConfig.from_dict({"backend": {"nam": "x"}})
    path = tmp_path / "c.yaml"
    path.write_text("name: a\nbackend: {name: classical}\n")
    config = BuildConfig.from_yaml(path, ["backend.rate=2.5", "qc.max_attempts=1"])
    assert config.backend.rate == 2.5 and config.qc.max_attempts == 1 and config.backend.name == "classical"
