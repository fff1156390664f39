"""ggt_hf.metrics.fast against pyiqa's own SSIM / MS-SSIM / PSNR modules on SMALL synthetic images.

These are the quick, tight checks (each test well under a second on one thread): small batches of
odd-sized images that exercise every branch of the fast code — several bands of rows (the band
size is forced small), anti-correlated pairs (the contrast-structure clamp at 0), flat dark
regions (where C1 decides the luminance term), values between the 8-bit levels (the rounding),
1- and 3-channel inputs, odd sizes at every MS-SSIM scale (the zero-padded pooling). The photo
comparisons at realistic sizes are in ``test_fast.py``.

The reference is pyiqa itself (``pyiqa.archs``: the modules ``pyiqa.create_metric`` wraps), held
to 2e-6: the only difference left is pyiqa's window being rounded to float32 (see ``fast``).
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ssim_arch = pytest.importorskip("pyiqa.archs.ssim_arch")
psnr_arch = pytest.importorskip("pyiqa.archs.psnr_arch")

from ggt_hf.metrics import fast  # noqa: E402
from ggt_hf.metrics.fast import FAST_METRICS, ms_ssim, psnr, ssim  # noqa: E402

TOL = 2e-6


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@cache
def _batch(n: int, c: int, h: int, w: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` (pred, ref) pairs cycling through four kinds, values off the 8-bit levels.

    0: textured ref, noisy pred; 1: pred = 1 − ref (anti-correlated: negative contrast-structure,
    clamped at 0); 2: flat dark ref vs flat darker pred plus faint noise (luminance term, C1);
    3: ref rescaled and shifted (luminance and contrast both off).
    """
    gen = torch.Generator().manual_seed(seed)
    yy = torch.linspace(0, 1, h).view(h, 1)
    xx = torch.linspace(0, 1, w).view(1, w)
    preds, refs = [], []
    for i in range(n):
        texture = 0.5 + 0.25 * torch.sin(9 * xx + 5 * yy + i) * torch.cos(7 * yy - 3 * xx)
        ref = (texture + 0.15 * torch.rand((c, h, w), generator=gen)).clamp(0, 1)
        kind = i % 4
        if kind == 0:
            pred = ref + 0.08 * torch.randn((c, h, w), generator=gen)
        elif kind == 1:
            pred = 1 - ref
        elif kind == 2:
            ref = torch.full((c, h, w), 0.031) + 0.002 * torch.rand((c, h, w), generator=gen)
            pred = torch.full((c, h, w), 0.012) + 0.004 * torch.rand((c, h, w), generator=gen)
        else:
            pred = 0.6 * ref + 0.3
        preds.append(pred.clamp(0, 1))
        refs.append(ref)
    return torch.stack(preds).float(), torch.stack(refs).float()


@cache
def _pyiqa(metric: str, batch: tuple[int, ...], y_channel: bool, crop_border: int = 0) -> torch.Tensor:
    """pyiqa's score of ``_batch(*batch)`` (computed once per test session)."""
    pred, ref = _batch(*batch)
    if metric == "ms_ssim":
        assert crop_border == 0  # pyiqa's MS_SSIM has no crop_border option
        model = ssim_arch.MS_SSIM(test_y_channel=y_channel)
    elif metric == "ssim":
        model = ssim_arch.SSIM(test_y_channel=y_channel, crop_border=crop_border)
    else:
        model = psnr_arch.PSNR(test_y_channel=y_channel, crop_border=crop_border)
    with torch.no_grad():
        return model(pred, ref).reshape(-1)


def _delta(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a.double() - b.double()).abs().max().item()


@pytest.fixture(params=["one band", "bands of 3 rows"])
def bands(request, monkeypatch):
    """The band of rows is a cache optimisation: the scores must not depend on it."""
    if request.param != "one band":
        monkeypatch.setattr(fast, "_BAND_ELEMS", 1)
        monkeypatch.setattr(fast, "_MIN_BAND_ROWS", 3)
    return request.param


SMALL = (4, 3, 27, 33)  # 17 rows of SSIM output: bands of 3 rows leave a partial last one
SMALL_GREY = (4, 1, 27, 33)
#: 161 -> 81 -> 41 -> 21 -> 11 rows (odd at every scale), 170 -> 85 -> 43 -> 22 -> 11 columns
MS = (4, 3, 161, 170, 1)
MS_ONE = (1, 3, 161, 170, 1)


