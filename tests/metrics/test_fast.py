"""ggt_hf.metrics.fast against pyiqa itself, on real photos and pyiqa's own calibration pairs.

pyiqa's float64 SSIM is slow on the CPU (~0.5 s per 0.05 MP image and metric here), so the photos are
small (187×251: odd sizes, which exercise MS-SSIM's zero-padded pooling at scales 1 and 3); the
1024² comparison is marked slow. The quick, tight checks of every branch (tiny synthetic images,
input checks, hand-worked values) are in ``test_fast_small.py``: those are the tests the mutation
run of ``fast.py`` uses (see ``[tool.mutmut]``).
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

torch = pytest.importorskip("torch")
pyiqa = pytest.importorskip("pyiqa")
data = pytest.importorskip("skimage.data")

from ggt_hf.metrics.fast import FAST_METRICS, ms_ssim, psnr, ssim  # noqa: E402

TOL = 1e-4
IDS = ("psnr", "psnry", "ssim", "ssimc", "ms_ssim")
SIZE = (251, 187)  # PIL (width, height); odd on purpose
CALIBRA = Path(pyiqa.__file__).resolve().parent.parent / "ResultsCalibra"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@cache
def _pyiqa(metric_id: str, **opts) -> torch.nn.Module:
    return pyiqa.create_metric(metric_id, device="cpu", **opts)


def _ref(metric_id: str, pred: torch.Tensor, ref: torch.Tensor, **opts) -> torch.Tensor:
    with torch.no_grad():
        return _pyiqa(metric_id, **opts)(pred, ref).reshape(-1).double()


def _tensor(img: Image.Image | np.ndarray) -> torch.Tensor:
    arr = np.array(img.convert("RGB") if isinstance(img, Image.Image) else img, dtype=np.float32)
    return torch.from_numpy(arr / 255.0).permute(2, 0, 1).unsqueeze(0).contiguous()


def _photo(name: str, size: tuple[int, int] = SIZE) -> Image.Image:
    """A skimage photo, centre-cropped to the aspect of ``size`` and resized to it."""
    img = Image.fromarray(getattr(data, name)())
    w, h = img.size
    tw, th = size
    scale = min(w / tw, h / th)
    cw, ch = round(tw * scale), round(th * scale)
    left, top = (w - cw) // 2, (h - ch) // 2
    return img.crop((left, top, left + cw, top + ch)).resize(size, Image.Resampling.LANCZOS)


def _jpeg(img: Image.Image, quality: int = 30) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _blur(img: Image.Image) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(1.5))


def _noise(img: Image.Image, sigma: float = 0.05, seed: int = 0) -> torch.Tensor:
    x = _tensor(img)
    gen = torch.Generator().manual_seed(seed)
    return (x + sigma * torch.randn(x.shape, generator=gen)).clamp_(0, 1)


def _max_delta(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a.double() - b.double()).abs().max().item()


@pytest.fixture(scope="module")
def photo_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """3 photos, each with a different degradation: JPEG q30, gaussian blur, noise."""
    refs = [_photo(n) for n in ("astronaut", "coffee", "chelsea")]
    preds = [_tensor(_jpeg(refs[0])), _tensor(_blur(refs[1])), _noise(refs[2])]
    return torch.cat(preds), torch.cat([_tensor(r) for r in refs])


@pytest.fixture(scope="module")
def rocket_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """One more photo, JPEG q30 + noise, used at batch size 1."""
    ref = _photo("rocket")
    return _noise(_jpeg(ref), sigma=0.03, seed=1), _tensor(ref)


@cache
def _calibra_pair(name: str, size: tuple[int, int] | None = SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """pyiqa's calibration pair ``dist_dir/name`` vs ``ref_dir/name`` (shipped in the wheel)."""
    if not (CALIBRA / "ref_dir" / name).is_file():
        pytest.skip(f"pyiqa's ResultsCalibra images are not installed ({CALIBRA})")
    imgs = [Image.open(CALIBRA / side / name).convert("RGB") for side in ("dist_dir", "ref_dir")]
    if size is not None:
        imgs = [im.resize(size, Image.Resampling.LANCZOS) for im in imgs]
    dist, ref = (_tensor(im) for im in imgs)
    return dist, ref


@pytest.mark.parametrize("metric_id", IDS)
def test_photo_batch_of_3_and_singles(metric_id, photo_batch):
    pred, ref = photo_batch
    expected = _ref(metric_id, pred, ref)
    fast = FAST_METRICS[metric_id]
    got = fast(pred, ref)
    assert got.shape == (3,)
    assert _max_delta(got, expected) <= TOL
    for i in range(3):  # batch size 1 gives the same per-image scores
        assert _max_delta(fast(pred[i : i + 1], ref[i : i + 1]), expected[i : i + 1]) <= TOL


