"""Physically motivated weather degradations: rain streaks, haze and snow.

Sizes (streak lengths, flake radii, blur widths) are specified for a 1024-pixel short side
(:data:`~ggt_hf.degrade.ops.REFERENCE_SIDE`) and scaled to the actual image when the parameters are
drawn, so the recorded parameters are in pixels of *that* image. Streak and flake positions are
regenerated from a recorded sub-seed; every other quantity is recorded explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ggt_hf.degrade.ops import (
    draw_bool,
    draw_int,
    draw_seed,
    draw_uniform,
    gaussian_blur,
    luminance,
    resize,
    screen,
    size_scale,
    smooth_field,
    sparse_splats,
    streak_psf,
    to_float,
    to_uint8,
)

Range = tuple[float, float]
_MAX_DENSITY = 0.5


def _veil(x: np.ndarray, strength: float, level: float) -> np.ndarray:
    """Blend towards a uniform grey ``level`` (light scattered by the precipitation in the air)."""
    return x * np.float32(1 - strength) + np.float32(strength * level)


def _density(density_ref: float, scale: float) -> float:
    """Seeds per pixel keeping the covered fraction constant when sizes scale by ``scale``."""
    return min(density_ref / max(scale, 1e-6) ** 2, _MAX_DENSITY)


def _precipitation(height: int, width: int, layers: list[dict[str, Any]], taper: bool) -> np.ndarray:
    """Screen-composite opacity of all streak / flake layers, (H, W) in [0, 1]."""
    transmit = np.ones((height, width), dtype=np.float32)
    for layer in layers:
        psf = streak_psf(layer["length"], layer["angle"], layer["width"], taper=taper)
        splats = sparse_splats(height, width, layer["seed"], layer["density"], psf, 0.4)
        transmit *= 1 - np.float32(layer["opacity"]) * splats
    return 1 - transmit


# ---------------------------------------------------------------------------------------- rain


@dataclass(frozen=True)
class RainConfig:
    """Sampling ranges of :class:`RainDegradation` (sizes in pixels at a 1024 short side)."""

    layers: tuple[int, int] = (1, 3)
    angle_range: Range = (-25.0, 25.0)  # degrees from vertical
    angle_jitter: float = 4.0  # per-layer deviation from the common wind angle
    length_range: Range = (15.0, 70.0)
    width_range: Range = (0.5, 1.3)  # Gaussian σ of the streak cross-section
    density_range: Range = (0.0004, 0.0025)  # streaks per pixel at 1024
    opacity_range: Range = (0.3, 0.8)
    brightness_range: Range = (0.8, 1.0)
    veil_range: Range = (0.04, 0.18)
    veil_level_range: Range = (0.6, 0.85)
    blur_range: Range = (0.0, 1.2)  # background softening σ


@dataclass(frozen=True)
class RainDegradation:
    """Rain: background softening and veil, then layers of tapered motion-blurred streaks.

    Each layer scatters sparse drops (density, sub-seed), smears each into a tapered line of the
    drawn length/angle with a Gaussian cross-section, and the layers are screen-blended in a
    near-white colour, so rain only ever adds light.
    """

    config: RainConfig = field(default_factory=RainConfig)
    name: str = "rain_streaks"
    category: str = "rain"

    def sample_params(self, rng: np.random.Generator, height: int, width: int) -> dict[str, Any]:
        """Draw wind angle, streak layers, veil and background blur for an image of this size."""
        cfg, s = self.config, size_scale(height, width)
        angle = draw_uniform(rng, *cfg.angle_range)
        layers = [
            {
                "angle": angle + draw_uniform(rng, -cfg.angle_jitter, cfg.angle_jitter),
                "length": draw_uniform(rng, *cfg.length_range) * s,
                "width": max(0.3, draw_uniform(rng, *cfg.width_range) * s),
                "density": _density(draw_uniform(rng, *cfg.density_range), s),
                "opacity": draw_uniform(rng, *cfg.opacity_range),
                "seed": draw_seed(rng),
            }
            for _ in range(draw_int(rng, *cfg.layers))
        ]
        return {
            "angle": angle,
            "layers": layers,
            "brightness": draw_uniform(rng, *cfg.brightness_range),
            "veil": draw_uniform(rng, *cfg.veil_range),
            "veil_level": draw_uniform(rng, *cfg.veil_level_range),
            "background_blur": draw_uniform(rng, *cfg.blur_range) * s,
        }

    def apply(self, image: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        """Render the rain described by ``params`` over ``image``."""
        h, w = image.shape[:2]
        x = gaussian_blur(to_float(image), params["background_blur"])
        x = _veil(x, params["veil"], params["veil_level"])
        rain = _precipitation(h, w, params["layers"], taper=True)
        x = screen(x, rain[..., None] * np.float32(params["brightness"]))
        return to_uint8(x)


# ---------------------------------------------------------------------------------------- haze


@dataclass(frozen=True)
class HazeConfig:
    """Sampling ranges of :class:`HazeDegradation`."""

    beta_range: Range = (0.8, 2.4)  # scattering coefficient (per unit of proxy depth)
    airlight_range: Range = (0.72, 0.95)
    airlight_tint: float = 0.03  # per-channel deviation of the airlight colour
    near_depth_range: Range = (0.1, 0.35)  # depth of the nearest point (the farthest is 1)
    vertical_weight_range: Range = (0.35, 0.8)
    vertical_gamma_range: Range = (0.6, 1.6)
    luminance_sigma_range: Range = (0.02, 0.06)  # relative to the short side
    inhomogeneity_range: Range = (0.0, 0.25)
    inhomogeneity_grid: int = 6


@dataclass(frozen=True)
class HazeDegradation:
    """Haze by the atmospheric scattering model ``I = J·t + A·(1 − t)``, ``t = exp(−β·d)``.

    No depth map is available, so ``d`` is a proxy in ``[d_near, 1]`` mixing two classic cues of
    outdoor photographs: a vertical gradient (the top of the frame is usually farther —
    ``(1 − y/H)^γ``) and the wide-blurred, min–max normalised luminance (bright, smooth regions
    such as sky tend to be far). ``β`` is modulated by a smooth random field (sub-seed) for
    patchy, inhomogeneous haze. ``A`` is a light grey with a slight per-channel tint.
    """

    config: HazeConfig = field(default_factory=HazeConfig)
    name: str = "atmospheric_haze"
    category: str = "haze"

    def sample_params(self, rng: np.random.Generator, height: int, width: int) -> dict[str, Any]:
        """Draw β, airlight, depth-proxy mixing and inhomogeneity."""
        cfg = self.config
        level = draw_uniform(rng, *cfg.airlight_range)
        tint = [draw_uniform(rng, -cfg.airlight_tint, cfg.airlight_tint) for _ in range(3)]
        return {
            "beta": draw_uniform(rng, *cfg.beta_range),
            "airlight": [min(1.0, max(0.0, level + t)) for t in tint],
            "near_depth": draw_uniform(rng, *cfg.near_depth_range),
            "vertical_weight": draw_uniform(rng, *cfg.vertical_weight_range),
            "vertical_gamma": draw_uniform(rng, *cfg.vertical_gamma_range),
            "luminance_sigma": draw_uniform(rng, *cfg.luminance_sigma_range) * min(height, width),
            "inhomogeneity": draw_uniform(rng, *cfg.inhomogeneity_range),
            "inhomogeneity_grid": cfg.inhomogeneity_grid,
            "inhomogeneity_seed": draw_seed(rng),
        }

    @staticmethod
    def depth_proxy(x: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        """Relative depth in ``[near_depth, 1]`` (1 = farthest) of a float image."""
        rows = np.linspace(1.0, 0.0, x.shape[0], dtype=np.float32) ** np.float32(params["vertical_gamma"])
        lum = smooth_field(luminance(x), params["luminance_sigma"])
        lo, hi = float(lum.min()), float(lum.max())
        lum = (lum - np.float32(lo)) / np.float32(max(hi - lo, 1e-6))
        wv = np.float32(params["vertical_weight"])
        d = wv * rows[:, None] + (1 - wv) * lum
        near = np.float32(params["near_depth"])
        return (near + (1 - near) * d).astype(np.float32)

    def apply(self, image: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        """Apply the scattering model with the recorded parameters."""
        h, w = image.shape[:2]
        x = to_float(image)
        depth = self.depth_proxy(x, params)
        grid = int(params["inhomogeneity_grid"])
        coarse = np.random.default_rng(params["inhomogeneity_seed"]).standard_normal((grid, grid))
        patchy = resize(coarse.astype(np.float32), h, w, "bicubic")
        factor = np.clip(1 + np.float32(params["inhomogeneity"]) * patchy, 0.5, 1.5)
        t = np.exp(-np.float32(params["beta"]) * factor * depth)[..., None]
        airlight = np.asarray(params["airlight"], dtype=np.float32)
        return to_uint8(x * t + airlight * (1 - t))


# ---------------------------------------------------------------------------------------- snow


@dataclass(frozen=True)
class SnowConfig:
    """Sampling ranges of :class:`SnowDegradation` (sizes in pixels at a 1024 short side).

    ``layer_sizes`` / ``layer_densities`` describe far (small, dense), mid and near (large,
    sparse) flakes; the near layer is present with probability ``near_prob``.
    """

    layer_sizes: tuple[Range, ...] = ((0.6, 1.2), (1.2, 2.4), (2.4, 4.5))
    layer_densities: tuple[Range, ...] = ((0.002, 0.006), (0.0003, 0.0012), (0.00004, 0.0002))
    near_prob: float = 0.6
    angle_range: Range = (-30.0, 30.0)
    angle_jitter: float = 6.0
    motion_range: Range = (0.0, 4.0)  # motion-blur length in flake radii
    opacity_range: Range = (0.6, 1.0)
    brightness_range: Range = (0.9, 1.0)
    veil_range: Range = (0.06, 0.22)
    veil_level_range: Range = (0.75, 0.95)
    blur_range: Range = (0.0, 1.0)


@dataclass(frozen=True)
class SnowDegradation:
    """Snow: background blur and veil, then 2–3 layers of Gaussian flakes with motion blur."""

    config: SnowConfig = field(default_factory=SnowConfig)
    name: str = "snow_flakes"
    category: str = "snow"

    def sample_params(self, rng: np.random.Generator, height: int, width: int) -> dict[str, Any]:
        """Draw fall angle, flake layers, veil and background blur for an image of this size."""
        cfg, s = self.config, size_scale(height, width)
        angle = draw_uniform(rng, *cfg.angle_range)
        n_layers = len(cfg.layer_sizes) if draw_bool(rng, cfg.near_prob) else 2
        specs = list(zip(cfg.layer_sizes, cfg.layer_densities, strict=True))[:n_layers]
        layers = []
        for size_range, density_range in specs:
            radius = max(0.3, draw_uniform(rng, *size_range) * s)
            layers.append(
                {
                    "angle": angle + draw_uniform(rng, -cfg.angle_jitter, cfg.angle_jitter),
                    "width": radius,
                    "length": draw_uniform(rng, *cfg.motion_range) * radius,
                    "density": _density(draw_uniform(rng, *density_range), s),
                    "opacity": draw_uniform(rng, *cfg.opacity_range),
                    "seed": draw_seed(rng),
                }
            )
        return {
            "angle": angle,
            "layers": layers,
            "brightness": draw_uniform(rng, *cfg.brightness_range),
            "veil": draw_uniform(rng, *cfg.veil_range),
            "veil_level": draw_uniform(rng, *cfg.veil_level_range),
            "background_blur": draw_uniform(rng, *cfg.blur_range) * s,
        }

    def apply(self, image: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        """Render the snowfall described by ``params`` over ``image``."""
        h, w = image.shape[:2]
        x = gaussian_blur(to_float(image), params["background_blur"])
        x = _veil(x, params["veil"], params["veil_level"])
        snow = _precipitation(h, w, params["layers"], taper=False)
        x = screen(x, snow[..., None] * np.float32(params["brightness"]))
        return to_uint8(x)