@pytest.mark.parametrize(("batch", "y_channel"), [(SMALL, True), (SMALL, False), (SMALL_GREY, True)])
def test_ssim_matches_pyiqa_on_small_batches(batch, y_channel, bands):
    pred, ref = _batch(*batch)
    got = ssim(pred, ref, y_channel=y_channel)
    assert got.dtype == torch.float64 and got.shape == (4,)
    assert _delta(got, _pyiqa("ssim", batch, y_channel)) <= TOL
    assert got[1] < 0.2  # the anti-correlated pair: clamped contrast-structure, not negative
    for i in range(4):  # a batch of one gives the same score
        assert _delta(ssim(pred[i : i + 1], ref[i : i + 1], y_channel=y_channel), got[i : i + 1]) <= 1e-12


@pytest.mark.parametrize(("batch", "y_channel"), [(MS, True), (MS_ONE, False)])
def test_ms_ssim_matches_pyiqa_at_odd_sizes(batch, y_channel, bands):
    pred, ref = _batch(*batch)
    got = ms_ssim(pred, ref, y_channel=y_channel)
    assert got.dtype == torch.float64 and got.shape == (batch[0],)
    assert _delta(got, _pyiqa("ms_ssim", batch, y_channel)) <= TOL
    # one image alone gets the same score to the last bits, though its bands of rows differ
    # (their height depends on the batch size): the per-image sums stay float64
    for i in range(batch[0]):
        assert _delta(ms_ssim(pred[i : i + 1], ref[i : i + 1], y_channel=y_channel), got[i : i + 1]) <= 1e-12


def test_the_band_height_changes_no_score_beyond_float64_rounding(monkeypatch):
    """The band height follows the batch size and the image width; the per-image sums are kept in
    float64, so bands of 3 rows give the one-band scores to ~1e-16 (float32 sums: ~5e-8 off)."""
    pred, ref = _batch(*MS)
    one_band = ms_ssim(pred, ref), ssim(pred, ref)
    monkeypatch.setattr(fast, "_BAND_ELEMS", 1)
    monkeypatch.setattr(fast, "_MIN_BAND_ROWS", 3)
    assert _delta(ms_ssim(pred, ref), one_band[0]) <= 1e-12
    assert _delta(ssim(pred, ref), one_band[1]) <= 1e-12


def test_scores_stay_on_the_inputs_device():
    """Plain torch throughout, so CUDA tensors are scored on the GPU: checked here with PyTorch's
    data-less ``meta`` device (no GPU needed), on which every step must stay."""
    pred = torch.rand(2, 3, 161, 170).to("meta")
    for fn in (psnr, ssim, ms_ssim):
        for y_channel in (True, False):
            got = fn(pred, pred, y_channel=y_channel)
            assert got.device.type == "meta" and got.shape == (2,), (fn.__name__, y_channel)


#: flat (pred, ref) grey levels: dark ones, where C1 and the window's sum decide the luminance
#: term, and far-apart ones, where float32 arithmetic would drift (why ``fast`` is float64)
FLAT = [(30, 12), (12, 30), (3, 0), (240, 20), (255, 0), (60, 61)]


@pytest.mark.parametrize("y_channel", [True, False])
def test_flat_images_match_pyiqa_to_the_last_digits(y_channel):
    """On flat images SSIM is the luminance term of the local means, i.e. of level × the window's
    sum. pyiqa's window is rounded to float32 (its sum is 1 − 6e-9); the separable taps are scaled
    to that same sum, so the scores agree to float64 rounding, not just to 1e-6."""
    pred = torch.stack([torch.full((3, 13, 15), a / 255) for a, _ in FLAT])
    ref = torch.stack([torch.full((3, 13, 15), b / 255) for _, b in FLAT])
    with torch.no_grad():
        expected = ssim_arch.SSIM(test_y_channel=y_channel)(pred, ref)
    assert _delta(ssim(pred, ref, y_channel=y_channel), expected) <= 1e-10


def test_float64_inputs_are_scored_like_pyiqa_scores_them():
    pred, ref = (t.double() for t in _batch(*SMALL))
    with torch.no_grad():
        assert _delta(ssim(pred, ref), ssim_arch.SSIM()(pred, ref)) <= TOL
        expected = psnr_arch.PSNR(test_y_channel=True)(pred, ref)
    got = psnr(pred, ref, y_channel=True)
    assert got.dtype == torch.float64 and _delta(got, expected) <= 1e-4


def test_uint8_array_kernels_name_the_sizes_when_the_crop_leaves_too_little():
    """``fast_cv`` checks its H×W×C arrays with the same rule (a 2-D size, not NCHW)."""
    pytest.importorskip("cv2")
    from ggt_hf.metrics import fast_cv

    a = np.zeros((12, 20, 3), np.uint8)
    assert fast_cv.psnr_u8(a, a, crop_border=5) == pytest.approx(80.0, abs=1e-4)
    with pytest.raises(ValueError) as info:
        fast_cv.psnr_u8(a, a, crop_border=6)
    assert str(info.value) == "images of size 12x20 with crop_border=6 leave 0x8 pixels, need at least 1x1"


