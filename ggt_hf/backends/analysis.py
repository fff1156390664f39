"""Offline degradation analyser: classical, documented estimators, numpy/scipy only.

:func:`analyse` returns an :class:`Analysis`: one :class:`Measurement` per degradation (``score``;
``present`` from a fixed threshold; ``strong``, the score from which it is called strong;
supporting ``values``) and ``dominant_category`` (one of :data:`ggt_hf.constants.CATEGORIES`).
``Analysis.to_dict()`` is plain JSON and :meth:`Analysis.from_dict` inverts it exactly.

Noise, blur and JPEG need the finest scale and are measured at full resolution; the rest at
"work scale" (box-downscaled to a longest side ≤ :data:`WORK_SIDE`). ≈ 0.2 s for 1024² on one core.

=============  ===============================================================  =======  ======
name           estimator → score (intensities in [0, 1])                        present  strong
=============  ===============================================================  =======  ======
``noise``      flat-region σ in grey levels: Immerkær's 3×3 estimator per        ≥ 2.5    ≥ 8
               16×16 block, 10th percentile of blocks (texture only raises a
               block); max of full scale and 2× half scale, which catches noise
               that blur / resizing / JPEG made spatially correlated
``blur``       Crété-Roffet et al. (2007) re-blur metric: share of neighbour     ≥ 0.45   ≥ 0.65
               differences a 9-tap box blur does not remove (0 sharp, 1 flat)
``jpeg``       blockiness: neighbour differences profiled by position mod 8,    ≥ 0.15   ≥ 0.4
               peak / median of the other positions − 1 (rows and columns)
``haze``       He et al.'s dark channel prior: mean 15×15 minimum filter of     ≥ 0.35†  ≥ 0.55
               the channel minimum (clear outdoor scenes ≈ 0)
``exposure``   under-exposure ``1 − mean luminance / 0.5`` (clipped)            ≥ 0.6    ≥ 0.8
``color_cast`` grey-edge illuminant (van de Weijer et al. 2007, p = 1): distance ≥ 0.2‡   ≥ 0.35
               from grey of the per-channel mean Sobel magnitude (``rg``/``yb``)
``fading``     ``1 − mean HSV saturation / 0.4`` (+ Hasler–Süsstrunk            ≥ 0.5    ≥ 0.85
               colourfulness in ``values``)
``streaks``    near-vertical thin lines (rain, scratches): white / black        ≥ 0.03   ≥ 0.1
               top-hats (1×3 element) averaged along 9-px lines at −32…32°
               minus their horizontal average (isotropic texture, noise and
               specks cancel); share of pixels > 0.04 at the dominant angle
=============  ===============================================================  =======  ======

† only if mean luminance ≥ 0.3 and mean saturation ≥ 0.02 (the prior is about colour channels:
a greyscale photo is never called hazy). ‡ only without streaks (white streaks over coloured
surfaces bias the per-channel edges). ``noise.values["immerkaer"]`` is the whole-image estimate of
:func:`ggt_hf.judging.heuristic.noise_sigma`, the figure the heuristic judge reports.

``dominant_category``: the first of ``low_light`` (exposure), ``haze``, ``old_photo`` (fading),
``rain`` (streaks) whose indicator is present, else ``general`` (noise, blur, JPEG, or nothing).
These estimators cannot tell snowflakes from rain streaks: snow is reported as ``rain``.
``evidence`` gives each category's score / threshold. Thresholds were set on real photos
(skimage.data astronaut, coffee, chelsea, 192–1024 px) against :mod:`ggt_hf.degrade`'s synthetic
degradations; the clean photos flag nothing at 256–600 px.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from ggt_hf.judging.heuristic import noise_sigma

#: Longest side of the work-scale copy used by the scale-robust estimators.
WORK_SIDE = 512

#: Rec. 709 luma weights.
_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)

#: Per measurement: the score from which it is present, and from which it is called strong.
LEVELS: dict[str, tuple[float, float]] = {
    "noise": (2.5, 8.0),
    "blur": (0.45, 0.65),
    "jpeg": (0.15, 0.4),
    "haze": (0.35, 0.55),
    "exposure": (0.6, 0.8),
    "color_cast": (0.2, 0.35),
    "fading": (0.5, 0.85),
    "streaks": (0.03, 0.1),
}
THRESHOLDS: dict[str, float] = {k: v[0] for k, v in LEVELS.items()}
STRONG: dict[str, float] = {k: v[1] for k, v in LEVELS.items()}

#: Order of the measurements in an :class:`Analysis`.
MEASUREMENTS: tuple[str, ...] = tuple(THRESHOLDS)


def _r(x: float) -> float:
    """Round to 4 decimals so that :meth:`Analysis.to_dict` is lossless through JSON."""
    return round(float(x), 4)


@dataclass
class Measurement:
    """One estimator's result: a score, whether the degradation is present, and the evidence."""

    score: float
    present: bool
    threshold: float
    strong: float
    values: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.score, self.threshold, self.strong = _r(self.score), _r(self.threshold), _r(self.strong)
        self.present = bool(self.present)
        self.values = {k: _r(v) for k, v in self.values.items()}

    @property
    def strength(self) -> str:
        """``"strong"`` from :attr:`strong` on, ``"moderate"`` from halfway there, else ``"mild"``."""
        if self.score >= self.strong:
            return "strong"
        return "moderate" if self.score >= (self.threshold + self.strong) / 2 else "mild"


