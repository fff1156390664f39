"""Deterministic building blocks shared by every degradation (numpy, scipy and Pillow only).

Everything here is a pure function of its arguments: there is no global random state, so a
degradation applied twice to the same image with the same parameters gives the same bytes.
Random fields are regenerated from an explicit sub-seed with ``np.random.default_rng``.

Working images are ``float32`` H×W×3 arrays in [0, 1]; :func:`to_float` and :func:`to_uint8`
convert from and to the ``uint8`` RGB arrays of the public API.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage, sparse

#: Smallest accepted image side (the Real-ESRGAN resizes go down to 0.15×).
MIN_SIDE = 16

#: Side at which physical sizes (streak lengths, flake radii, ...) are specified; GGT is 1024².
REFERENCE_SIDE = 1024

#: Rec. 709 / sRGB luma weights.
LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)

RESIZE_MODES = ("area", "bilinear", "bicubic")
_CUBIC_A = -0.75  # PyTorch's bicubic coefficient


# ------------------------------------------------------------------ validation / conversion


def check_image(image: Any) -> np.ndarray:
    """Return ``image`` if it is a ``uint8`` H×W×3 array, else raise ``ValueError``."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must have dtype uint8, got {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be an H x W x 3 RGB array, got shape {image.shape}")
    if min(image.shape[:2]) < MIN_SIDE:
        raise ValueError(f"image must be at least {MIN_SIDE}x{MIN_SIDE}, got shape {image.shape}")
    return image


def to_float(image: np.ndarray) -> np.ndarray:
    """``uint8`` [0, 255] → contiguous ``float32`` [0, 1]."""
    return np.ascontiguousarray(image, dtype=np.float32) / np.float32(255.0)


def to_uint8(x: np.ndarray) -> np.ndarray:
    """``float`` [0, 1] → ``uint8`` with clipping and round-half-to-even."""
    return np.clip(np.rint(x * np.float32(255.0)), 0, 255).astype(np.uint8)


def size_scale(height: int, width: int) -> float:
    """Factor from :data:`REFERENCE_SIDE` pixels to pixels of an image of this size."""
    return min(height, width) / REFERENCE_SIDE


# ------------------------------------------------------------------ random draws (JSON-friendly)


def draw_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """One ``U(low, high)`` draw as a Python ``float``."""
    return float(rng.uniform(low, high))


def draw_log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """One log-uniform draw in ``[low, high]`` as a Python ``float``."""
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def draw_int(rng: np.random.Generator, low: int, high: int) -> int:
    """One integer uniformly drawn in ``[low, high]`` (both inclusive)."""
    return int(rng.integers(low, high + 1))


def draw_bool(rng: np.random.Generator, prob: float) -> bool:
    """``True`` with probability ``prob``."""
    return bool(rng.random() < prob)


def draw_choice(
    rng: np.random.Generator, options: Sequence[Any], probs: Sequence[float] | None = None
) -> Any:
    """One element of ``options`` (with optional probabilities)."""
    p = None if probs is None else np.asarray(probs, dtype=np.float64) / float(np.sum(probs))
    return options[int(rng.choice(len(options), p=p))]


def draw_seed(rng: np.random.Generator) -> int:
    """A sub-seed for a large random field, regenerated later with ``default_rng(sub_seed)``."""
    return int(rng.integers(0, 2**32))


# ------------------------------------------------------------------ filtering


