"""Photometric degradations: low light (sensor model) and old photographs (print ageing).

As in :mod:`ggt_hf.degrade.weather`, sizes are specified for a 1024-pixel short side and
scaled when drawn; large random fields (sensor noise, film grain, dust) are regenerated from
recorded sub-seeds, everything else (including every scratch) is recorded explicitly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from ggt_hf.degrade.ops import (
    draw_bool,
    draw_choice,
    draw_int,
    draw_log_uniform,
    draw_seed,
    draw_uniform,
    gaussian_blur,
    linear_to_srgb,
    luminance,
    screen,
    size_scale,
    srgb_to_linear,
    to_float,
    to_uint8,
)

Range = tuple[float, float]

#: Luma-preserving sepia tint per unit of warmth (the classic sepia matrix applied to grey).
_SEPIA = np.array([0.11, -0.01, -0.23], dtype=np.float32)


# ----------------------------------------------------------------------------------- low light


@dataclass(frozen=True)
class LowLightConfig:
    """Sampling ranges of :class:`LowLightDegradation`."""

    ev_range: Range = (2.0, 5.0)  # exposure reduction, in stops
    gamma_range: Range = (1.0, 1.4)  # extra tone-curve exponent on the encoded image
    photons_range: Range = (300.0, 3000.0)  # log-uniform photo-electrons at linear 1.0
    read_noise_range: Range = (0.0005, 0.003)  # σ of read noise, linear units
    cast_prob: float = 0.6
    temperature_range: Range = (-1.0, 1.0)  # −1 cool (moonlight) … +1 warm (sodium / tungsten)
    cast_strength: float = 0.25
    tint_range: Range = (-0.06, 0.06)  # green–magenta


@dataclass(frozen=True)
class LowLightDegradation:
    """Under-exposure simulated in linear light with a heteroscedastic sensor-noise model.

    ``lin = srgb_to_linear(J) · 2^−ev · gains``, then
    ``lin += N(0, lin/photons + read²)`` (Poisson shot noise in its Gaussian approximation plus
    Gaussian read noise, per channel, so it is chromatic like real sensor noise), clipping, sRGB
    encoding and a tone exponent ``gamma ≥ 1``. ``gains`` is an optional white-balance cast.
    """

    config: LowLightConfig = field(default_factory=LowLightConfig)
    name: str = "low_light_sensor"
    category: str = "low_light"

    def sample_params(self, rng: np.random.Generator, height: int, width: int) -> dict[str, Any]:
        """Draw exposure, tone exponent, noise levels and the optional colour cast."""
        cfg = self.config
        params: dict[str, Any] = {
            "ev": draw_uniform(rng, *cfg.ev_range),
            "gamma": draw_uniform(rng, *cfg.gamma_range),
            "photons": draw_log_uniform(rng, *cfg.photons_range),
            "read_noise": draw_uniform(rng, *cfg.read_noise_range),
            "cast": None,
            "noise_seed": draw_seed(rng),
        }
        if draw_bool(rng, cfg.cast_prob):
            temperature = draw_uniform(rng, *cfg.temperature_range)
            tint = draw_uniform(rng, *cfg.tint_range)
            k = cfg.cast_strength * temperature
            params["cast"] = {
                "temperature": temperature,
                "tint": tint,
                "gains": [1.0 + k, 1.0 - tint, 1.0 - k],
            }
        return params

    def apply(self, image: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        """Darken, cast, add sensor noise and re-encode with the recorded parameters."""
        lin = srgb_to_linear(to_float(image)) * np.float32(2.0 ** -params["ev"])
        if params["cast"] is not None:
            lin = lin * np.asarray(params["cast"]["gains"], dtype=np.float32)
        variance = lin / np.float32(params["photons"]) + np.float32(params["read_noise"] ** 2)
        noise = np.random.default_rng(params["noise_seed"]).standard_normal(lin.shape, dtype=np.float32)
        lin = np.clip(lin + noise * np.sqrt(variance), 0, 1)
        out = linear_to_srgb(lin) ** np.float32(params["gamma"])
        return to_uint8(out)


# ----------------------------------------------------------------------------------- old photo


@dataclass(frozen=True)
class OldPhotoConfig:
    """Sampling ranges of :class:`OldPhotoDegradation` (sizes in pixels at a 1024 short side)."""

    blur_range: Range = (0.6, 2.0)
    tone_modes: tuple[str, ...] = ("sepia", "faded_colour", "monochrome")
    tone_probs: tuple[float, ...] = (0.5, 0.35, 0.15)
    sepia_strength_range: Range = (0.6, 1.0)
    sepia_warmth_range: Range = (0.6, 1.3)
    mono_warmth_range: Range = (0.0, 0.3)
    desaturation_range: Range = (0.3, 0.7)
    # faded colour prints: the cyan dye fades first, leaving a red / yellow / magenta cast
    cast_gain_ranges: tuple[Range, Range, Range] = ((1.0, 1.12), (0.9, 1.02), (0.75, 0.95))
    contrast_range: Range = (0.55, 0.85)
    black_range: Range = (0.03, 0.12)
    white_range: Range = (0.82, 0.96)
    vignette_range: Range = (0.1, 0.45)
    grain_range: Range = (0.01, 0.04)
    grain_size_range: Range = (0.5, 1.2)
    scratch_count: tuple[int, int] = (0, 10)
    scratch_width_range: Range = (0.8, 2.5)
    dust_count: tuple[int, int] = (20, 300)  # per 1024² pixels
    dust_radius_range: Range = (0.6, 3.5)


def _tone(x: np.ndarray, tone: dict[str, Any]) -> np.ndarray:
    gray = luminance(x)[..., None]
    if tone["mode"] in ("sepia", "monochrome"):
        toned = gray * (1 + np.float32(tone["warmth"]) * _SEPIA)
        s = np.float32(tone["strength"])
        return (1 - s) * x + s * toned
    if tone["mode"] == "faded_colour":
        d = np.float32(tone["desaturation"])
        return ((1 - d) * x + d * gray) * np.asarray(tone["gains"], dtype=np.float32)
    raise ValueError(f"unknown tone mode {tone['mode']!r}")


def _draw_masks(h: int, w: int, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(bright, dark) float masks in [0, 1] with every scratch and dust speck drawn in."""
    masks = {True: Image.new("L", (w, h), 0), False: Image.new("L", (w, h), 0)}
    pens = {k: ImageDraw.Draw(v) for k, v in masks.items()}
    for sc in params["scratches"]:
        t = np.linspace(0.0, 1.0, 24)
        theta = math.radians(sc["angle"])
        dx, dy = -math.sin(theta), math.cos(theta)
        bow = sc["bend"] * 4 * t * (1 - t)
        xs = sc["x"] + t * sc["length"] * dx + bow * dy
        ys = sc["y"] + t * sc["length"] * dy - bow * dx
        points = [(float(a), float(b)) for a, b in zip(xs, ys, strict=True)]
        pens[sc["bright"]].line(points, fill=round(255 * sc["intensity"]), width=sc["width"])
    dust = params["dust"]
    rng = np.random.default_rng(dust["seed"])
    n = dust["count"]
    cx, cy = rng.uniform(0, w, n), rng.uniform(0, h, n)
    rx, ry = rng.uniform(*dust["radius_range"], (2, n))
    bright, level = rng.random(n) < 0.6, rng.uniform(0.3, 0.9, n)
    for i in range(n):
        box = (cx[i] - rx[i], cy[i] - ry[i], cx[i] + rx[i], cy[i] + ry[i])
        pens[bool(bright[i])].ellipse(box, fill=round(255 * level[i]))
    soft = dust["softness"]
    return tuple(gaussian_blur(np.asarray(masks[k], np.float32) / 255, soft) for k in (True, False))


