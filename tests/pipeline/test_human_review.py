"""QC stage 3 end to end, as a user runs it: ``ggt build`` with ``human_review: true``, decisions
through the review app's controller (what its buttons and API endpoints call), ``ggt build --stage
pack``; then exactly which pairs are in ``default``, ``negatives`` and ``unfiltered``.

README ("Human review"): with review on, ``default`` holds only what a person accepted; rejections
go to ``negatives``; an item nobody has decided on yet is in neither, and ``unfiltered`` marks it
``pending``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from datasets import load_dataset
from PIL import Image

from ggt_hf.cli import main
from ggt_hf.degrade import degrade
from ggt_hf.files.run_store import RunLayout
from ggt_hf.qc.review import ReviewQueue, read_decisions

#: Re-read the packed files: `datasets`' cache can return a folder's rows as they were before a re-pack.
FRESH = "force_redownload"

CONFIG = """
name: reviewed
output: run
sources:
  - {{path: photos/, license: cc0-1.0, split: train}}
backend: {{name: classical, concurrency: 2, base_delay: 0.0}}
prompt: adaptive:heuristic
vlm: {{name: heuristic}}
qc: {{metric_thresholds: paper, metric_min_improvement: -15.0, geometry: true, judge: vlm,
      max_attempts: 2, human_review: {review}}}
image_size: 128
min_side: 64
workers: 2
"""


def _ids(folder: str, config: str) -> dict[str, str]:
    """Pair id -> QC verdict of every pair of a packed config (``{}`` when it was not packed)."""
    if not (Path(folder) / config).is_dir() and config != "default":
        return {}
    rows = load_dataset(folder, config, split="train", download_mode=FRESH)
    return {row["id"]: row["qc"]["verdict"] for row in rows}


@pytest.fixture
def built(tmp_path, photos, monkeypatch):
    """A built run (generate + QC stages 1–2) of six photos; returns the item records by id."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GGT_OFFLINE", "1")
    (tmp_path / "photos" / "haze").mkdir(parents=True)
    for i in range(6):
        photo = photos[i % len(photos)].resize((128, 128))
        photo = photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if i >= len(photos) else photo
        lq = degrade(np.asarray(photo), "haze", seed=i).image
        Image.fromarray(lq).save(tmp_path / "photos" / "haze" / f"p{i}.png")

    def build(review: bool) -> dict[str, dict]:
        (tmp_path / "build.yaml").write_text(CONFIG.format(review=str(review).lower()))
        assert main(["build", "build.yaml"]) == 0
        return {
            json.loads(p.read_text())["id"]: json.loads(p.read_text())
            for p in Path("run/items").glob("*.json")
        }

    return build


def _candidates(record: dict) -> list[int]:
    return [a["attempt"] for a in record["attempts"] if a["image"]]


def test_review_on_packs_exactly_what_a_person_accepted(built):
    from ggt_hf.qc.review_app import ReviewController

    records = built(review=True)
    reviewable = sorted(i for i, r in records.items() if r["state"] == "accepted")
    assert len(reviewable) >= 3, "the build must give QC-accepted items to review"
    assert not Path("run/dataset/data").exists()  # before any review nothing is in `default`

    app = ReviewController("run", reviewer="tester")
    accepted, rejected, undecided = reviewable[0], reviewable[1], reviewable[2:]
    app.accept(accepted)
    app.reject(rejected, "halo around the face")
    assert ReviewQueue("run").pending().ids == undecided
    assert main(["build", "build.yaml", "--stage", "pack"]) == 0

    assert set(_ids("run/dataset", "default")) == {accepted}
    expected_negatives = {f"{rejected}-a{records[rejected]['final_attempt']}"} | {
        f"{item}-a{n}" for item, r in records.items() for n in _candidates(r) if n != r["final_attempt"]
    }
    assert set(_ids("run/dataset", "negatives")) == expected_negatives  # undecided: in neither
    unfiltered = _ids("run/dataset", "unfiltered")
    assert set(unfiltered) == {i for i, r in records.items() if _candidates(r)}
    for item, verdict in unfiltered.items():
        record = records[item]
        first_is_final = _candidates(record)[0] == record["final_attempt"]
        expected = "rejected"
        if first_is_final and item == accepted:
            expected = "accepted"
        elif first_is_final and item in undecided:
            expected = "pending"
        assert verdict == expected, item
    assert read_decisions(RunLayout("run")).counts() == {"accept": 1, "reject": 1}


def test_review_off_a_recorded_rejection_does_not_gate_and_every_config_agrees(built):
    """With ``human_review: false`` a decision recorded anyway is kept as a check but does not
    gate: the candidate is in ``default`` and ``unfiltered`` says so (it said ``rejected``)."""
    records = built(review=False)
    accepted = sorted(i for i, r in records.items() if r["state"] == "accepted")
    first_final = [i for i in accepted if _candidates(records[i])[0] == records[i]["final_attempt"]]
    assert first_final, "the build must give an item accepted at its first candidate"
    ReviewQueue("run").decide(first_final[0], "reject", "looks off")
    assert main(["build", "build.yaml", "--stage", "pack"]) == 0

    default = load_dataset("run/dataset", split="train", download_mode=FRESH)
    assert set(default["id"]) == set(accepted)
    row = default[default["id"].index(first_final[0])]
    assert {k: row["qc"]["checks"][-1][k] for k in ("stage", "name", "passed")} == {
        "stage": "human",
        "name": "review",
        "passed": False,
    }
    unfiltered = _ids("run/dataset", "unfiltered")
    assert unfiltered[first_final[0]] == "accepted"  # in `default`, so `accepted` here too
    assert {i for i, v in unfiltered.items() if v == "accepted"} <= set(accepted)


def test_before_any_review_the_other_configs_load(built):
    """With review on and nothing accepted yet the pack has no ``default`` shards; the card listed
    ``default`` with ``data_files: []`` anyway, and ``datasets`` refused every config of the folder
    ("No (supported) data files found"), so nobody could load ``unfiltered`` to review from."""
    records = built(review=True)
    assert not Path("run/dataset/data").exists()
    unfiltered = _ids("run/dataset", "unfiltered")
    assert set(unfiltered) == {i for i, r in records.items() if _candidates(r)}
    assert "pending" in unfiltered.values()
    with pytest.raises(ValueError, match="data file"):  # `default` is empty, and says so
        load_dataset("run/dataset", split="train", download_mode=FRESH)
