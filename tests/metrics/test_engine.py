"""The metric engine against pyiqa itself, on real photos, plus its error handling."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from ggt_hf.errors import GGTError
from ggt_hf.imaging.tensors import to_tensor
from ggt_hf.metrics.engine import MetricEngine, PairItem
from ggt_hf.metrics.weights import MissingWeightsError

pyiqa = pytest.importorskip("pyiqa")


@pytest.fixture(scope="module")
def pairs(photos):
    out = []
    for i, photo in enumerate(photos[:4]):
        ref = photo.resize((192, 192), Image.Resampling.LANCZOS)
        pred = ref.filter(ImageFilter.GaussianBlur(1 + i))
        out.append((f"img{i}", pred, ref))
    return out


@pytest.mark.parametrize("fast_path", [False, True])
def test_engine_matches_pyiqa_per_image(pairs, fast_path):
    engine = MetricEngine(["psnr", "ssim", "piqe"], device="cpu", batch_size=3, fast_path=fast_path)
    got = dict(engine.score_pairs([PairItem(k, p, r) for k, p, r in pairs], progress=False))
    assert list(got) == [k for k, _, _ in pairs]
    for name in ("psnr", "ssim", "piqe"):
        metric = pyiqa.create_metric(name, device="cpu")
        for key, pred, ref in pairs:
            p, r = to_tensor([pred]), to_tensor([ref])
            expected = float(metric(p, r) if metric.metric_mode == "FR" else metric(p))
            assert got[key][name] == pytest.approx(expected, abs=1e-4), (name, key)


def test_inputs_decode_once_from_any_form(pairs, tmp_path):
    _, pred, ref = pairs[0]
    pred.save(tmp_path / "p.png")
    buf = io.BytesIO()
    ref.save(buf, format="PNG")
    forms = [
        PairItem("pil", pred, ref),
        PairItem("path", tmp_path / "p.png", np.asarray(ref)),
        PairItem("bytes", (tmp_path / "p.png").read_bytes(), buf.getvalue()),
    ]
    scores = dict(MetricEngine(["psnr"], fast_path=False).score_pairs(forms, progress=False))
    assert scores["pil"] == scores["path"] == scores["bytes"]


def test_crop_border_and_y_channel(pairs):
    _, pred, ref = pairs[1]
    b = 8
    crop = (b, b, pred.width - b, pred.height - b)
    plain = MetricEngine(["psnr"], fast_path=False)
    cropped = MetricEngine(["psnr"], fast_path=False, crop_border=b)
    ((_, s1),) = plain.score_pairs([PairItem("x", pred.crop(crop), ref.crop(crop))], progress=False)
    ((_, s2),) = cropped.score_pairs([PairItem("x", pred, ref)], progress=False)
    assert s1["psnr"] == pytest.approx(s2["psnr"], abs=1e-5)
    ((_, y),) = MetricEngine(["psnr"], fast_path=False, y_channel=True).score_pairs(
        [PairItem("x", pred, ref)], progress=False
    )
    expected = float(pyiqa.create_metric("psnry", device="cpu")(to_tensor([pred]), to_tensor([ref])))
    assert y["psnr"] == pytest.approx(expected, abs=1e-4)


def test_size_mismatch_and_bad_image_are_per_item(pairs):
    _, pred, ref = pairs[0]
    items = [
        PairItem("ok", pred, ref),
        PairItem("small", pred.resize((100, 100)), ref),
        PairItem("broken", b"<html>", ref),
        PairItem("ok2", pred, ref),
    ]
    engine = MetricEngine(["psnr"], fast_path=False)
    results = dict(engine.score_pairs(items, progress=False, errors="return"))
    assert list(results) == ["ok", "small", "broken", "ok2"]
    assert "prediction is 100×100 but reference is 192×192" in str(results["small"])
    assert isinstance(results["broken"], GGTError) and "HTML" in results["broken"].reason
    assert results["ok"]["psnr"] == results["ok2"]["psnr"]
    with pytest.raises(ValueError, match="full-reference metrics need equal sizes"):
        list(engine.score_pairs(items[:2], progress=False))


def test_missing_weights_named_offline(monkeypatch):
    monkeypatch.setenv("GGT_OFFLINE", "1")
    engine = MetricEngine(["niqe", "psnr"], fast_path=False)
    with pytest.raises(
        MissingWeightsError, match=r"niqe: weights file 'niqe_modelparameters.mat' .* place it in"
    ):
        engine.prepare()
    assert set(engine.drop_unavailable()) == {"niqe"}
    assert [s.name for s in engine.specs] == ["psnr"]


def test_vlm_r_is_not_an_image_metric():
    with pytest.raises(ValueError, match="VLM-R is scored by a judge"):
        MetricEngine(["vlm_r"])


def test_batches_never_mix_sizes(pairs):
    _, pred, ref = pairs[0]
    small_p, small_r = pred.resize((96, 96)), ref.resize((96, 96))
    items = [PairItem("a", pred, ref), PairItem("b", small_p, small_r), PairItem("c", pred, ref)]
    engine = MetricEngine(["psnr"], fast_path=False, batch_size=8)
    seen = []
    original = engine._score_batch

    def spy(specs, p, r=None):
        seen.append(tuple(p.shape))
        return original(specs, p, r)

    engine._score_batch = spy
    scores = dict(engine.score_pairs(items, progress=False))
    assert seen == [(1, 3, 192, 192), (1, 3, 96, 96), (1, 3, 192, 192)]
    assert scores["a"] == scores["c"]
    assert torch.get_num_threads() >= 1


def test_one_engine_shared_by_threads_gives_each_caller_its_own_scores(photos):
    """pyiqa's PIQE keeps its last result on the module; without the engine's per-metric lock,
    threads sharing one engine (as ``ggt build``'s QC workers do) got each other's scores
    (18 of 400 calls here before the fix)."""
    from concurrent.futures import ThreadPoolExecutor

    images = [to_tensor([p.convert("RGB").resize((64, 64))]) for p in photos[:4]]
    engine = MetricEngine(["piqe"], device="cpu")
    alone = [engine.score_batch(x)["piqe"][0] for x in images]
    assert len(set(alone)) == 4, "the test needs distinct scores to detect a mix-up"

    def score(i: int) -> tuple[int, float]:
        return i % 4, engine.score_batch(images[i % 4])["piqe"][0]

    with ThreadPoolExecutor(8) as pool:
        wrong = [(k, v) for k, v in pool.map(score, range(400)) if abs(v - alone[k]) > 1e-4]
    assert wrong == []
