"""Automatic geometry and colour checks of a generated HQ candidate against its LQ input.

Multimodal foundation models asked to *restore* a photo often also move it: they shift, crop or
zoom the scene, rotate it slightly, or change its colours. A pair whose HQ is not pixel-aligned
with its LQ teaches a restorer to warp, so QC measures the misalignment and rejects it. This
module estimates the full similarity with sub-pixel precision; the heuristic judge reuses these
measurements for its geometry and colour aspects.

**Registration** (:func:`estimate_similarity`) works on downscaled greyscale images:

1. Both images are converted to greyscale and resized, aspect preserved, so the LQ's long side is
   :data:`WORK_SIZE` px. An HQ of a different size is resized to the same working size (that is,
   to the LQ size) and the ratio is reported separately as ``size_ratio``: an MFM that returns a
   2× image with the same framing is fine, a crop or zoom is not. ``aspect_change`` records an
   HQ whose aspect ratio differs (its content is then stretched relative to the LQ).
2. Fourier–Mellin: each image has its window-weighted mean removed, is Hann-windowed (so image
   borders do not dominate the spectrum) and zero-padded to a square. The magnitude of its
   spectrum ignores translation; a rotation rotates it and a zoom by ``s`` shrinks it by ``1/s``.
   The magnitudes are high-pass filtered (Reddy & Chatterji's ``(1 − X)(2 − X)``,
   ``X = cos πu · cos πv``) and resampled on a log-polar grid
   (:func:`scipy.ndimage.map_coordinates`), where rotation and scale become a translation, found
   by phase correlation.
3. The rotation and scale are undone on the HQ and a phase correlation gives the translation.
   Three hypotheses are tried — Fourier–Mellin's answer, its 180° twin (a magnitude spectrum
   cannot tell them apart) and the identity (most outputs; a safe start when the LQ is so
   degraded that its spectrum is mostly noise) — and the one whose translation peak is sharpest
   wins.
4. Refinement: the HQ is warped onto the LQ with the current estimate, 3×3 overlapping half-size
   blocks are phase-correlated, and a small similarity is fitted to their displacements (weighted
   least squares, featureless blocks and outliers dropped) and composed in; twice. Fourier–Mellin
   alone is biased towards the identity by ~0.1–1° / 0.5 % on degraded inputs; the block fit
   removes that.
5. A last phase correlation on the aligned pair gives the residual translation and the confidence.

Every correlation peak is located to sub-pixel precision by a three-point parabolic fit per axis
(on the log of the peak, i.e. a Gaussian fit, when the three values are positive): the translation
cross-power spectra are weighted by a Gaussian low-pass, which makes the peak Gaussian and
suppresses the high-frequency noise of degraded inputs.

The geometric model is ``x_hq = scale · R(rotation) · x_lq + (dx, dy)``, ``x`` measured from the
image centre in LQ pixels, ``y`` down, positive rotation counter-clockwise as displayed (the
convention of :meth:`PIL.Image.Image.rotate`): ``dx > 0`` means the HQ content sits to the right of
where it is in the LQ, ``scale > 1`` that it is bigger (a zoom-in, as from a crop).

``confidence`` is the peak sharpness of the final translation correlation: how many standard
deviations the peak stands above the mean of the correlation surface. Unrelated photos give a
median of ≈ 7 (99th percentile ≈ 12), featureless or heavily blurred ones ≈ 0–11; aligned real
photos give 20–180 even with heavy noise/blur/JPEG on the LQ. Below
``GeometryTolerances.min_confidence`` the estimate is not trusted and :func:`check_geometry`
*passes* the three geometric checks with the reason ``"registration inconclusive (...)"`` and no
value: a flat sky or a blank wall has no geometry to get wrong, and failing on a random estimate
would only burn regeneration attempts (whether the content still matches is the judge's call).

**Colour** (:func:`color_shift`) compares 64×64 thumbnails in CIELAB (sRGB → linear → XYZ (D65) →
L*a*b*, in numpy). It is deliberately insensitive to the brightness, contrast and gamma changes a
restoration legitimately makes:

* ``delta_e`` is ΔE*76 between the *mean* colours after each thumbnail is exposure-normalised
  (linear light scaled to mean luminance Y = 0.18, so a global gain cancels; a contrast stretch
  about the mean barely moves the mean);
* the chroma shift ``(delta_a, delta_b)`` is the displacement of the neutral axis, from the fit
  ``ab_hq ≈ g · ab_lq + (Δa*, Δb*)`` over the pixels: brightness/contrast/gamma keep greys grey and
  a saturation change scales chroma about grey (both absorbed by ``g``), a cast moves grey itself.

A +25 red cast gives a chroma shift of ≈ 10–13 on the sample photos; ×1.2 + 10, contrast ×1.3,
saturation ×1.3 and gamma 0.8 stay ≤ 5.5.

Limits: only a global similarity is modelled (a local warp or a perspective change shows up as a
weaker ``confidence`` and an average motion); the colour check cannot tell an unwanted cast from
the wanted removal of one (a yellowed old photo, a sodium-lit night scene), nor allows colourising
a greyscale input — loosen ``max_chroma_shift`` per category where removing casts is the task.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import fft as sfft
from scipy import ndimage

from ggt_hf.records import QCCheck

WORK_SIZE = 256  # long side of the working greyscale images, px
COLOR_SIZE = 64  # side of the colour-comparison thumbnails, px
_N_ANGLES = 360  # log-polar angular samples over 180° (0.5° per sample before refinement)
_N_RADII = 256  # log-polar radial samples
_R_MIN = 3.0  # log-polar radius range, in frequency bins of the padded spectrum
_R_MAX_FRAC = 0.85  # ... up to this fraction of Nyquist (the highest frequencies are noise)
_LOWPASS = 0.22  # Gaussian weighting of the translation cross-power spectrum (σ, cycles/px)
_REFINE_ITERATIONS = 2  # block-matching refinements after Fourier–Mellin
_BLOCK_MIN_CONFIDENCE = 6.0  # peak sharpness below which a block is featureless
_CHROMA_PRIOR = 25.0  # a*b* variance (ΔE²) below which the cast fit trusts chroma gain 1


@dataclass
class Registration:
    """Similarity transform of the HQ content relative to the LQ (see module docstring).

    ``dx``/``dy`` are in LQ pixels, ``scale`` is HQ/LQ content size (after resizing the HQ to the
    LQ size), ``rotation_deg`` is counter-clockwise as displayed, ``confidence`` the peak
    sharpness of the translation correlation, ``size_ratio`` the HQ/LQ pixel-size ratio (geometric
    mean of width and height ratios) and ``aspect_change`` the HQ aspect ratio over the LQ's.
    """

    dx: float
    dy: float
    scale: float
    rotation_deg: float
    confidence: float
    size_ratio: float = 1.0
    aspect_change: float = 1.0

    @property
    def shift(self) -> float:
        """Length of the translation, LQ px."""
        return float(math.hypot(self.dx, self.dy))


@dataclass
class ColorShift:
    """Global colour difference of the HQ relative to the LQ in CIELAB (see module docstring).

    ``delta_e``/``delta_l`` compare the exposure-normalised mean colours; ``delta_a``/``delta_b``
    are the cast: where the HQ puts the LQ's neutral (grey) axis, in a*/b* units, from the fit
    ``ab_hq ≈ chroma_gain · ab_lq + (delta_a, delta_b)`` over the thumbnail pixels.
    """

    delta_e: float  # ΔE*76 between the exposure-normalised mean colours
    delta_l: float  # ΔL* of those means (tone, not a cast: informative only)
    delta_a: float  # cast along a* (+ = towards red/magenta)
    delta_b: float  # cast along b* (+ = towards yellow)
    chroma_gain: float  # saturation change of the fit (1 = unchanged; not a cast)
    brightness_ratio: float  # HQ/LQ mean luminance Y (informative only)

    @property
    def chroma_shift(self) -> float:
        """Length of the cast ``(delta_a, delta_b)``."""
        return float(math.hypot(self.delta_a, self.delta_b))


@dataclass
class GeometryTolerances:
    """Thresholds of :func:`check_geometry`.

    ``max_shift_frac`` is a fraction of the LQ image diagonal (1 % ≈ 7 px at 512²);
    ``max_scale_error`` bounds ``|scale − 1|`` (and ``|aspect_change − 1|``);
    ``min_confidence`` is the correlation peak sharpness (σ above the surface) below which the
    registration is "inconclusive" and the geometric checks pass.
    """

    max_shift_frac: float = 0.01
    max_scale_error: float = 0.02
    max_rotation_deg: float = 1.0
    max_color_shift: float = 12.0
    max_chroma_shift: float = 8.0
    min_confidence: float = 12.0

    @classmethod
    def for_category(cls, category: str | None) -> GeometryTolerances:
        """Defaults, with the colour checks relaxed where removing a cast *is* the restoration
        (old photos: yellowing/sepia; low light: sodium or tungsten casts; haze: tinted airlight)."""
        if category in COLOR_RESTORING_CATEGORIES:
            return cls(max_color_shift=30.0, max_chroma_shift=25.0)
        return cls()


#: Categories whose restoration legitimately changes the global colour.
COLOR_RESTORING_CATEGORIES = frozenset({"old_photo", "low_light", "haze"})


# --------------------------------------------------------------------------------------- helpers


def _working_size(size: tuple[int, int]) -> tuple[int, int]:
    w, h = size
    f = WORK_SIZE / max(w, h)
    return max(8, round(w * f)), max(8, round(h * f))


def _grey(img: Image.Image, size: tuple[int, int]) -> np.ndarray:
    grey = img.convert("L") if img.mode != "F" else img
    if grey.size != size:
        grey = grey.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(grey, dtype=np.float64)


def _hann(h: int, w: int) -> np.ndarray:
    return np.outer(np.hanning(h), np.hanning(w))


def _demean_window(a: np.ndarray, window: np.ndarray) -> np.ndarray:
    # subtract the *window-weighted* mean, so the windowed image has no DC: otherwise both spectra
    # carry the window's own spectrum, a fixed pattern that biases the estimate towards identity
    return (a - float((a * window).sum()) / float(window.sum())) * window


def _windowed_padded(a: np.ndarray, window: np.ndarray, n: int) -> np.ndarray:
    """Mean-subtracted, windowed, zero-padded to n×n with the content centred."""
    h, w = a.shape
    out = np.zeros((n, n))
    top, left = (n - h) // 2, (n - w) // 2
    out[top : top + h, left : left + w] = _demean_window(a, window)
    return out


def _highpass(n: int) -> np.ndarray:
    f = sfft.fftshift(np.fft.fftfreq(n))
    x = np.outer(np.cos(np.pi * f), np.cos(np.pi * f))
    return (1.0 - x) * (2.0 - x)


def _subpixel(corr: np.ndarray, idx: tuple[int, int]) -> tuple[float, float]:
    """Three-point fit around the peak on each axis (Gaussian fit when possible, else parabola)."""
    out = []
    for axis in (0, 1):
        n = corr.shape[axis]
        i = idx[axis]
        lo = list(idx)
        hi = list(idx)
        lo[axis] = (i - 1) % n
        hi[axis] = (i + 1) % n
        ym, y0, yp = corr[tuple(lo)], corr[idx], corr[tuple(hi)]
        if ym > 0 and y0 > 0 and yp > 0:
            ym, y0, yp = math.log(ym), math.log(y0), math.log(yp)
        denom = ym - 2 * y0 + yp
        delta = 0.5 * (ym - yp) / denom if denom < 0 else 0.0
        out.append(i + float(np.clip(delta, -0.5, 0.5)))
    return out[0], out[1]


def _signed(v: float, n: int) -> float:
    return v - n if v >= n / 2 else v


def _phase_correlate(
    fa: np.ndarray, fb: np.ndarray, shape: tuple[int, int], weight: np.ndarray | None = None
) -> tuple[float, float, float]:
    """(dy, dx, confidence) of ``b`` relative to ``a`` (``b(x) = a(x − d)``) from their ``rfft2``.

    The cross-power spectrum is normalised to unit magnitude (phase correlation), optionally
    weighted, and inverted; ``confidence`` is (peak − mean) / std of the correlation surface.
    """
    cross = fb * np.conj(fa)
    mag = np.abs(cross)
    cross /= mag + 1e-12 * (float(mag.max()) + 1e-300)
    if weight is not None:
        cross *= weight
    corr = sfft.irfft2(cross, s=shape)
    std = float(corr.std())
    if not math.isfinite(std) or std <= 1e-12:
        return 0.0, 0.0, 0.0
    flat = int(np.argmax(corr))
    idx = (flat // shape[1], flat % shape[1])
    conf = (float(corr[idx]) - float(corr.mean())) / std
    py, px = _subpixel(corr, idx)
    return _signed(py, shape[0]), _signed(px, shape[1]), conf


class _LogPolar:
    """Log-polar resampling of centred magnitude spectra of n×n images."""

    def __init__(self, n: int) -> None:
        self.n = n
        centre = n // 2
        r_max = _R_MAX_FRAC * n / 2
        self.log_base = math.log(r_max / _R_MIN) / (_N_RADII - 1)
        radii = _R_MIN * np.exp(self.log_base * np.arange(_N_RADII))
        theta = np.pi * np.arange(_N_ANGLES) / _N_ANGLES
        self.coords = np.stack(
            [
                centre - np.outer(np.sin(theta), radii),  # row (frequency v, up is +)
                centre + np.outer(np.cos(theta), radii),  # column (frequency u)
            ]
        )
        self.filter = _highpass(n)
        self.window = np.hanning(_N_RADII)[None, :]

    def transform(self, padded: np.ndarray) -> np.ndarray:
        """``rfft2`` of the windowed log-polar resampling of the filtered magnitude spectrum."""
        mag = np.abs(sfft.fftshift(sfft.fft2(padded))) * self.filter
        lp = ndimage.map_coordinates(mag, self.coords, order=1, mode="constant")
        return sfft.rfft2((lp - lp.mean()) * self.window)


_LP_CACHE: dict[int, _LogPolar] = {}
_WEIGHT_CACHE: dict[tuple[int, int], np.ndarray] = {}


def _log_polar(n: int) -> _LogPolar:
    if n not in _LP_CACHE:
        _LP_CACHE[n] = _LogPolar(n)
    return _LP_CACHE[n]


def _lowpass(shape: tuple[int, int]) -> np.ndarray:
    """Gaussian low-pass weights on the ``rfft2`` grid of an image of ``shape``."""
    if shape not in _WEIGHT_CACHE:
        fy = np.fft.fftfreq(shape[0])[:, None]
        fx = np.fft.rfftfreq(shape[1])[None, :]
        _WEIGHT_CACHE[shape] = np.exp(-(fx**2 + fy**2) / (2 * _LOWPASS**2))
    return _WEIGHT_CACHE[shape]


def _warp(b: np.ndarray, scale: float, rot_rad: float, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    """Sample ``b`` at ``scale · R(rot) · x + t`` (x centre-relative, y down): undoes that motion."""
    h, w = b.shape
    c, s = math.cos(rot_rad), math.sin(rot_rad)
    # R(θ) in (x, y-down) for a counter-clockwise rotation as displayed: [[c, s], [-s, c]];
    # in (row, col) = (y, x) order it is [[c, -s], [s, c]].
    m = scale * np.array([[c, -s], [s, c]])
    centre = np.array([(h - 1) / 2, (w - 1) / 2])
    offset = centre + np.array([dy, dx]) - m @ centre
    return ndimage.affine_transform(b, m, offset=offset, order=1, mode="nearest")


# -------------------------------------------------------------------------------- registration


def _rotation_scale(lp: _LogPolar, lpa: np.ndarray, pb: np.ndarray) -> tuple[float, float]:
    """(scale, rotation in radians, mod π) of padded ``pb`` relative to the image whose
    :meth:`_LogPolar.transform` is ``lpa``."""
    d_ang, d_rad, _ = _phase_correlate(lpa, lp.transform(pb), (_N_ANGLES, _N_RADII))
    # a zoom by s shrinks the spectrum by 1/s: the radial index moves by −ln(s)/log_base
    return math.exp(-d_rad * lp.log_base), d_ang * math.pi / _N_ANGLES


def _to_lq_frame(scale: float, theta: float, ux: float, uy: float) -> tuple[float, float]:
    """A displacement ``u`` measured after undoing ``scale``/``theta``, as ``s·R(θ)·u``."""
    c, s = math.cos(theta), math.sin(theta)
    return scale * (c * ux + s * uy), scale * (-s * ux + c * uy)


class _Blocks:
    """3×3 overlapping half-size blocks of the LQ working image, their spectra precomputed."""

    def __init__(self, a: np.ndarray) -> None:
        h, w = a.shape
        self.shape = (h // 2, w // 2)
        self.window = _hann(*self.shape)
        self.weight = _lowpass(self.shape)
        self.items: list[tuple[int, int, float, float, np.ndarray]] = []  # top, left, px, py, fft
        bh, bw = self.shape
        for top in np.linspace(0, h - bh, 3).round().astype(int):
            for left in np.linspace(0, w - bw, 3).round().astype(int):
                block = a[top : top + bh, left : left + bw]
                if block.std() < 1e-3:
                    continue
                px = left + (bw - 1) / 2 - (w - 1) / 2  # block centre, image-centre relative
                py = top + (bh - 1) / 2 - (h - 1) / 2
                fft = sfft.rfft2(_demean_window(block, self.window))
                self.items.append((int(top), int(left), px, py, fft))

    def fit(self, bw: np.ndarray) -> tuple[float, float] | None:
        """(δs, δθ) of a small similarity fitted to the block displacements of aligned ``bw``.

        Weighted least squares (weights: block peak sharpness) on ``d = δs·p + δθ·(p_y, −p_x) + δt``
        (p the block centre, x right, y down); featureless blocks and outliers are dropped;
        ``None`` when fewer than four blocks agree.
        """
        bh, bwid = self.shape
        rows = []
        for top, left, px, py, fa in self.items:
            block = bw[top : top + bh, left : left + bwid]
            if block.std() < 1e-3:
                continue
            fb = sfft.rfft2(_demean_window(block, self.window))
            uy, ux, conf = _phase_correlate(fa, fb, self.shape, self.weight)
            if conf >= _BLOCK_MIN_CONFIDENCE and math.hypot(ux, uy) < min(bh, bwid) / 4:
                rows.append((px, py, ux, uy, conf))
        if len(rows) < 4:
            return None
        data = np.array(rows)
        px, py, ux, uy, wt = data.T
        one, zero = np.ones_like(px), np.zeros_like(px)
        design = np.concatenate([np.stack([px, py, one, zero], 1), np.stack([py, -px, zero, one], 1)])
        target = np.concatenate([ux, uy])
        keep = np.ones(len(data), dtype=bool)
        for _ in range(3):  # fit, drop outliers, refit
            rows_kept = np.concatenate([keep, keep])
            sw = np.sqrt(np.concatenate([wt, wt]))[rows_kept]
            sol = np.linalg.lstsq(design[rows_kept] * sw[:, None], target[rows_kept] * sw, rcond=None)[0]
            err = (design @ sol - target).reshape(2, -1)
            resid = np.hypot(err[0], err[1])
            new_keep = resid <= max(1.0, 3 * float(np.median(resid[keep])))
            if new_keep.sum() < 4 or (new_keep == keep).all():
                break
            keep = new_keep
        return float(sol[0]), float(sol[1])


def _register_arrays(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, float, float]:
    """(dx, dy, scale, rotation_rad, confidence) of working image ``b`` relative to ``a``."""
    h, w = a.shape
    n = max(h, w)
    lp = _log_polar(n)
    window = _hann(h, w)
    weight = _lowpass((n, n))
    pa = _windowed_padded(a, window, n)
    fa = sfft.rfft2(pa)

    def translation(img: np.ndarray) -> tuple[float, float, float]:
        return _phase_correlate(fa, sfft.rfft2(_windowed_padded(img, window, n)), (n, n), weight)

    fm_scale, fm_rot = _rotation_scale(lp, lp.transform(pa), _windowed_padded(b, window, n))
    # candidates: Fourier–Mellin's answer, its 180° twin (the magnitude spectrum cannot tell them
    # apart: the twin is the same warp flipped about the centre) and the identity (what most
    # outputs are; a safe start when the LQ spectrum is mostly noise)
    warped = _warp(b, fm_scale, fm_rot)
    best = None
    for scale, theta, img in (
        (fm_scale, fm_rot, warped),
        (fm_scale, fm_rot + math.pi, warped[::-1, ::-1]),
        (1.0, 0.0, b),
    ):
        uy, ux, conf = translation(img)
        if best is None or conf > best[-1]:
            best = (scale, theta, ux, uy, conf)
    scale, theta, ux, uy, conf = best
    dx, dy = _to_lq_frame(scale, theta, ux, uy)

    blocks = _Blocks(a)
    for _ in range(_REFINE_ITERATIONS):
        aligned = _warp(b, scale, theta, dx, dy)
        uy, ux, conf = translation(aligned)  # residual translation and the confidence
        fit = blocks.fit(aligned)
        # compose: x_hq = s·R(θ)·((1 + δs)·R(δθ)·x + u) + t
        ddx, ddy = _to_lq_frame(scale, theta, ux, uy)
        dx, dy = dx + ddx, dy + ddy
        if fit is not None:
            scale, theta = scale * (1 + fit[0]), theta + fit[1]
    theta = (theta + math.pi) % (2 * math.pi) - math.pi
    return dx, dy, scale, theta, conf


def estimate_similarity(lq: Image.Image, hq: Image.Image) -> Registration:
    """Fourier–Mellin registration of ``hq`` onto ``lq`` (see the module docstring)."""
    size = _working_size(lq.size)
    a = _grey(lq, size)
    b = _grey(hq, size)
    f = lq.size[0] / size[0], lq.size[1] / size[1]
    if a.std() < 1e-6 or b.std() < 1e-6:
        dx = dy = rot = conf = 0.0
        scale = 1.0
    else:
        dx, dy, scale, rot, conf = _register_arrays(a, b)
    size_ratio = math.sqrt(hq.size[0] / lq.size[0] * hq.size[1] / lq.size[1])
    aspect = (hq.size[0] / hq.size[1]) / (lq.size[0] / lq.size[1])
    return Registration(
        dx=float(dx * f[0]),
        dy=float(dy * f[1]),
        scale=float(scale),
        rotation_deg=float(math.degrees(rot)),
        confidence=float(conf),
        size_ratio=float(size_ratio),
        aspect_change=float(aspect),
    )


# ---------------------------------------------------------------------------------------- colour

_SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_D65 = np.array([0.95047, 1.0, 1.08883])


def _srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def _xyz_to_lab(xyz: np.ndarray) -> np.ndarray:
    t = xyz / _D65
    d = 6 / 29
    f = np.where(t > d**3, np.cbrt(np.maximum(t, 0)), t / (3 * d * d) + 4 / 29)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1
    )


def _thumb_xyz(img: Image.Image) -> np.ndarray:
    """Linear XYZ (D65) pixels of a COLOR_SIZE² thumbnail, shape (N, 3)."""
    thumb = img.convert("RGB").resize((COLOR_SIZE, COLOR_SIZE), Image.Resampling.BOX, reducing_gap=2.0)
    rgb = np.asarray(thumb, dtype=np.float64).reshape(-1, 3) / 255.0
    return _srgb_to_linear(rgb) @ _SRGB_TO_XYZ.T


def _exposure_normalised(xyz: np.ndarray) -> np.ndarray:
    """Scale linear light so the mean luminance Y is 0.18: a global brightness gain cancels."""
    return xyz * float(np.clip(0.18 / max(float(xyz[:, 1].mean()), 1e-6), 1 / 16, 16))


def lab_thumbnail(img: Image.Image) -> np.ndarray:
    """CIELAB pixels (N, 3) of the exposure-normalised COLOR_SIZE² thumbnail that
    :func:`color_shift` compares (also the heuristic judge's colour-layout input)."""
    return _xyz_to_lab(_exposure_normalised(_thumb_xyz(img)))


def color_shift(lq: Image.Image, hq: Image.Image) -> ColorShift:
    """Global colour cast of ``hq`` relative to ``lq``, insensitive to brightness/contrast gains.

    * ``delta_e``: ΔE*76 between the mean L*a*b* of the two thumbnails after each is
      exposure-normalised (mean Y = 0.18), so a brightness gain leaves only the small ΔL* of a
      tone-curve change;
    * the cast ``(delta_a, delta_b)``: a least-squares fit ``ab_hq ≈ g · ab_lq + cast`` over the
      pixels' a*/b*. Brightness, contrast and gamma changes keep neutral pixels neutral and
      a saturation change scales chroma about the neutral axis (both absorbed by ``g``); a colour
      cast moves the neutral axis itself. ``g`` is shrunk towards 1 when the LQ has little
      chroma variation (for a nearly monochrome image the cast is the mean a*/b* difference).
    """
    xyz_lq, xyz_hq = _thumb_xyz(lq), _thumb_xyz(hq)
    d = _xyz_to_lab(_exposure_normalised(xyz_hq)).mean(axis=0) - _xyz_to_lab(
        _exposure_normalised(xyz_lq)
    ).mean(axis=0)
    ab_lq, ab_hq = _xyz_to_lab(xyz_lq)[:, 1:], _xyz_to_lab(xyz_hq)[:, 1:]
    m_lq, m_hq = ab_lq.mean(axis=0), ab_hq.mean(axis=0)
    var = float(((ab_lq - m_lq) ** 2).sum(axis=1).mean())
    cov = float(((ab_lq - m_lq) * (ab_hq - m_hq)).sum(axis=1).mean())
    gain = float(np.clip((cov + _CHROMA_PRIOR) / (var + _CHROMA_PRIOR), 0.5, 2.0))
    cast = m_hq - gain * m_lq
    y_lq, y_hq = float(xyz_lq[:, 1].mean()), float(xyz_hq[:, 1].mean())
    return ColorShift(
        delta_e=float(np.linalg.norm(d)),
        delta_l=float(d[0]),
        delta_a=float(cast[0]),
        delta_b=float(cast[1]),
        chroma_gain=gain,
        brightness_ratio=float(y_hq / max(y_lq, 1e-6)),
    )


# ----------------------------------------------------------------------------------------- check


def _direction(dx: float, dy: float) -> str:
    parts = []
    if abs(dx) >= 0.05:
        parts.append(f"{abs(dx):.1f} px {'right' if dx > 0 else 'left'}")
    if abs(dy) >= 0.05:
        parts.append(f"{abs(dy):.1f} px {'down' if dy > 0 else 'up'}")
    return ", ".join(parts) or "none"


def check_geometry(lq: Image.Image, hq: Image.Image, tol: GeometryTolerances | None = None) -> list[QCCheck]:
    """One ``QCCheck(stage="auto")`` each for ``shift``, ``scale``, ``rotation``, ``color_shift``.

    Values: shift length in LQ px, scale (HQ/LQ content size), rotation in degrees
    (counter-clockwise +), and the ΔE of the mean colours; reasons say what was measured against
    which limit, phrased so they can go into a corrective prompt. When the registration confidence
    is below ``tol.min_confidence`` the geometric checks pass with value ``None`` and the reason
    ``"registration inconclusive (...)"`` (see the module docstring) — except that an output whose
    aspect ratio differs from the input's fails ``scale`` regardless, since that needs no
    registration.
    """
    tol = tol or GeometryTolerances()
    reg = estimate_similarity(lq, hq)
    col = color_shift(lq, hq)
    checks: list[QCCheck] = []
    aspect_ok = abs(reg.aspect_change - 1.0) <= tol.max_scale_error
    aspect_note = "" if aspect_ok else f"; aspect ratio changed ×{reg.aspect_change:.3f} (content stretched)"

    if reg.confidence < tol.min_confidence:
        why = f"registration inconclusive (confidence {reg.confidence:.1f} < {tol.min_confidence:g})"
        checks.append(QCCheck("auto", "shift", True, None, why))
        checks.append(QCCheck("auto", "scale", aspect_ok, None, why + aspect_note))
        checks.append(QCCheck("auto", "rotation", True, None, why))
    else:
        max_shift = tol.max_shift_frac * math.hypot(*lq.size)
        checks.append(
            QCCheck(
                "auto",
                "shift",
                reg.shift <= max_shift,
                reg.shift,
                f"content shifted by {reg.shift:.1f} px ({_direction(reg.dx, reg.dy)}; max {max_shift:.1f})",
            )
        )
        kind = (
            "" if abs(reg.scale - 1) < 5e-4 else "zoomed in / cropped; " if reg.scale > 1 else "zoomed out; "
        )
        reason = f"content scaled ×{reg.scale:.3f} ({kind}max error {tol.max_scale_error:g})"
        if abs(reg.size_ratio - 1.0) > 1e-3:
            reason += f"; output is ×{reg.size_ratio:.2f} the input size (resized back, allowed)"
        checks.append(
            QCCheck(
                "auto",
                "scale",
                abs(reg.scale - 1.0) <= tol.max_scale_error and aspect_ok,
                reg.scale,
                reason + aspect_note,
            )
        )
        sense = (
            ""
            if abs(reg.rotation_deg) < 5e-3
            else " counter-clockwise"
            if reg.rotation_deg > 0
            else " clockwise"
        )
        checks.append(
            QCCheck(
                "auto",
                "rotation",
                abs(reg.rotation_deg) <= tol.max_rotation_deg,
                reg.rotation_deg,
                f"content rotated {abs(reg.rotation_deg):.2f}°{sense} (max {tol.max_rotation_deg:g}°)",
            )
        )
    hues = [
        names[int(v > 0)]
        for v, names in ((col.delta_a, ("green", "red")), (col.delta_b, ("blue", "yellow")))
        if abs(v) >= 1.0
    ]
    towards = f", towards {'-'.join(hues)}" if hues else ""
    checks.append(
        QCCheck(
            "auto",
            "color_shift",
            col.delta_e <= tol.max_color_shift and col.chroma_shift <= tol.max_chroma_shift,
            col.delta_e,
            f"colour shift ΔE {col.delta_e:.1f} of the mean colours (max {tol.max_color_shift:g}); "
            f"cast {col.chroma_shift:.1f} (Δa* {col.delta_a:+.1f}, Δb* {col.delta_b:+.1f}; "
            f"max {tol.max_chroma_shift:g}{towards})",
        )
    )
    return checks