def filter2d(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate every channel with a square odd ``kernel``, reflect padding (basicsr filter2D)."""
    pad = kernel.shape[0] // 2
    pad_width = ((pad, pad), (pad, pad)) + ((0, 0),) * (img.ndim - 2)
    padded = np.pad(img, pad_width, mode="reflect")
    k = np.ascontiguousarray(kernel[::-1, ::-1], dtype=np.float32)
    k = k.reshape(k.shape + (1,) * (img.ndim - 2))
    from scipy import signal  # imported on first use: scipy.signal is slow to import (Space start-up)

    out = signal.fftconvolve(padded, k, mode="valid", axes=(0, 1))
    return out.astype(np.float32, copy=False)


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur over the two spatial axes (mirror boundary); no-op if σ ≤ 0."""
    if sigma <= 0:
        return img
    sigmas = (sigma, sigma) + (0.0,) * (img.ndim - 2)
    return ndimage.gaussian_filter(img, sigma=sigmas, mode="mirror").astype(np.float32, copy=False)


def smooth_field(field: np.ndarray, sigma: float) -> np.ndarray:
    """Wide Gaussian blur of a 2-D field, computed at reduced resolution for large ``sigma``."""
    factor = max(1, int(sigma // 4))
    if factor == 1:
        return gaussian_blur(field, sigma)
    h, w = field.shape
    small = resize(field, math.ceil(h / factor), math.ceil(w / factor), "area")
    small = gaussian_blur(small, sigma / factor)
    return resize(small, h, w, "bilinear")


def streak_psf(length: float, angle_deg: float, sigma: float, taper: bool = False) -> np.ndarray:
    """Point-spread function of a dot moving along a segment, peak normalised to 1.

    ``length`` is the segment length in pixels, ``angle_deg`` its angle from the vertical (positive
    leans to the right going down), ``sigma`` the Gaussian half-width of the trace. With
    ``taper`` the trace fades towards both ends (a rain streak); otherwise it is uniform
    (motion-blurred snow). ``length=0`` gives a round Gaussian blob.
    """
    sigma = max(float(sigma), 0.3)
    half = max(float(length), 0.0) / 2
    theta = math.radians(angle_deg)
    dx, dy = -math.sin(theta), math.cos(theta)
    radius = math.ceil(half + 3 * sigma) + 1
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1].astype(np.float64)
    t = np.linspace(-half, half, max(2, math.ceil(4 * half) + 1))
    weights = np.sqrt(np.clip(1 - (t / half) ** 2, 0, 1)) if taper and half > 0 else np.ones_like(t)
    d2 = (xx[..., None] - t * dx) ** 2 + (yy[..., None] - t * dy) ** 2
    psf = (np.exp(-d2 / (2 * sigma**2)) * weights).sum(axis=-1)
    return (psf / psf.max()).astype(np.float32)


def sparse_splats(
    height: int, width: int, seed: int, density: float, psf: np.ndarray, min_intensity: float
) -> np.ndarray:
    """Sparse random dots (probability ``density`` per pixel) convolved with ``psf``, in [0, 1].

    Dot positions and intensities (uniform in ``[min_intensity, 1]``) come from one uniform field
    drawn with ``default_rng(seed)``, so the result is a pure function of the arguments.
    """
    u = np.random.default_rng(seed).random((height, width), dtype=np.float32)
    hit = u < density
    level = np.float32(min_intensity) + np.float32(1 - min_intensity) * (u / np.float32(density))
    dots = np.where(hit, level, np.float32(0))
    from scipy import signal

    out = signal.oaconvolve(dots, psf, mode="same")
    return np.clip(out, 0, 1).astype(np.float32, copy=False)


# ------------------------------------------------------------------ resizing (PyTorch semantics)


def _resize_matrix(n_in: int, n_out: int, mode: str, ratio: float) -> sparse.csr_matrix:
    """Sparse (n_out × n_in) matrix of ``F.interpolate`` (``align_corners=False``) along one axis."""
    dst = np.arange(n_out, dtype=np.float64)
    if mode == "area":  # adaptive average pooling
        start = np.floor(dst * n_in / n_out).astype(np.int64)
        stop = np.ceil((dst + 1) * n_in / n_out).astype(np.int64)
        counts = stop - start
        rows = np.repeat(np.arange(n_out), counts)
        cols = np.concatenate([np.arange(a, b) for a, b in zip(start, stop, strict=True)])
        vals = np.repeat(1.0 / counts, counts)
    elif mode == "bilinear":
        src = np.maximum((dst + 0.5) * ratio - 0.5, 0.0)
        i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        frac = src - i0
        rows = np.concatenate([np.arange(n_out)] * 2)
        cols = np.concatenate([i0, np.minimum(i0 + 1, n_in - 1)])
        vals = np.concatenate([1 - frac, frac])
    elif mode == "bicubic":
        src = (dst + 0.5) * ratio - 0.5
        i0 = np.floor(src).astype(np.int64)
        t = src - i0
        a = _CUBIC_A
        near = [t, 1 - t]  # |x| < 1
        far = [t + 1, 2 - t]  # 1 <= |x| < 2
        w_near = [((a + 2) * x - (a + 3)) * x * x + 1 for x in near]
        w_far = [((a * x - 5 * a) * x + 8 * a) * x - 4 * a for x in far]
        weights = [w_far[0], w_near[0], w_near[1], w_far[1]]
        rows = np.concatenate([np.arange(n_out)] * 4)
        cols = np.concatenate([np.clip(i0 - 1 + k, 0, n_in - 1) for k in range(4)])
        vals = np.concatenate(weights)
    else:
        raise ValueError(f"unknown resize mode {mode!r}; expected one of {RESIZE_MODES}")
    matrix = sparse.csr_matrix((vals, (rows, cols)), shape=(n_out, n_in), dtype=np.float64)
    return matrix.astype(np.float32)


def resize(img: np.ndarray, out_h: int, out_w: int, mode: str, scale: float | None = None) -> np.ndarray:
    """Resize like ``torch.nn.functional.interpolate`` (area / bilinear / bicubic, no antialias).

    ``scale`` mirrors ``interpolate(scale_factor=...)``: when given, source coordinates are
    mapped with ``1 / scale`` instead of ``in / out``. Works on H×W or H×W×C float arrays.
    """
    h, w = img.shape[:2]
    out_h, out_w = max(1, int(out_h)), max(1, int(out_w))
    if (out_h, out_w) == (h, w) and (scale is None or scale == 1.0):
        return img.copy()
    ratio_h = 1.0 / scale if scale else h / out_h
    ratio_w = 1.0 / scale if scale else w / out_w
    squeeze = img.ndim == 2
    x = img[..., None] if squeeze else img
    c = x.shape[2]
    rows = _resize_matrix(h, out_h, mode, ratio_h) @ x.reshape(h, w * c)
    cols_in = rows.reshape(out_h, w, c).transpose(1, 0, 2).reshape(w, out_h * c)
    out = (_resize_matrix(w, out_w, mode, ratio_w) @ cols_in).reshape(out_w, out_h, c)
    out = np.ascontiguousarray(out.transpose(1, 0, 2), dtype=np.float32)
    return out[..., 0] if squeeze else out


# ------------------------------------------------------------------ codecs and colour


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """JPEG round trip through Pillow (libjpeg, 4:2:0 chroma subsampling) at integer ``quality``."""
    buf = io.BytesIO()
    Image.fromarray(to_uint8(img)).save(
        buf, format="JPEG", quality=int(quality), subsampling=2, optimize=False
    )
    buf.seek(0)
    with Image.open(buf) as decoded:
        return to_float(np.asarray(decoded.convert("RGB")))


def luminance(img: np.ndarray) -> np.ndarray:
    """Rec. 709 luma of an H×W×3 array (of whatever encoding the input is in)."""
    return np.tensordot(img, LUMA, axes=([2], [0])).astype(np.float32, copy=False)


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB-encoded [0, 1] → linear light."""
    x = np.clip(x, 0, 1)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Linear light [0, 1] → sRGB encoding."""
    x = np.clip(x, 0, 1)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055).astype(np.float32)


def screen(base: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """Screen blend ``1 − (1 − base)(1 − layer)``: light added on top, never darkens."""
    return 1 - (1 - base) * (1 - layer)