@pytest.mark.parametrize("y_channel", [True, False])
@pytest.mark.parametrize("border", [0, 3])
def test_psnr_and_ssim_crop_border_match_pyiqa(y_channel, border):
    batch = (2, 3, 24, 29, 3)
    pred, ref = _batch(*batch)
    got = ssim(pred, ref, y_channel=y_channel, crop_border=border)
    assert _delta(got, _pyiqa("ssim", batch, y_channel, border)) <= TOL
    got = psnr(pred, ref, y_channel=y_channel, crop_border=border)
    assert got.dtype == torch.float32 and got.shape == (2,)
    assert _delta(got, _pyiqa("psnr", batch, y_channel, border)) <= 1e-4


def test_ms_ssim_crop_border_is_the_score_of_the_cropped_images():
    pred, ref = _batch(1, 3, 167, 171, 4)
    cropped = [t[..., 3:-3, 3:-3] for t in (pred, ref)]
    assert _delta(ms_ssim(pred, ref, crop_border=3), ms_ssim(*cropped)) <= 1e-12


def test_fast_metrics_ids_use_pyiqas_default_options():
    """``FAST_METRICS[id]`` is pyiqa's metric ``id`` with its default options."""
    pred, ref = _batch(*SMALL)
    assert _delta(FAST_METRICS["psnr"](pred, ref), _pyiqa("psnr", SMALL, False)) <= 1e-4
    assert _delta(FAST_METRICS["psnry"](pred, ref), _pyiqa("psnr", SMALL, True)) <= 1e-4
    assert _delta(FAST_METRICS["ssim"](pred, ref), _pyiqa("ssim", SMALL, True)) <= TOL
    assert _delta(FAST_METRICS["ssimc"](pred, ref), _pyiqa("ssim", SMALL, False)) <= TOL
    assert _delta(FAST_METRICS["ms_ssim"](*_batch(*MS)), _pyiqa("ms_ssim", MS, True)) <= TOL
    assert _pyiqa("psnr", SMALL, False)[0] != _pyiqa("psnr", SMALL, True)[0]  # the options differ here
    # the functions' own defaults are those ids' too: PSNR on RGB, SSIM and MS-SSIM on Y
    assert torch.equal(psnr(pred, ref), FAST_METRICS["psnr"](pred, ref))
    assert torch.equal(ssim(pred, ref), FAST_METRICS["ssim"](pred, ref))
    assert torch.equal(ms_ssim(*_batch(*MS_ONE)), FAST_METRICS["ms_ssim"](*_batch(*MS_ONE)))
    assert not torch.equal(ms_ssim(*_batch(*MS_ONE)), ms_ssim(*_batch(*MS_ONE), y_channel=False))


# --- input checks and small hand-worked values (moved from test_fast.py) ---


@pytest.mark.parametrize("fn", [psnr, ssim, ms_ssim])
def test_shape_mismatch_raises(fn):
    a, b = torch.rand(1, 3, 200, 200), torch.rand(1, 3, 200, 201)
    with pytest.raises(ValueError, match=r"\(1, 3, 200, 200\).*\(1, 3, 200, 201\)"):
        fn(a, b)
    with pytest.raises(ValueError, match="same shape"):
        fn(torch.rand(2, 3, 200, 200), torch.rand(1, 3, 200, 200))


@pytest.mark.parametrize("fn", [psnr, ssim, ms_ssim])
def test_bad_inputs_raise(fn):
    x = torch.rand(1, 3, 200, 200)
    with pytest.raises(ValueError):
        fn(x[0], x[0])  # not NCHW
    with pytest.raises(ValueError, match="crop_border"):
        fn(x, x, crop_border=-1)
    with pytest.raises(ValueError, match="crop_border"):
        fn(x, x, crop_border=100)


def test_too_small_raises():
    x = torch.rand(1, 3, 161, 300)
    with pytest.raises(ValueError, match="161"):
        ms_ssim(x[..., :160, :], x[..., :160, :])
    assert ms_ssim(x, x).item() == 1.0  # 161 -> 81 -> 41 -> 21 -> 11: one window at the coarsest scale
    with pytest.raises(ValueError) as info:
        ssim(x[..., :10, :12], x[..., :10, :12])
    assert (
        str(info.value) == "images of size 10x12 with crop_border=0 leave 10x12 pixels, need at least 11x11"
    )