@dataclass(frozen=True)
class OldPhotoDegradation:
    """Aged print: blur, sepia / faded-colour / monochrome toning, contrast fade with lifted
    blacks and dulled whites, vignetting, film grain, then scratches and dust specks."""

    config: OldPhotoConfig = field(default_factory=OldPhotoConfig)
    name: str = "old_photo_print"
    category: str = "old_photo"

    def _sample_tone(self, rng: np.random.Generator) -> dict[str, Any]:
        cfg = self.config
        mode = str(draw_choice(rng, cfg.tone_modes, cfg.tone_probs))
        if mode == "sepia":
            strength = draw_uniform(rng, *cfg.sepia_strength_range)
            return {
                "mode": mode,
                "strength": strength,
                "warmth": draw_uniform(rng, *cfg.sepia_warmth_range),
            }
        if mode == "monochrome":
            return {
                "mode": mode,
                "strength": 1.0,
                "warmth": draw_uniform(rng, *cfg.mono_warmth_range),
            }
        return {
            "mode": mode,
            "desaturation": draw_uniform(rng, *cfg.desaturation_range),
            "gains": [draw_uniform(rng, *r) for r in cfg.cast_gain_ranges],
        }

    def _sample_scratch(self, rng: np.random.Generator, h: int, w: int, s: float) -> dict[str, Any]:
        return {
            "x": draw_uniform(rng, 0, w),
            "y": draw_uniform(rng, -0.2 * h, 0.7 * h),
            "length": draw_uniform(rng, 0.2, 1.0) * h,
            "angle": draw_uniform(rng, -8.0, 8.0),
            "bend": draw_uniform(rng, -0.03, 0.03) * w,
            "width": max(1, round(draw_uniform(rng, *self.config.scratch_width_range) * s)),
            "intensity": draw_uniform(rng, 0.3, 0.9),
            "bright": draw_bool(rng, 0.7),
        }

    def sample_params(self, rng: np.random.Generator, height: int, width: int) -> dict[str, Any]:
        """Draw toning, fading, vignetting, grain, scratches and dust for an image of this size."""
        cfg, s = self.config, size_scale(height, width)
        area = height * width / 1024**2
        return {
            "blur": draw_uniform(rng, *cfg.blur_range) * s,
            "tone": self._sample_tone(rng),
            "contrast": draw_uniform(rng, *cfg.contrast_range),
            "black": draw_uniform(rng, *cfg.black_range),
            "white": draw_uniform(rng, *cfg.white_range),
            "vignette": draw_uniform(rng, *cfg.vignette_range),
            "grain": {
                "sigma": draw_uniform(rng, *cfg.grain_range),
                "size": draw_uniform(rng, *cfg.grain_size_range) * s,
                "seed": draw_seed(rng),
            },
            "scratches": [
                self._sample_scratch(rng, height, width, s) for _ in range(draw_int(rng, *cfg.scratch_count))
            ],
            "dust": {
                "count": round(draw_int(rng, *cfg.dust_count) * area),
                "radius_range": [max(0.5, r * s) for r in cfg.dust_radius_range],
                "softness": max(0.4, 0.6 * s),
                "seed": draw_seed(rng),
            },
        }

    def apply(self, image: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        """Age ``image`` with the recorded parameters."""
        h, w = image.shape[:2]
        x = _tone(gaussian_blur(to_float(image), params["blur"]), params["tone"])
        x = np.float32(0.5) + np.float32(params["contrast"]) * (x - np.float32(0.5))
        black, white = np.float32(params["black"]), np.float32(params["white"])
        x = black + (white - black) * x
        yy = np.linspace(-1.0, 1.0, h, dtype=np.float32)[:, None]
        xx = np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, :]
        x = x * (1 - np.float32(params["vignette"] / 2) * (xx**2 + yy**2))[..., None]
        x = x + self._grain(x, params["grain"])[..., None]
        bright, dark = _draw_masks(h, w, params)
        x = screen(np.clip(x, 0, 1), np.float32(0.9) * bright[..., None])
        x = x * (1 - np.float32(0.85) * dark[..., None])
        return to_uint8(x)

    @staticmethod
    def _grain(x: np.ndarray, grain: dict[str, Any]) -> np.ndarray:
        """Monochrome film grain, strongest in the mid-tones."""
        h, w = x.shape[:2]
        g = np.random.default_rng(grain["seed"]).standard_normal((h, w), dtype=np.float32)
        g = gaussian_blur(g, grain["size"])
        g /= np.float32(max(float(g.std()), 1e-6))
        lum = np.clip(luminance(x), 0, 1)
        return np.float32(grain["sigma"]) * (0.4 + 2.4 * lum * (1 - lum)) * g
