"""The QC ablation from one build, as a user runs it: `ggt build CONFIG` packs `default` (w/-QC) and
`unfiltered` (w/o-QC: every item's first candidate, QC verdicts as columns); stage 1 follows the
paper with PIQE as the offline fallback, and the report says so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml
from datasets import load_dataset
from PIL import Image

from ggt_hf.cli import main
from ggt_hf.degrade import degrade
from ggt_hf.pipeline.config import BuildConfig

CONFIG = """
name: qc-ablation
output: run
sources:
  - {path: photos/, license: cc0-1.0, split: train}
backend: {name: classical, concurrency: 2, base_delay: 0.0}
prompt: adaptive:heuristic
vlm: {name: heuristic}
qc: {metric_thresholds: paper, metric_min_improvement: -15.0, geometry: true, judge: vlm, max_attempts: 2}
image_size: 128
min_side: 64
workers: 2
"""


def test_one_build_gives_both_ablation_datasets(tmp_path, photos, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GGT_OFFLINE", "1")
    (tmp_path / "photos" / "haze").mkdir(parents=True)
    for i, photo in enumerate(photos[:3]):
        lq = degrade(np.asarray(photo.resize((128, 128))), "haze", seed=i).image
        Image.fromarray(lq).save(tmp_path / "photos" / "haze" / f"p{i}.png")
    (tmp_path / "build.yaml").write_text(CONFIG)
    assert main(["build", "build.yaml"]) == 0
    out = capsys.readouterr().out
    assert "Stage 1 metric filter: PIQE" in out and "offline fallback" in out
    assert "Excluded at stage 1" in out and "margins piqe ≥ -15" in out

    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "run" / "items").glob("*.json"))]
    with_candidate = {r["id"]: r for r in records if any(a["image"] for a in r["attempts"])}
    unfiltered = load_dataset("run/dataset", "unfiltered", split="train")
    default = load_dataset("run/dataset", split="train")
    assert sorted(unfiltered["id"]) == sorted(with_candidate)  # every item with a candidate, once
    assert set(default["id"]) <= set(unfiltered["id"])
    for row in unfiltered:
        record = with_candidate[row["id"]]
        first = next(a for a in record["attempts"] if a["image"])
        assert row["provenance"]["attempt"] == first["attempt"]  # the first candidate, not the best
        accepted_here = record["state"] == "accepted" and record["final_attempt"] == first["attempt"]
        assert row["qc"]["verdict"] == ("accepted" if accepted_here else "rejected")
        stage1 = json.loads(row["provenance"]["extra"])["qc_stage1"]
        assert stage1 == first["metadata"]["stage1"] and stage1["on_fail"] == "exclude"
        if stage1["excluded"]:  # the paper: excluded at stage 1, not judged, not regenerated
            assert {c["name"] for c in row["qc"]["checks"]} == {"piqe"} and len(record["attempts"]) == 1
        else:
            assert {c["name"] for c in row["qc"]["checks"]} >= {"piqe", "geometry_alignment"}
    # with this threshold QC accepts some items and rejects others: both kinds are in `unfiltered`
    assert {q["verdict"] for q in unfiltered["qc"]} == {"accepted", "rejected"}
    card = (tmp_path / "run" / "dataset" / "README.md").read_text()
    assert "config_name: unfiltered" in card
    assert main(["validate", "run/dataset"]) == 0  # the card's counts for the new config check out


def test_paper_recipe_follows_the_paper():
    recipe = Path(__file__).parents[2] / "dataset_builder" / "configs" / "gemini_nano_banana.yaml"
    text = recipe.read_text(encoding="utf-8")
    config = BuildConfig.from_dict(yaml.safe_load(text))
    assert config.qc.human_review and config.qc.metric_thresholds == "paper"
    assert config.backend.model_id == "gemini-3.1-flash-image-preview"  # Nano-Banana-2, not Pro
    assert config.vlm.options["model_id"] == "gemini-3.1-pro-preview"
