"""The engine's per-pair PSNR / SSIM (``ggt_hf.metrics.fast_cv``, OpenCV) against pyiqa itself.

Real photos at an odd size (251×187) with real degradations, each pyiqa score computed once.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFilter

torch = pytest.importorskip("torch")
pyiqa = pytest.importorskip("pyiqa")
pytest.importorskip("cv2")

from ggt_hf.imaging.tensors import to_tensor  # noqa: E402
from ggt_hf.metrics import fast_cv  # noqa: E402
from ggt_hf.metrics.engine import MetricEngine, PairItem  # noqa: E402

TOL = 1e-4
SIZE = (251, 187)
KERNELS = {
    "psnr": (fast_cv.psnr_u8, False),
    "psnry": (fast_cv.psnr_u8, True),
    "ssim": (fast_cv.ssim_u8, True),
    "ssimc": (fast_cv.ssim_u8, False),
}


def _jpeg(img: Image.Image, quality: int = 30) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


@pytest.fixture(scope="module")
def photo_pairs(photos) -> list[tuple[np.ndarray, np.ndarray]]:
    """Two bundled photos at 251×187: one JPEG q30, one blurred."""
    refs = [p.resize(SIZE, Image.Resampling.LANCZOS) for p in photos[:2]]
    preds = [_jpeg(refs[0]), refs[1].filter(ImageFilter.GaussianBlur(1.5))]
    return [(np.asarray(p), np.asarray(r)) for p, r in zip(preds, refs, strict=True)]


@pytest.mark.parametrize("crop_border", [0, 4])
@pytest.mark.parametrize("metric_id", sorted(KERNELS))
def test_matches_pyiqa_on_photos(metric_id, crop_border, photo_pairs):
    kernel, y_channel = KERNELS[metric_id]
    metric = pyiqa.create_metric(metric_id, device="cpu", crop_border=crop_border)
    for pred, ref in photo_pairs:
        with torch.no_grad():
            expected = float(metric(to_tensor([pred]), to_tensor([ref])))
        got = kernel(pred, ref, y_channel=y_channel, crop_border=crop_border)
        assert got == pytest.approx(expected, abs=TOL), (metric_id, crop_border)


def test_rejects_mismatched_or_too_small_pairs(photo_pairs):
    pred, ref = photo_pairs[0]
    with pytest.raises(ValueError, match="one shape"):
        fast_cv.ssim_u8(pred, ref[:-1])
    with pytest.raises(ValueError, match="need at least 11x11"):
        fast_cv.ssim_u8(pred[:12, :12], ref[:12, :12], crop_border=1)


def test_engine_scores_psnr_ssim_without_building_tensors(photo_pairs):
    """PSNR + SSIM on the CPU are scored per pair from the decoded uint8 arrays: no float batch."""
    items = [
        PairItem(f"k{i}", Image.fromarray(p), Image.fromarray(r)) for i, (p, r) in enumerate(photo_pairs)
    ]
    engine = MetricEngine(["psnr", "ssim"], device="cpu", batch_size=2)
    built = []
    original = engine._score_batch
    engine._score_batch = lambda specs, p, r=None: built.append(p.shape) or original(specs, p, r)
    got = dict(engine.score_pairs(items, progress=False))
    assert built == []
    assert [list(v) for v in got.values()] == [["psnr", "ssim"]] * 2
    slow = dict(
        MetricEngine(["psnr", "ssim"], device="cpu", fast_path=False).score_pairs(items, progress=False)
    )
    for key, scores in got.items():
        for name, value in scores.items():
            assert value == pytest.approx(slow[key][name], abs=TOL), (key, name)


def test_engine_records_a_pair_too_small_for_ssim_and_goes_on(photo_pairs):
    pred, ref = photo_pairs[0]
    tiny = Image.fromarray(pred[:8, :8])
    items = [PairItem("tiny", tiny, tiny), PairItem("ok", Image.fromarray(pred), Image.fromarray(ref))]
    got = dict(
        MetricEngine(["psnr", "ssim"], device="cpu").score_pairs(items, progress=False, errors="return")
    )
    assert isinstance(got["tiny"], ValueError) and "11x11" in str(got["tiny"])
    assert set(got["ok"]) == {"psnr", "ssim"}


@pytest.mark.parametrize("levels", [(255, 250), (250, 252), (0, 5), (255, 0)])
def test_float32_ssim_holds_on_flat_saturated_regions(levels):
    """Flat regions far from mid-grey are where ``E[v²] − μ²`` cancels most: still ~1e-7 of the
    float64 kernel (``fast``, itself checked against pyiqa). Without centring s = x + y on 0 the
    bright pair (250, 252) drifts by 1.3e-6."""
    from ggt_hf.metrics import fast

    rng = np.random.default_rng(0)
    x = np.zeros((256, 256, 3), np.uint8)
    x[:, :128], x[:, 128:] = levels
    y = np.clip(x.astype(int) + rng.integers(-1, 2, x.shape), 0, 255).astype(np.uint8)
    for y_channel in (True, False):
        expected = float(fast.ssim(to_tensor([x]), to_tensor([y]), y_channel=y_channel))
        assert fast_cv.ssim_u8(x, y, y_channel=y_channel) == pytest.approx(expected, abs=5e-7)