@dataclass
class Analysis:
    """Every measurement of one image plus the guessed category (see the module docstring)."""

    width: int
    height: int
    measurements: dict[str, Measurement]
    dominant_category: str
    evidence: dict[str, float] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Measurement:
        return self.measurements[name]

    @property
    def present(self) -> list[str]:
        """Names of the degradations flagged present, in :data:`MEASUREMENTS` order."""
        return [k for k in MEASUREMENTS if k in self.measurements and self.measurements[k].present]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (inverse: :meth:`from_dict`); adds ``present``."""
        data = asdict(self)
        data["present"] = self.present
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Analysis:
        """Rebuild an :class:`Analysis` from :meth:`to_dict` output (extra keys are ignored)."""
        found = {k: Measurement(**v) for k, v in data["measurements"].items()}
        evidence = {k: float(v) for k, v in data.get("evidence", {}).items()}
        return cls(int(data["width"]), int(data["height"]), found, str(data["dominant_category"]), evidence)


# ------------------------------------------------------------------------------ conversions


def to_rgb_float(image: Image.Image) -> np.ndarray:
    """PIL image → float32 H×W×3 RGB in [0, 1]."""
    return np.asarray(image.convert("RGB"), dtype=np.float32) / np.float32(255.0)


def luma(rgb: np.ndarray) -> np.ndarray:
    """Rec. 709 luma of an H×W×3 array."""
    return np.tensordot(rgb, _LUMA, axes=([2], [0])).astype(np.float32, copy=False)


def work_scale(image: Image.Image, side: int = WORK_SIDE) -> Image.Image:
    """RGB copy whose longest side is at most ``side`` (box filter: an exact area average)."""
    rgb = image.convert("RGB")
    scale = side / max(rgb.size)
    if scale >= 1:
        return rgb
    size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
    return rgb.resize(size, Image.Resampling.BOX)


# ------------------------------------------------------------------------------ estimators

_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)


def half_scale(x: np.ndarray) -> np.ndarray:
    """2×2 box average of a 2-D array (odd edges dropped)."""
    h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
    return x[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))


def flat_noise_sigma(grey: np.ndarray, block: int = 16, percentile: float = 10.0) -> float:
    """Noise σ of the flattest regions: Immerkær's estimator per ``block``² block, low percentile.

    Texture and edges only ever raise a block's estimate, so a low percentile over blocks
    measures the noise, not the content. ``grey`` is in the units of the result (e.g. 0–255).
    """
    response = np.abs(ndimage.convolve(grey.astype(np.float32), _IMMERKAER, mode="reflect"))
    h, w = grey.shape[0] // block * block, grey.shape[1] // block * block
    if h == 0 or w == 0:  # smaller than one block: the whole image is the block
        return float(np.sqrt(np.pi / 2) / 6 * response.mean()) if response.size else 0.0
    blocks = response[:h, :w].reshape(h // block, block, w // block, block).mean(axis=(1, 3))
    return float(np.sqrt(np.pi / 2) / 6 * np.percentile(blocks, percentile))


def noise_level(grey255: np.ndarray) -> float:
    """Flat-region noise σ (0–255) at full and half scale, the larger one.

    Half scale (×2, the σ reduction of a 2×2 mean of white noise) catches noise that blur,
    resizing or JPEG made spatially correlated, which the 3×3 estimator at full scale misses.
    """
    return max(flat_noise_sigma(grey255), 2.0 * flat_noise_sigma(half_scale(grey255)))


def blur_metric(grey: np.ndarray) -> float:
    """Crété-Roffet re-blur metric in [0, 1] (1 = blurriest) of a greyscale image."""
    scores = []
    for axis in (0, 1):
        blurred = ndimage.uniform_filter1d(grey, 9, axis=axis, mode="reflect")
        d_img = np.abs(np.diff(grey, axis=axis))
        d_blur = np.abs(np.diff(blurred, axis=axis))
        total = float(d_img.sum())
        if total <= 1e-9:
            return 1.0
        kept = float(np.maximum(d_img - d_blur, 0).sum())
        scores.append((total - kept) / total)
    return max(scores)


def blockiness(grey: np.ndarray) -> float:
    """JPEG blockiness: peak of the 8-periodic neighbour-difference profile over its median − 1."""
    ratios = []
    for axis in (0, 1):
        diffs = np.abs(np.diff(grey, axis=axis)).mean(axis=1 - axis)
        n = diffs.size // 8 * 8
        if n < 16:
            return 0.0
        profile = diffs[:n].reshape(-1, 8).mean(axis=0)
        peak = int(np.argmax(profile))
        rest = np.delete(profile, peak)
        ratios.append(float(profile[peak] / max(float(np.median(rest)), 1e-6)) - 1.0)
    return float(np.mean(ratios))


def dark_channel(rgb: np.ndarray, patch: int = 15) -> np.ndarray:
    """He et al.'s dark channel: ``patch``×``patch`` minimum filter of the channel minimum."""
    return ndimage.minimum_filter(rgb.min(axis=2), size=patch, mode="nearest")


