"""ggt eval: predictions matched by id, bad submissions reported precisely, results cached."""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image, ImageFilter

from ggt_hf.cli import main
from ggt_hf.evaluation.restorer_eval import evaluate
from ggt_hf.hub.pack import pack
from ggt_hf.hub.pairs import pairs_from_dir
from ggt_hf.judging.heuristic import HeuristicJudge
from ggt_hf.metrics.engine import MetricEngine
from ggt_hf.metrics.specs import parse_metric_list


@pytest.fixture
def test_set(make_pairs_dir, tmp_path):
    """A packed dataset with a 6-pair test split, and a folder of predictions (blurred HQ)."""
    pairs = make_pairs_dir(n=6, size=96)
    records, _ = pairs_from_dir(pairs, split="test")
    pack(records, tmp_path / "ds", progress=False)
    preds = tmp_path / "preds"
    preds.mkdir()
    for path in sorted((pairs / "hq").rglob("*.png")):
        Image.open(path).filter(ImageFilter.GaussianBlur(1.5)).save(preds / path.name)
    return tmp_path / "ds", preds, pairs


METRICS = parse_metric_list("psnr,ssim,piqe", [])


def test_scores_per_category_and_overall(test_set, tmp_path):
    ds, preds, pairs = test_set
    result = evaluate(preds, str(ds), metrics=METRICS, progress=False)
    assert result.problems.ok and len(result.per_image) == 6
    assert set(result.per_category) == {"general", "rain", "haze", "snow", "low_light", "old_photo"}
    for row in result.per_image.values():
        assert 15 < row["psnr"] < 60 and 0 < row["ssim"] < 1
    overall = result.overall
    assert overall["psnr"] == pytest.approx(sum(r["psnr"] for r in result.per_image.values()) / 6)
    # LQ as predictions must score worse than blurred HQ on fidelity
    lq_preds = tmp_path / "lq_preds"
    lq_preds.mkdir()
    for path in (pairs / "lq").rglob("*.png"):
        shutil.copy(path, lq_preds / path.name)
    worse = evaluate(lq_preds, str(ds), metrics=METRICS, progress=False)
    assert worse.overall["psnr"] < overall["psnr"] and worse.overall["ssim"] < overall["ssim"]

    out = tmp_path / "results.json"
    result.write(out)
    data = json.loads(out.read_text())
    assert data["format"] == "ggt-eval-results" and data["complete"] is True
    assert [m["name"] for m in data["metrics"]] == ["psnr", "ssim", "piqe"]
    assert data["metrics"][2]["lower_better"] is True
    assert set(data["per_image"]) == set(result.per_image)
    csv_lines = out.with_suffix(".csv").read_text().splitlines()
    assert csv_lines[0] == "category,n,psnr,ssim,piqe" and csv_lines[-1].startswith("overall,6,")
    table = result.markdown()
    assert "PSNR" in table and "overall" in table


def test_bad_submission_is_reported_item_by_item(test_set):
    ds, preds, _ = test_set
    (preds / "p0.png").unlink()  # missing
    Image.new("RGB", (50, 50)).save(preds / "p1.png")  # wrong size
    (preds / "p2.png").write_bytes(b"<html>oops</html>")  # undecodable
    shutil.copy(preds / "p3.png", preds / "p3.jpg")  # duplicate id
    shutil.copy(preds / "p4.png", preds / "zzz.png")  # extra
    (preds / "notes.txt").write_text("hi")  # not an image
    result = evaluate(preds, str(ds), metrics=METRICS, progress=False)
    p = result.problems
    assert p.missing == ["p0"]
    assert p.invalid["p1"] == "wrong size 50×50, expected 96×96"
    assert "not an image: content is HTML" in p.invalid["p2"]
    assert p.duplicates == {"p3": ["p3.jpg", "p3.png"]}
    assert sorted(p.extra) == ["notes.txt", "zzz.png"]
    assert set(result.per_image) == {"p4", "p5"}
    assert result.to_json()["complete"] is False
    assert len(p.lines()) == 6


