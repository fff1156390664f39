"""PSNR / SSIM of one decoded ``uint8`` RGB pair, with OpenCV's SIMD filters (CPU, one thread each).

The metric engine calls these in its decode threads, right after decoding a pair, so the scores of
the paper's weight-free metrics cost little next to the PNG decode itself: no float32 NCHW batch
is built for them, and the work of different pairs runs in parallel threads (NumPy and OpenCV
release the GIL) instead of as many small intra-op-parallel torch calls, whose barriers stall on a
shared, loaded machine.

The numbers are those of :mod:`ggt_hf.metrics.fast` (and so of pyiqa, within 1e-4):

* SSIM's input is pyiqa's ``round(255 · Y)``, ``Y = 0.299 R + 0.587 G + 0.114 B``, here one
  ``cv2.transform`` of the uint8 image (float32 inside, rounded to uint8). That sum often lands
  exactly on ``.5``, where the last float32 bit decides the rounding: over all 2²⁴ RGB triples
  this differs from ``fast``'s torch ``matmul`` by ±1 for 0.02% of them — and torch's own result
  changes with the tensor's shape (seen: 15 of 0.8 M pixels of a 1001×777 photo), so pyiqa has no
  single exact answer here either. On photos the SSIM moves by ≲1e-6;
* the same separable taps (:data:`ggt_hf.metrics.fast._TAPS`) and the same s = x + y − 255,
  d = x − y formulation, filtered with ``cv2.sepFilter2D`` (a maintained, vectorised separable
  filter) and cropped to the ``valid`` part — no hand-written kernel; every step is one OpenCV
  call (``addWeighted`` fuses the constants), in bands of rows that stay in the CPU cache;
* float32, not fast's float64: s and d are small integers (exact), and centring s keeps the
  cancellation in ``E[v²] − μ²`` small. Measured against ``fast`` (float64): ≤1.3e-6 on eight
  1024² photo pairs, ≤1.4e-7 on flat saturated regions (white vs near-black: the worst case for
  that cancellation); the tests hold it to pyiqa within 1e-4. float64 costs ~1.7× the time;
* PSNR: the exact integer sum of squared differences (``cv2.norm``), in float64, returned as
  float32 like pyiqa (whose float32 mean differs by ≲1e-6 dB).
"""

from __future__ import annotations

import math

import numpy as np

from ggt_hf.metrics import fast

__all__ = ["psnr_u8", "ssim_u8"]

#: pyiqa's Y row of YIQ, as the 1×3 matrix of ``cv2.transform``.
_Y_MATRIX = np.array([fast._YIQ_Y], dtype=np.float32)
#: Filter taps (those of :mod:`ggt_hf.metrics.fast`) and output elements per band of rows.
_TAPS = np.array(fast._TAPS, dtype=np.float32)
_BAND_ELEMS = 1 << 16


def _crop(a: np.ndarray, border: int) -> np.ndarray:
    return a[border:-border, border:-border] if border else a


def _check(pred: np.ndarray, ref: np.ndarray, border: int, min_side: int) -> None:
    if pred.shape != ref.shape or pred.ndim != 3 or pred.dtype != np.uint8 or ref.dtype != np.uint8:
        raise ValueError(
            f"expected two uint8 H×W×C arrays of one shape, got {pred.dtype} {pred.shape} "
            f"and {ref.dtype} {ref.shape}"
        )
    fast._check_crop(pred.shape[:2], border, min_side)


def psnr_u8(pred: np.ndarray, ref: np.ndarray, *, y_channel: bool = False, crop_border: int = 0) -> float:
    """:func:`ggt_hf.metrics.fast.psnr` of one ``uint8`` H×W×C pair (RGB for ``y_channel``)."""
    import cv2

    _check(pred, ref, crop_border, 1)
    p, r = _crop(pred, crop_border), _crop(ref, crop_border)
    if y_channel and p.shape[2] == 3:
        w = np.array(fast._YIQ_Y, dtype=np.float64) / 255.0
        diff = (p.astype(np.float64) - r) @ w  # Y is linear: Y(p) − Y(r) = Y(p − r)
        mse = float(np.dot(diff.ravel(), diff.ravel())) / diff.size
    else:
        p, r = np.ascontiguousarray(p), np.ascontiguousarray(r)
        mse = cv2.norm(p, r, cv2.NORM_L2SQR) / (255.0 * 255.0 * p.size)
    return float(np.float32(10 * math.log10(1.0 / (mse + fast._PSNR_EPS))))


