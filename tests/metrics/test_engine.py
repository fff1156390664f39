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


def _normalising_in_place(model):
    """A stand-in for pyiqa's AFINE, whose ``forward`` normalises its input tensor in place."""

    def score(x, *_):
        x.sub_(0.45).div_(0.27)
        return x.mean(dim=(1, 2, 3))

    return score


def test_a_metric_writing_to_its_input_changes_no_other_score(pairs, monkeypatch):
    """AFINE (pyiqa) normalises the batch it is given in place: every metric after it in the engine
    saw the normalised pixels (and pyiqa's range check failed), and ``score_batch`` changed the
    caller's tensors. Each pyiqa network now gets its own copy, whatever the metric order."""
    from ggt_hf.metrics import engine as engine_module

    real = engine_module.create_pyiqa_metric

    def create(name, pid, device, **options):
        model = real(name, pid, device, **options)
        return _normalising_in_place(model) if pid == "piqe" else model

    monkeypatch.setattr(engine_module, "create_pyiqa_metric", create)
    items = [PairItem(k, p, r) for k, p, r in pairs]
    alone = dict(MetricEngine(["gmsd", "piqe"], batch_size=4).score_pairs(items, progress=False))
    after = dict(MetricEngine(["piqe", "gmsd"], batch_size=4).score_pairs(items, progress=False))
    assert {k: v["gmsd"] for k, v in after.items()} == {k: v["gmsd"] for k, v in alone.items()}
    pred, ref = to_tensor([p for _, p, _ in pairs]), to_tensor([r for _, _, r in pairs])
    kept = pred.clone()
    MetricEngine(["piqe", "gmsd"]).score_batch(pred, ref)
    assert torch.equal(pred, kept)


def test_time_spent_names_every_stage(pairs):
    """Where the time goes: decoding, batching and each metric (no claim on the values)."""
    engine = MetricEngine(["psnr", "ssim", "gmsd"], device="cpu", batch_size=2)
    list(engine.score_pairs([PairItem(k, p, r) for k, p, r in pairs], progress=False))
    assert set(engine.time_spent) == {"decode", "psnr", "ssim", "to_tensor", "gmsd"}
    assert all(seconds > 0 for seconds in engine.time_spent.values())


def _afine_like(x, *_):
    """pyiqa's AFINE ``forward`` on the batch: ``squeeze(0)`` … ``unsqueeze(0)``, then its size check,
    which a batch of N > 1 (now 5-D) fails."""
    x = x.squeeze(0).unsqueeze(0)
    assert x.shape[2] % 32 == 0 and x.shape[3] % 32 == 0, "must be divisible by 32"
    return x.mean(dim=(1, 2, 3))


def test_a_one_image_metric_scores_every_image_of_a_batch(pairs, monkeypatch):
    """AFINE scores one image per call: with the engine's default batch of 4 it failed on every
    batch of two or more images; now it gets them one by one, with the scores of batch size 1."""
    from ggt_hf.metrics import engine as engine_module

    monkeypatch.setattr(engine_module, "create_pyiqa_metric", lambda *_, **__: _afine_like)
    items = [PairItem(k, p, r) for k, p, r in pairs]
    batched = dict(MetricEngine(["afine_nr"], batch_size=4).score_pairs(items, progress=False))
    single = dict(MetricEngine(["afine_nr"], batch_size=1).score_pairs(items, progress=False))
    assert batched == single and len(batched) == len(pairs)