@pytest.mark.parametrize("metric_id", IDS)
def test_photo_batch_of_1(metric_id, rocket_pair):
    pred, ref = rocket_pair
    got = FAST_METRICS[metric_id](pred, ref)
    assert got.shape == (1,)
    assert _max_delta(got, _ref(metric_id, pred, ref)) <= TOL


@pytest.mark.parametrize("metric_id", IDS)
def test_pyiqa_calibration_pairs_batch_of_3(metric_id):
    pairs = [_calibra_pair(n) for n in ("I03.bmp", "I04.bmp", "I06.bmp")]
    pred, ref = (torch.cat(t) for t in zip(*pairs, strict=True))
    assert _max_delta(FAST_METRICS[metric_id](pred, ref), _ref(metric_id, pred, ref)) <= TOL


@pytest.mark.parametrize("metric_id", ["psnr", "ssim", "ms_ssim"])
@pytest.mark.parametrize("name", ["I08.bmp", "I19.bmp"])
def test_pyiqa_calibration_pairs_batch_of_1(metric_id, name):
    pred, ref = _calibra_pair(name)
    assert _max_delta(FAST_METRICS[metric_id](pred, ref), _ref(metric_id, pred, ref)) <= TOL


def test_ms_ssim_rgb_channels(rocket_pair):
    """y_channel=False for MS-SSIM (not a pyiqa default id, but a pyiqa option)."""
    pred, ref = (t[..., :176, :176] for t in rocket_pair)
    expected = _ref("ms_ssim", pred, ref, test_y_channel=False)
    assert _max_delta(ms_ssim(pred, ref, y_channel=False), expected) <= TOL


def test_y_channel_flag_matches_ids(photo_batch):
    pred, ref = (t[:1] for t in photo_batch)
    assert torch.equal(psnr(pred, ref), FAST_METRICS["psnr"](pred, ref))
    assert torch.equal(psnr(pred, ref, y_channel=True), FAST_METRICS["psnry"](pred, ref))
    assert torch.equal(ssim(pred, ref), FAST_METRICS["ssim"](pred, ref))
    assert torch.equal(ssim(pred, ref, y_channel=False), FAST_METRICS["ssimc"](pred, ref))
    assert torch.equal(ms_ssim(pred, ref), FAST_METRICS["ms_ssim"](pred, ref))
    assert not torch.equal(ssim(pred, ref), ssim(pred, ref, y_channel=False))


@pytest.mark.parametrize("border", [4])
def test_crop_border_matches_manual_crop(border, rocket_pair):
    pred, ref = rocket_pair
    cp, cr = (t[..., border:-border, border:-border] for t in rocket_pair)
    for metric_id, fn, kwargs in (
        ("psnr", psnr, {}),
        ("psnry", psnr, {"y_channel": True}),
        ("ssim", ssim, {}),
        ("ms_ssim", ms_ssim, {}),
    ):
        got = fn(pred, ref, crop_border=border, **kwargs)
        assert _max_delta(got, _ref(metric_id, cp, cr)) <= TOL, metric_id
        assert _max_delta(got, fn(cp, cr, **kwargs)) <= 1e-12, metric_id
    # pyiqa's own crop_border option (PSNR, SSIM) means the same thing
    assert _max_delta(psnr(pred, ref, crop_border=border), _ref("psnr", pred, ref, crop_border=border)) <= TOL
    assert _max_delta(ssim(pred, ref, crop_border=border), _ref("ssim", pred, ref, crop_border=border)) <= TOL


def test_identical_images_like_pyiqa():
    x = _tensor(_photo("coffee", (170, 165)))
    # pyiqa adds eps=1e-8 to the MSE: identical images give 80 dB, not inf
    for metric_id in ("psnr", "psnry"):
        expected = _ref(metric_id, x, x.clone())
        got = FAST_METRICS[metric_id](x, x.clone())
        assert torch.isfinite(got).all()
        assert _max_delta(got, expected) <= TOL
        assert got.item() == pytest.approx(80.0, abs=1e-4)
    for metric_id in ("ssim", "ssimc", "ms_ssim"):
        assert _ref(metric_id, x, x.clone()).item() == 1.0
        assert FAST_METRICS[metric_id](x, x.clone()).item() == 1.0


@pytest.mark.slow
def test_1024_square():
    ref = _photo("astronaut", (1024, 1024))
    pred, ref = _tensor(_jpeg(ref, 30)), _tensor(ref)
    for metric_id in ("psnr", "ssim", "ms_ssim"):
        assert _max_delta(FAST_METRICS[metric_id](pred, ref), _ref(metric_id, pred, ref)) <= TOL


def test_output_dtypes_like_pyiqa(rocket_pair):
    pred, ref = rocket_pair
    assert psnr(pred, ref).dtype == torch.float32
    assert ssim(pred, ref).dtype == torch.float64
    assert ms_ssim(pred, ref).dtype == torch.float64
    assert not psnr(pred, ref).requires_grad