def _ssim_input(img: np.ndarray, y_channel: bool) -> np.ndarray:
    """pyiqa's rounded 0-255 SSIM input as ``uint8`` H×W×C' (C' = 1 for the Y channel)."""
    import cv2

    if y_channel and img.shape[2] == 3:
        return cv2.transform(np.ascontiguousarray(img), _Y_MATRIX)[..., None]
    return img  # round(255 · v / 255) == v for 8-bit input


def _filter(a: np.ndarray) -> np.ndarray:
    """``valid`` correlation of a 2-D float32 map with the separable 11×11 gaussian."""
    import cv2

    h = fast._WIN // 2
    return cv2.sepFilter2D(a, -1, _TAPS, _TAPS, borderType=cv2.BORDER_REFLECT)[h:-h, h:-h]


def _ssim_band(xs: np.ndarray, ys: np.ndarray) -> float:
    """Sum of pyiqa's SSIM map over the ``valid`` outputs of one band of rows (2-D uint8 inputs)."""
    import cv2

    # s = x + y centred on 0 (as fast does), d = x − y; small integers, exact in float32
    s = cv2.addWeighted(xs, 1.0, ys, 1.0, -fast._DATA_RANGE, dtype=cv2.CV_32F)
    d = cv2.subtract(xs, ys, dtype=cv2.CV_32F)
    mu_s, mu_d = _filter(s), _filter(d)
    var_s, var_d = _filter(cv2.multiply(s, s)), _filter(cv2.multiply(d, d))
    mu_s2, mu_d2 = cv2.multiply(mu_s, mu_s), cv2.multiply(mu_d, mu_d)
    var_s, var_d = cv2.subtract(var_s, mu_s2), cv2.subtract(var_d, mu_d2)  # σ² = E[v²] − μ²
    # cs = (2σxy + C2) / (σx² + σy² + C2) = (σs² − σd² + 2C2) / (σs² + σd² + 2C2), clamped at 0
    cs = cv2.divide(
        cv2.addWeighted(var_s, 1.0, var_d, -1.0, 2.0 * fast._C2),
        cv2.addWeighted(var_s, 1.0, var_d, 1.0, 2.0 * fast._C2),
    )
    cs = cv2.max(cs, 0.0)
    # l = (μs² − μd² + 2C1) / (μs² + μd² + 2C1) with μs of the uncentred s: (μs + k)² = μs² + 2kμs + k²
    k = fast._DATA_RANGE * fast._TAPS_SUM2
    mu_s2 = cv2.addWeighted(mu_s2, 1.0, mu_s, 2.0 * k, k * k)
    lum = cv2.divide(
        cv2.addWeighted(mu_s2, 1.0, mu_d2, -1.0, 2.0 * fast._C1),
        cv2.addWeighted(mu_s2, 1.0, mu_d2, 1.0, 2.0 * fast._C1),
    )
    return cv2.sumElems(cv2.multiply(lum, cs))[0]


def ssim_u8(pred: np.ndarray, ref: np.ndarray, *, y_channel: bool = True, crop_border: int = 0) -> float:
    """:func:`ggt_hf.metrics.fast.ssim` of one ``uint8`` H×W×C pair (RGB for ``y_channel``).

    Works in bands of rows whose maps stay in the CPU cache (as ``fast`` does).
    """
    _check(pred, ref, crop_border, fast._WIN)
    x = _ssim_input(_crop(pred, crop_border), y_channel)
    y = _ssim_input(_crop(ref, crop_border), y_channel)
    r = fast._WIN - 1
    out_h, out_w = x.shape[0] - r, x.shape[1] - r
    band = min(out_h, max(fast._MIN_BAND_ROWS, _BAND_ELEMS // x.shape[1]))
    total = 0.0
    for ch in range(x.shape[2]):
        xc, yc = np.ascontiguousarray(x[..., ch]), np.ascontiguousarray(y[..., ch])
        for top in range(0, out_h, band):
            rows = min(band, out_h - top) + r
            total += _ssim_band(xc[top : top + rows], yc[top : top + rows])
    return total / (x.shape[2] * out_h * out_w)