def test_cache_avoids_recomputation(test_set, tmp_path, monkeypatch):
    ds, preds, _ = test_set
    cache = tmp_path / "cache.jsonl"
    first = evaluate(preds, str(ds), metrics=METRICS, cache=cache, progress=False)
    calls = []
    original = MetricEngine._decode  # every scored pair is decoded once (PSNR / SSIM score it there)
    monkeypatch.setattr(MetricEngine, "_decode", lambda self, *a: calls.append(1) or original(self, *a))
    again = evaluate(preds, str(ds), metrics=METRICS, cache=cache, progress=False)
    assert calls == [] and again.per_image == first.per_image
    Image.open(preds / "p0.png").filter(ImageFilter.GaussianBlur(3)).save(preds / "p0.png")
    changed = evaluate(preds, str(ds), metrics=METRICS, cache=cache, progress=False)
    assert len(calls) == 1  # only the changed prediction was scored
    assert changed.per_image["p0"]["psnr"] < first.per_image["p0"]["psnr"]


def test_vlm_r_with_judge_and_missing_weights_skipped(test_set, monkeypatch):
    ds, preds, _ = test_set
    monkeypatch.setenv("GGT_OFFLINE", "1")
    result = evaluate(preds, str(ds), metrics=None, judge=HeuristicJudge(), progress=False)
    assert "lpips" in result.skipped_metrics and "niqe" in result.skipped_metrics
    assert [s.name for s in result.specs] == ["psnr", "ssim", "vlm_r"]
    assert all(row["vlm_r"] in (0.0, 1.0) for row in result.per_image.values())
    assert result.to_json()["complete"] is False  # metrics were skipped
    with pytest.raises(ValueError, match="VLM-R needs a judge"):
        evaluate(preds, str(ds), metrics=parse_metric_list("vlm_r", []), progress=False)


def test_cli_exit_codes(test_set, tmp_path, capsys):
    ds, preds, _ = test_set
    out = tmp_path / "r.json"
    assert (
        main(
            ["eval", "--pred", str(preds), "--dataset", str(ds), "--metrics", "psnr,ssim", "--out", str(out)]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "overall" in text and out.exists() and (tmp_path / "r.json.cache.jsonl").exists()
    (preds / "p5.png").unlink()
    assert main(["eval", "--pred", str(preds), "--dataset", str(ds), "--metrics", "psnr"]) == 1
    assert "missing prediction for id 'p5'" in capsys.readouterr().err


def test_the_judge_sees_the_lq_as_every_other_read_decodes_it(tmp_path):
    """VLM-R compares the LQ with the prediction; the LQ went through a bare ``Image.open`` that
    dropped its alpha (black where it was transparent) while every other read composites onto white."""
    import io
    from types import SimpleNamespace

    import numpy as np

    from ggt_hf.evaluation.restorer_eval import _score_vlm
    from ggt_hf.imaging.images import decode_image

    lq = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    lq.paste((200, 10, 10, 255), (0, 0, 4, 8))
    buf = io.BytesIO()
    lq.save(buf, "PNG")
    pred = tmp_path / "a.png"
    Image.new("RGB", (8, 8), (90, 90, 90)).save(pred)
    seen = []

    class Judge:
        def judge(self, lq_image, out_image):
            seen.append((lq_image, out_image))
            return SimpleNamespace(success=True, failed=[])

    ref = SimpleNamespace(items=lambda rows: [SimpleNamespace(id="a", lq=buf.getvalue())])
    per_image = {"a": {}}
    _score_vlm(ref, None, {"a": pred}, Judge(), per_image)
    ((judged_lq, judged_out),) = seen
    assert np.array_equal(np.asarray(judged_lq), np.asarray(decode_image(buf.getvalue()).image))
    assert judged_lq.getpixel((7, 0)) == (255, 255, 255)
    assert np.asarray(judged_out).tolist() == np.asarray(Image.open(pred)).tolist()
    assert per_image == {"a": {"vlm_r": 1.0, "vlm_failed": []}}