#: Orientations (degrees from vertical) searched by the line detector.
LINE_ANGLES: tuple[float, ...] = tuple(float(a) for a in range(-32, 33, 8))


def line_mean(x: np.ndarray, angle_deg: float, length: int) -> np.ndarray:
    """Mean of ``x`` along a ``length``-pixel segment through each pixel, ``angle_deg`` from vertical."""
    t = np.arange(length) - (length - 1) // 2
    dx = np.rint(t * np.tan(np.radians(angle_deg))).astype(int)
    pad = int(max(np.abs(dx).max(), np.abs(t).max()))
    padded = np.pad(x, pad, mode="reflect")
    h, w = x.shape
    acc = np.zeros_like(x)
    for oy, ox in zip(t, dx, strict=True):
        acc += padded[pad + oy : pad + oy + h, pad + ox : pad + ox + w]
    return acc / np.float32(length)


def line_maps(grey: np.ndarray, bright: bool, width: int = 3, length: int = 9) -> list[np.ndarray]:
    """Elongated thin-line response per angle of :data:`LINE_ANGLES` (≥ 0, in intensity units).

    A top-hat with a 1×``width`` horizontal element keeps structures thinner than ``width`` px
    (white top-hat for bright lines, black for dark); it is averaged along each orientation and
    its horizontal average is subtracted, so isotropic texture, noise and specks cancel.
    """
    if bright:
        tophat = grey - ndimage.grey_opening(grey, size=(1, width), mode="reflect")
    else:
        tophat = ndimage.grey_closing(grey, size=(1, width), mode="reflect") - grey
    across = ndimage.uniform_filter1d(tophat, length, axis=1, mode="reflect")
    return [np.maximum(line_mean(tophat, a, length) - across, 0) for a in LINE_ANGLES]


def streak_stats(grey: np.ndarray, tau: float = 0.04) -> dict[str, float]:
    """Coverage of the dominant-orientation thin lines (bright and dark), their angle and polarity."""
    best = {"coverage": 0.0, "angle": 0.0, "bright": 1.0}
    for bright in (True, False):
        for angle, resp in zip(LINE_ANGLES, line_maps(grey, bright), strict=True):
            coverage = float((resp > tau).mean())
            if coverage > best["coverage"]:
                best = {"coverage": coverage, "angle": angle, "bright": float(bright)}
    return best


def channel_edges(rgb: np.ndarray) -> np.ndarray:
    """Mean Sobel gradient magnitude of each channel of an H×W×3 array (grey-edge, p = 1)."""
    return np.array(
        [float(np.hypot(ndimage.sobel(c, 0), ndimage.sobel(c, 1)).mean()) for c in rgb.transpose(2, 0, 1)]
    )


def grey_edge(rgb: np.ndarray) -> tuple[float, float, float]:
    """Grey-edge illuminant (van de Weijer et al. 2007, p = 1) as ``(cast, rg, yb)``: opponent
    components ``R − G``, ``(R + G)/2 − B`` of the per-channel edges (mean 1), distance from grey."""
    edges = channel_edges(rgb)
    e = edges / max(float(edges.mean()), 1e-9)
    rg, yb = float(e[0] - e[1]), float((e[0] + e[1]) / 2 - e[2])
    return float(np.hypot(rg, yb)), rg, yb


