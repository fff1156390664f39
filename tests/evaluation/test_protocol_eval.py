"""The paper's evaluation protocol as a user types it (relative paths, from a fresh working folder):
`ggt restore` → `ggt eval` on real LQ photos without ground truth, real judges named on the command
line with their keys checked first, and `ggt eval --compare` in Table 2's shape."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ggt_hf.cli import main


@pytest.fixture
def real_lq(user_cwd, photos):
    """A working folder with real-LQ photos: lq/rain/<id>.png (a category folder) and lq/<id>.png."""
    tmp_path = user_cwd
    (tmp_path / "lq" / "rain").mkdir(parents=True)
    for i, photo in enumerate(photos[:3]):
        arr = np.asarray(photo.resize((96, 96))).astype(float)
        noisy = arr * 0.8 + np.random.default_rng(i).normal(0, 18, arr.shape)
        where = "lq/rain" if i == 0 else "lq"
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(tmp_path / where / f"img{i}.png")
    return tmp_path


def test_restore_then_eval_on_real_lq_without_ground_truth(real_lq, capsys):
    # ggt restore mirrors the category sub-folder; ggt eval reads it as it is (ids = file stems)
    assert main(["restore", "--model", "classical", "lq", "restored"]) == 0
    assert (real_lq / "restored" / "rain" / "img0.png").is_file()
    capsys.readouterr()
    args = "eval --pred restored --dataset lq --metrics piqe --judge heuristic --out results.json"
    code = main(args.split())
    out = capsys.readouterr().out
    assert code == 0, out
    assert "no ground truth" in out and "input (LQ)" in out
    data = json.loads((real_lq / "results.json").read_text())
    assert data["ground_truth"] is False and data["complete"] is True
    assert set(data["per_image"]) == {"img0", "img1", "img2"}
    assert (
        data["per_image"]["img0"]["category"] == "rain" and data["per_image"]["img1"]["category"] == "general"
    )
    assert {"piqe", "vlm_r"} <= set(data["per_image"]["img1"])
    lq = data["lq_reference"]
    assert set(lq["per_image"]) == {"img0", "img1", "img2"} and "vlm_r" not in lq["overall"]
    # the restored outputs and the inputs get different PIQE scores: the reference row is the LQ's own
    assert lq["overall"]["piqe"] != pytest.approx(data["overall"]["piqe"])
    assert "input (LQ)" in (real_lq / "results.csv").read_text()


def test_full_reference_metrics_refused_without_ground_truth(real_lq, capsys):
    assert main(["restore", "--model", "classical", "lq", "restored"]) == 0
    capsys.readouterr()
    assert main(["eval", "--pred", "restored", "--dataset", "lq", "--metrics", "psnr,piqe"]) == 2
    err = capsys.readouterr().err
    assert "no ground truth" in err and "psnr" in err


def test_packed_split_without_hq_scores_no_reference_only(real_lq, capsys):
    from datasets import Dataset

    from ggt_hf.hub.schema import dataset_features

    rows = []
    for i, path in enumerate(sorted((real_lq / "lq").rglob("*.png"))):
        rows.append(
            {
                "id": path.stem,
                "lq": {"bytes": path.read_bytes(), "path": None},
                "hq": None,
                "category": 1 if path.parent.name == "rain" else 0,
                "split": "test",
                "width": 96,
                "height": 96,
                **dict.fromkeys(("source", "license", "prompt", "provenance", "qc"), None),
                "lq_sha256": str(i),
                "lq_phash": str(i),
            }
        )
    (real_lq / "nohq" / "data").mkdir(parents=True)
    Dataset.from_list(rows, features=dataset_features()).to_parquet(
        str(real_lq / "nohq" / "data" / "test-00000-of-00001.parquet")
    )
    assert main(["restore", "--model", "classical", "lq", "restored"]) == 0
    capsys.readouterr()
    assert (
        main(["eval", "--pred", "restored", "--dataset", "nohq", "--metrics", "piqe", "--out", "r.json"]) == 0
    )
    data = json.loads((real_lq / "r.json").read_text())
    assert data["ground_truth"] is False and [m["name"] for m in data["metrics"]] == ["piqe"]
    assert data["per_image"]["img0"]["category"] == "rain"
    assert set(data["lq_reference"]["per_image"]) == {"img0", "img1", "img2"}


@pytest.mark.parametrize(
    ("judge", "variable"),
    [
        ("gemini", "GEMINI_API_KEY"),
        ("gemini:gemini-3.1-pro-preview", "GEMINI_API_KEY"),
        ("openai:gpt-4.1", "OPENAI_API_KEY"),
    ],
)
def test_judge_key_missing_fails_before_any_work(real_lq, capsys, judge, variable):
    # the predictions folder does not even exist: the key is checked first
    assert main(["eval", "--pred", "nothing_here", "--dataset", "lq", "--judge", judge]) == 2
    err = capsys.readouterr().err
    assert variable in err and "nothing_here" not in err


def test_judge_names_every_vlm_client(real_lq, capsys, monkeypatch):
    from ggt_hf.restore.spec import parse_judge

    assert main(["eval", "--pred", "x", "--dataset", "lq", "--judge", "transformers"]) == 2
    assert "transformers:" in capsys.readouterr().err  # a local VLM needs its model named
    assert main(["eval", "--pred", "x", "--dataset", "lq", "--judge", "llava"]) == 2
    assert "unknown VLM 'llava'" in capsys.readouterr().err
    monkeypatch.setenv("GEMINI_API_KEY", "test-key-not-real")
    client = parse_judge("gemini:gemini-3.1-pro-preview").build()  # no call is made
    assert client.model_id == "gemini-3.1-pro-preview"
    assert parse_judge("transformers:some/local-vlm").model_id == "some/local-vlm"


def test_compare_writes_table2_with_improvement_row(real_lq, capsys):
    # w/o: outputs that change nothing (identity); w/: the classical restorer's outputs
    assert main(["restore", "--model", "identity", "lq", "out_wo"]) == 0
    assert main(["restore", "--model", "classical", "lq", "out_w"]) == 0
    for name in ("wo", "w"):
        assert (
            main(
                [
                    "eval",
                    "--pred",
                    f"out_{name}",
                    "--dataset",
                    "lq",
                    "--metrics",
                    "piqe",
                    "--out",
                    f"{name}.json",
                ]
            )
            == 0
        )
    capsys.readouterr()
    code = main(["eval", "--compare", "w/=w.json", "w/o=wo.json", "official=wo.json", "--out", "table2.md"])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = [ln for ln in out.splitlines() if ln.startswith("| ")]
    assert [ln.split("|")[1].strip() for ln in lines[1:]] == ["official", "w/o", "w/", "Improvement"]
    wo, w = (json.loads((real_lq / f"{n}.json").read_text())["overall"]["piqe"] for n in ("wo", "w"))
    table = json.loads((real_lq / "table2.json").read_text())
    assert table["improvement"]["piqe"] == pytest.approx(w - wo)
    assert table["improved"]["piqe"] is (w < wo)  # PIQE: lower is better
    assert (real_lq / "table2.csv").read_text().splitlines()[-1].startswith("Improvement,")
    assert main(["eval", "--compare", "w/o=wo.json", "w/=missing.json"]) == 2
    assert "missing.json" in capsys.readouterr().err


@pytest.mark.slow  # tries (and fails) to load every learned metric offline
def test_eval_that_would_compute_nothing_refuses(real_lq, capsys):
    assert main(["restore", "--model", "identity", "lq", "restored"]) == 0
    capsys.readouterr()
    assert main(["eval", "--pred", "restored", "--dataset", "lq"]) == 2  # offline: no NR metric has weights
    assert "no metric can be computed" in capsys.readouterr().err
