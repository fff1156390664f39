"""Each degradation changes real photos in the physically expected direction; building blocks."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from scipy import ndimage
from skimage import data

from ggt_hf.degrade import DEGRADATIONS, degrade
from ggt_hf.degrade.kernels import KERNEL_TYPES, build_kernel, circular_lowpass_kernel
from ggt_hf.degrade.ops import filter2d, resize, streak_psf
from ggt_hf.degrade.weather import HazeDegradation

PHOTOS = ("astronaut", "coffee", "chelsea")
SEEDS = (0, 1, 2, 3)
_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def _crop(name: str, size: int = 256) -> np.ndarray:
    img = getattr(data, name)()
    h, w = img.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return np.ascontiguousarray(img[top : top + size, left : left + size])


@pytest.fixture(scope="module", params=PHOTOS)
def photo(request) -> np.ndarray:
    return _crop(request.param)


def _lum(img: np.ndarray) -> np.ndarray:
    return (img.astype(np.float32) / 255) @ _LUMA


def _saturation(img: np.ndarray) -> float:
    x = img.astype(np.float32) / 255
    return float(np.mean(x.max(axis=2) - x.min(axis=2)))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255**2 / mse)


def _new_bright_detail(before: np.ndarray, after: np.ndarray) -> float:
    """Fraction of pixels gaining thin bright structure (white top-hat up by > 0.08)."""
    gain = ndimage.white_tophat(_lum(after), size=5) - ndimage.white_tophat(_lum(before), size=5)
    return float(np.mean(gain > 0.08))


# ------------------------------------------------------------------------------- categories


@pytest.mark.parametrize("seed", SEEDS)
def test_general_lowers_fidelity(photo, seed: int) -> None:
    assert 15.0 < _psnr(photo, degrade(photo, "general", seed).image) < 40.0


@pytest.mark.parametrize("category", ["rain", "snow"])
@pytest.mark.parametrize("seed", SEEDS)
def test_rain_and_snow_add_bright_structures(photo, category: str, seed: int) -> None:
    out = degrade(photo, category, seed).image
    assert _lum(out).mean() > _lum(photo).mean()
    assert _new_bright_detail(photo, out) > 0.01


@pytest.mark.parametrize("seed", SEEDS)
def test_haze_brightens_and_flattens(photo, seed: int) -> None:
    out = degrade(photo, "haze", seed).image
    assert _lum(out).mean() > 1.05 * _lum(photo).mean()
    assert _lum(out).std() < 0.9 * _lum(photo).std()
    assert _saturation(out) < _saturation(photo)


def test_haze_depth_proxy_is_farther_at_the_top() -> None:
    params = degrade(_crop("coffee"), "haze", seed=0).params
    flat = np.full((64, 48, 3), 0.5, dtype=np.float32)
    depth = HazeDegradation.depth_proxy(flat, params)
    assert depth.shape == (64, 48)
    assert np.all(np.diff(depth[:, 0]) <= 0)
    assert depth.min() >= params["near_depth"] - 1e-6 and depth.max() <= 1 + 1e-6


@pytest.mark.parametrize("seed", SEEDS)
def test_low_light_darkens_strongly(photo, seed: int) -> None:
    out = degrade(photo, "low_light", seed).image
    assert _lum(out).mean() < 0.5 * _lum(photo).mean()


@pytest.mark.parametrize("seed", SEEDS)
def test_old_photo_fades_colour_and_contrast(photo, seed: int) -> None:
    out = degrade(photo, "old_photo", seed).image
    assert _saturation(out) < 0.95 * _saturation(photo)
    assert _lum(out).std() < 0.85 * _lum(photo).std()


def test_general_draws_follow_published_ranges() -> None:
    deg = DEGRADATIONS["general"]
    rng = np.random.default_rng(123)
    draws = [deg.sample_params(rng, 256, 256) for _ in range(3000)]
    kernels1 = [d["stage1"]["kernel"] for d in draws]
    for kernels, sigma_max in ((kernels1, 3.0), ([d["stage2"]["kernel"] for d in draws], 1.5)):
        for k in filter(None, kernels):
            assert k["size"] in range(7, 22, 2)
            if k["type"] == "sinc":
                assert math.pi / 5 <= k["omega_c"] <= math.pi
                continue
            assert 0.2 <= k["sigma_x"] <= sigma_max and 0.2 <= k["sigma_y"] <= sigma_max
            if k["type"].startswith("generalized"):
                assert 0.5 <= k["beta"] <= 4
            if k["type"].startswith("plateau"):
                assert 1 <= k["beta"] <= 2
    types = Counter(k["type"] for k in kernels1)
    assert types["sinc"] / 3000 == pytest.approx(0.1, abs=0.02)
    non_sinc = 3000 - types["sinc"]
    for ktype, prob in zip(KERNEL_TYPES, (0.45, 0.25, 0.12, 0.03, 0.12, 0.03), strict=True):
        assert types[ktype] / non_sinc == pytest.approx(prob, abs=0.035)
    dirs = Counter(d["stage1"]["resize"]["direction"] for d in draws)
    for direction, prob in zip(("up", "down", "keep"), (0.2, 0.7, 0.1), strict=True):
        assert dirs[direction] / 3000 == pytest.approx(prob, abs=0.03)
    for d in draws:
        s1, s2, final = d["stage1"], d["stage2"], d["final"]
        assert 0.15 <= s1["resize"]["scale"] <= 1.5 and 0.3 <= s2["resize"]["scale"] <= 1.2
        assert 30 <= s1["jpeg_quality"] <= 95 and 30 <= final["jpeg_quality"] <= 95
        for noise, sigma_max, scale_max in ((s1["noise"], 30, 3.0), (s2["noise"], 25, 2.5)):
            if noise["type"] == "gaussian":
                assert 1 <= noise["sigma"] <= sigma_max
            else:
                assert 0.05 <= noise["scale"] <= scale_max
    share = {
        "gaussian": np.mean([d["stage1"]["noise"]["type"] == "gaussian" for d in draws]),
        "gray": np.mean([d["stage2"]["noise"]["gray"] for d in draws]),
        "blur2": np.mean([d["stage2"]["kernel"] is not None for d in draws]),
        "sinc": np.mean([d["final"]["sinc"] is not None for d in draws]),
    }
    assert share == pytest.approx({"gaussian": 0.5, "gray": 0.4, "blur2": 0.8, "sinc": 0.8}, abs=0.03)


# ------------------------------------------------------------------------------- building blocks


@pytest.mark.parametrize("ktype", KERNEL_TYPES)
def test_kernels_are_normalised_and_point_symmetric(ktype: str) -> None:
    params = {"type": ktype, "size": 15, "sigma_x": 2.0, "sigma_y": 0.8, "theta": 0.6, "beta": 1.7}
    k = build_kernel(params)
    assert k.shape == (15, 15)
    assert k.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-15)
    assert k.argmax() == k.size // 2


def test_gaussian_kernels_match_closed_forms() -> None:
    ax = np.arange(-7, 8, dtype=np.float64)
    g = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * 1.3**2))
    iso = {"type": "iso", "size": 15, "sigma_x": 1.3, "sigma_y": 1.3, "theta": 0.0}
    np.testing.assert_allclose(build_kernel(iso), g / g.sum(), rtol=1e-12)
    generalized = {**iso, "type": "generalized_iso", "beta": 1.0}
    np.testing.assert_allclose(build_kernel(generalized), build_kernel(iso), rtol=1e-12)
    sinc = circular_lowpass_kernel(math.pi, 21)
    assert sinc.sum() == pytest.approx(1.0) and sinc.argmax() == sinc.size // 2
    with pytest.raises(ValueError, match="odd"):
        build_kernel({**iso, "size": 14})


def test_resize_matches_torch_interpolate() -> None:
    ramp = np.arange(4, dtype=np.float32).reshape(1, 4)
    # values of torch.nn.functional.interpolate(..., size=(1, 8), align_corners=False)
    np.testing.assert_allclose(
        resize(ramp, 1, 8, "bilinear"), [[0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3]], atol=1e-6
    )
    bicubic = [-0.10546875, 0.19140625, 0.66796875, 1.296875, 1.703125, 2.33203125, 2.80859375]
    np.testing.assert_allclose(resize(ramp, 1, 8, "bicubic")[0, :7], bicubic, atol=1e-6)
    x = np.random.default_rng(0).random((8, 6, 3)).astype(np.float32)
    np.testing.assert_allclose(resize(x, 4, 3, "area"), x.reshape(4, 2, 3, 2, 3).mean((1, 3)), atol=1e-6)
    for mode in ("area", "bilinear", "bicubic"):
        np.testing.assert_array_equal(resize(x, 8, 6, mode), x)
        assert resize(x, 13, 5, mode).shape == (13, 5, 3)


def test_filter2d_identity_and_psf_peak() -> None:
    x = np.random.default_rng(1).random((20, 30, 3)).astype(np.float32)
    delta = np.zeros((7, 7))
    delta[3, 3] = 1
    np.testing.assert_allclose(filter2d(x, delta), x, atol=1e-5)
    psf = streak_psf(length=20, angle_deg=0, sigma=1.0, taper=True)
    assert psf.max() == pytest.approx(1.0)
    assert psf.shape[0] > 20 and psf[:, psf.shape[1] // 2].sum() > 5 * psf[psf.shape[0] // 2].sum()