def color_stats(rgb: np.ndarray) -> dict[str, float]:
    """Grey-edge cast (and direction), grey-world cast, mean HSV saturation, colourfulness."""
    means = rgb.reshape(-1, 3).mean(axis=0)
    mu = max(float(means.mean()), 1e-6)
    mx, mn = rgb.max(axis=2), rgb.min(axis=2)
    lit = mx > 0.05
    saturation = float(((mx - mn)[lit] / mx[lit]).mean()) if lit.any() else 0.0
    rg = (rgb[..., 0] - rgb[..., 1]) * 255
    yb = ((rgb[..., 0] + rgb[..., 1]) / 2 - rgb[..., 2]) * 255
    cast, cast_rg, cast_yb = grey_edge(rgb)
    return {
        "grey_edge": cast,
        "grey_edge_rg": cast_rg,
        "grey_edge_yb": cast_yb,
        "grey_world": float(np.hypot(means[0] - means[1], (means[0] + means[1]) / 2 - means[2])) / mu,
        "saturation": saturation,
        "colourfulness": float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())),
    }


# ------------------------------------------------------------------------------ analysis


def _measurement(name: str, score: float, condition: bool = True, **values: float) -> Measurement:
    """A :class:`Measurement` with the documented threshold / strong level of ``name``."""
    return Measurement(score, condition and score >= THRESHOLDS[name], THRESHOLDS[name], STRONG[name], values)


def _measure(image: Image.Image) -> dict[str, Measurement]:
    """Run every estimator (full resolution where the finest scale matters, work scale else)."""
    grey255 = luma(to_rgb_float(image)) * np.float32(255.0)
    rgb = to_rgb_float(work_scale(image))
    grey = luma(rgb)
    mean_lum = float(grey.mean())
    colour = color_stats(rgb)
    lines = streak_stats(grey)
    no_streaks = lines["coverage"] < THRESHOLDS["streaks"]
    immerkaer = noise_sigma(grey255.astype(np.float64)) if min(grey255.shape) >= 3 else 0.0
    return {
        "noise": _measurement("noise", noise_level(grey255), immerkaer=immerkaer),
        "blur": _measurement("blur", blur_metric(grey255 / np.float32(255.0))),
        "jpeg": _measurement("jpeg", blockiness(grey255)),
        "haze": _measurement(
            "haze",
            float(dark_channel(rgb).mean()),
            mean_lum >= 0.3 and colour["saturation"] >= 0.02,
            contrast=float(grey.std()),
        ),
        "exposure": _measurement(
            "exposure",
            float(np.clip(1 - mean_lum / 0.5, 0, 1)),
            mean_luminance=mean_lum,
            dark_fraction=float((grey < 0.15).mean()),
            clipped_fraction=float(((grey <= 1 / 255) | (grey >= 254 / 255)).mean()),
        ),
        "color_cast": _measurement(
            "color_cast",
            colour["grey_edge"],
            no_streaks,
            rg=colour["grey_edge_rg"],
            yb=colour["grey_edge_yb"],
            grey_world=colour["grey_world"],
        ),
        "fading": _measurement(
            "fading",
            float(np.clip(1 - colour["saturation"] / 0.4, 0, 1)),
            saturation=colour["saturation"],
            colourfulness=colour["colourfulness"],
        ),
        "streaks": _measurement("streaks", lines["coverage"], angle=lines["angle"], bright=lines["bright"]),
    }


#: Decision list of :func:`analyse`: the first category whose indicator is present wins.
_DECISION: tuple[tuple[str, str], ...] = (
    ("exposure", "low_light"),
    ("haze", "haze"),
    ("fading", "old_photo"),
    ("streaks", "rain"),
)


def _guess_category(m: dict[str, Measurement]) -> tuple[str, dict[str, float]]:
    """The dominant category (decision list, see module doc) and score / threshold per category."""

    def ratio(*names: str) -> float:
        return _r(max(m[n].score / m[n].threshold for n in names))

    evidence = {
        "general": ratio("noise", "blur", "jpeg"),
        "rain": ratio("streaks"),
        "haze": ratio("haze"),
        "snow": ratio("streaks"),  # indistinguishable from rain with these estimators
        "low_light": ratio("exposure"),
        "old_photo": ratio("fading"),
    }
    category = next((c for name, c in _DECISION if m[name].present), "general")
    return category, evidence


def analyse(image: Image.Image) -> Analysis:
    """Measure every degradation of ``image`` (any PIL mode; converted to RGB)."""
    measurements = _measure(image)
    category, evidence = _guess_category(measurements)
    return Analysis(image.width, image.height, measurements, category, evidence)
