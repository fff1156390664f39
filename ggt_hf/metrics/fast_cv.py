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
  single exact answer here either. On photos the SSIM moves by ~1e-7;
* the same separable taps (:data:`ggt_hf.metrics.fast._TAPS`) and the same s = x + y, d = x − y
  formulation, in float64, filtered with ``cv2.sepFilter2D`` (a maintained, vectorised separable
  filter) and cropped to the ``valid`` part — no hand-written kernel;
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
_TAPS = np.array(fast._TAPS, dtype=np.float64)
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


def _filter(a: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``valid`` correlation of a 2-D float64 map with the separable 11×11 gaussian (a view of
    ``out``, which has ``a``'s shape)."""
    import cv2

    h = fast._WIN // 2
    cv2.sepFilter2D(a, cv2.CV_64F, _TAPS, _TAPS, dst=out, borderType=cv2.BORDER_REFLECT)
    return out[h:-h, h:-h]


def ssim_u8(pred: np.ndarray, ref: np.ndarray, *, y_channel: bool = True, crop_border: int = 0) -> float:
    """:func:`ggt_hf.metrics.fast.ssim` of one ``uint8`` H×W×C pair (RGB for ``y_channel``).

    Works in bands of rows whose maps stay in the CPU cache (as ``fast`` does), in buffers
    allocated once per call: fresh full-image temporaries cost more in page faults than the
    arithmetic on them.
    """
    _check(pred, ref, crop_border, fast._WIN)
    x = _ssim_input(_crop(pred, crop_border), y_channel)
    y = _ssim_input(_crop(ref, crop_border), y_channel)
    c1x2, c2x2 = 2.0 * fast._C1, 2.0 * fast._C2
    shift = fast._DATA_RANGE
    r = fast._WIN - 1
    out_h, out_w = x.shape[0] - r, x.shape[1] - r
    band = min(out_h, max(fast._MIN_BAND_ROWS, _BAND_ELEMS // x.shape[1]))
    bufs = np.empty((8, band + r, x.shape[1]), dtype=np.float64)
    total = 0.0
    for ch in range(x.shape[2]):
        for top in range(0, out_h, band):
            rows = min(band, out_h - top) + r
            s, d, fs, fd, fss, fdd, t1, t2 = (b[:rows] for b in bufs)
            xs, ys = x[top : top + rows, :, ch], y[top : top + rows, :, ch]
            np.add(xs, ys, out=s, dtype=np.float64)
            s -= shift  # centre s = x + y on 0, as fast does
            np.subtract(xs, ys, out=d, dtype=np.float64)
            mu_s, mu_d = _filter(s, fs), _filter(d, fd)
            var_s = _filter(np.square(s, out=s), fss)
            var_d = _filter(np.square(d, out=d), fdd)
            cs, den = t1[:-r, :-r], t2[:-r, :-r]
            var_s -= np.square(mu_s, out=cs)
            var_d -= np.square(mu_d, out=cs)
            # cs = (σs² − σd² + 2C2) / (σs² + σd² + 2C2), clamped at 0
            np.subtract(var_s, var_d, out=cs)
            cs += c2x2
            np.add(var_s, var_d, out=den)
            den += c2x2
            cs /= den
            np.maximum(cs, 0.0, out=cs)
            # l = (μs² − μd² + 2C1) / (μs² + μd² + 2C1)
            mu_s += shift * fast._TAPS_SUM2
            np.square(mu_s, out=mu_s)
            np.square(mu_d, out=mu_d)
            np.add(mu_s, mu_d, out=den)
            den += c1x2
            mu_s -= mu_d
            mu_s += c1x2
            mu_s /= den
            total += float(np.vdot(mu_s, cs)) if mu_s.flags.c_contiguous else float((mu_s * cs).sum())
    return total / (x.shape[2] * out_h * out_w)