@pytest.mark.parametrize("fn", [psnr, ssim, ms_ssim])
@pytest.mark.parametrize("float_first", [True, False])
def test_one_float_and_one_integer_tensor_are_refused_together(fn, float_first):
    f, i = torch.rand(1, 3, 16, 16), torch.zeros(1, 3, 16, 16, dtype=torch.uint8)
    pred, ref = (f, i) if float_first else (i, f)
    with pytest.raises(TypeError) as info:
        fn(pred, ref)
    assert str(info.value) == f"expected float tensors in [0, 1], got {pred.dtype} and {ref.dtype}"


@pytest.mark.parametrize("fn", [psnr, ssim, ms_ssim])
def test_non_tensors_and_empty_batches_are_refused_with_the_reason(fn):
    x = torch.rand(1, 3, 16, 16)
    for a, b in [(x.numpy(), x), (x, x.numpy())]:
        with pytest.raises(TypeError) as info:
            fn(a, b)
        assert (
            str(info.value)
            == f"pred and ref must be torch.Tensor, got {type(a).__name__} and {type(b).__name__}"
        )
    for shape in [(0, 3, 16, 16), (1, 0, 16, 16)]:
        with pytest.raises(ValueError) as info:
            fn(torch.rand(shape), torch.rand(shape))
        assert str(info.value) == f"expected NCHW tensors with N >= 1, got shape {shape}"


@pytest.mark.parametrize("border", [True, 1.0, "1"])
def test_crop_border_must_be_an_int(border):
    x = torch.rand(1, 1, 16, 16)
    with pytest.raises(ValueError) as info:
        psnr(x, x, crop_border=border)
    assert str(info.value) == f"crop_border must be a non-negative int, got {border!r}"


def test_crop_border_that_leaves_too_little_names_the_sizes():
    x = torch.rand(1, 1, 12, 20)
    assert psnr(x, x, crop_border=5).shape == (1,)  # 2x10 pixels left: enough for PSNR
    with pytest.raises(ValueError) as info:
        psnr(x, x, crop_border=6)
    assert str(info.value) == "images of size 12x20 with crop_border=6 leave 0x8 pixels, need at least 1x1"


def test_psnr_by_hand_per_image_with_border_and_y_channel():
    ref = torch.zeros(2, 3, 6, 6)
    pred = ref.clone()
    pred[0, :, 1:-1, 1:-1] = 0.1  # inside the 1-pixel border
    pred[1, 0] = 0.5  # red only, everywhere
    expected0 = 10 * math.log10(1 / (0.01 * 16 / 36 + 1e-8))
    expected1 = 10 * math.log10(1 / (0.25 / 3 + 1e-8))
    assert psnr(pred, ref).tolist() == pytest.approx([expected0, expected1], rel=1e-5)
    assert psnr(pred, ref, crop_border=1)[0].item() == pytest.approx(
        10 * math.log10(1 / (0.01 + 1e-8)), rel=1e-5
    )
    # Y = 0.299 R: the red-only difference seen through the luma
    assert psnr(pred, ref, y_channel=True)[1].item() == pytest.approx(
        10 * math.log10(1 / ((0.299 * 0.5) ** 2 + 1e-8)), rel=1e-5
    )
    one = torch.full((1, 1, 4, 4), 0.5)  # one channel: y_channel is ignored
    assert psnr(one, torch.zeros_like(one), y_channel=True).item() == pytest.approx(
        10 * math.log10(4), rel=1e-5
    )


def test_ssim_of_a_constant_offset_by_hand():
    """Flat images: σ = 0, so SSIM is the luminance term ``(2μxμy + C1) / (μx² + μy² + C1)`` alone."""
    a, b = torch.full((1, 1, 11, 11), 100 / 255), torch.full((1, 1, 11, 11), 120 / 255)
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 120 + c1) / (100**2 + 120**2 + c1)
    assert ssim(a, b).item() == pytest.approx(expected, abs=1e-6)  # the window is rounded to float32
    assert ssim(a, a).item() == 1.0


def test_gaussian_taps_rebuild_pyiqas_window():
    """The separable taps are computed once at import; rebuilt here against an independent 2-D
    ``fspecial(11, 1.5)`` window rounded to float32, as pyiqa's."""
    from ggt_hf.metrics.fast import _TAPS, _gaussian_taps

    taps = np.array(_gaussian_taps())
    y, x = np.ogrid[-5:6, -5:6]
    window = np.exp(-(x * x + y * y) / (2 * 1.5**2))
    window = (window / window.sum()).astype(np.float32).astype(np.float64)
    assert np.abs(np.outer(taps, taps) - window).max() < 1e-8
    assert math.fsum(taps) ** 2 == pytest.approx(window.sum(), abs=1e-15)
    assert tuple(taps) == _TAPS
