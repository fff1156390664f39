"""Real-ESRGAN second-order degradation pipeline, seeded and replayable (category ``general``).

Reference: Wang et al., *Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure
Synthetic Data* (ICCV-W 2021); ranges from the official ``options/train_realesrgan_x4plus.yml``,
kernels and noise from basicsr ``basicsr/data/degradations.py`` and the order of operations from
``RealESRGANModel.feed_data``::

    stage 1: blur(kernel1) → resize(up/down/keep) → Gaussian|Poisson noise → JPEG
    stage 2: blur(kernel2, p=0.8) → resize(up/down/keep) → Gaussian|Poisson noise
    final:   [resize back → sinc(p=0.8)] and JPEG, in random order

**Scale = 1.** GGT pairs must stay pixel-aligned, so this is the pipeline with ``scale: 1``:
the stage-2 resize is relative to the input size and the final "resize back" returns to the
input size, i.e. the LQ has exactly the input's height and width (the ×4 model instead ends at
a quarter of the size). The unsharp masking Real-ESRGAN applies to its GT is not part of the
degradation and is not done here.

Differences from the PyTorch implementation, all deliberate: JPEG goes through Pillow/libjpeg
with an integer quality (``DiffJPEG`` takes a float), resizing re-implements
``F.interpolate(align_corners=False)`` in numpy, and batching is gone (one image, one draw).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ggt_hf.degrade.kernels import KernelSpec, build_kernel, sample_blur_kernel, sample_sinc_kernel
from ggt_hf.degrade.ops import (
    RESIZE_MODES,
    draw_bool,
    draw_choice,
    draw_seed,
    draw_uniform,
    filter2d,
    jpeg,
    resize,
    to_float,
    to_uint8,
)

Range = tuple[float, float]
_GRAY_WEIGHTS = np.array([0.2989, 0.587, 0.114], dtype=np.float32)  # torchvision rgb_to_grayscale
_LEVEL_LAMBDA = np.arange(256, dtype=np.float64) / 255.0  # 8-bit level → Poisson rate per "val"
_LEVEL_VALUE = _LEVEL_LAMBDA.astype(np.float32)


@dataclass(frozen=True)
class RealESRGANConfig:
    """Sampling ranges; the defaults are those of ``train_realesrgan_x4plus.yml``."""

    kernel1: KernelSpec = field(default_factory=KernelSpec)
    kernel2: KernelSpec = field(default_factory=lambda: KernelSpec(sigma_range=(0.2, 1.5)))
    final_sinc_prob: float = 0.8
    # first degradation
    resize_prob: tuple[float, float, float] = (0.2, 0.7, 0.1)  # up, down, keep
    resize_range: Range = (0.15, 1.5)
    gaussian_noise_prob: float = 0.5
    noise_range: Range = (1.0, 30.0)
    poisson_scale_range: Range = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_range: Range = (30.0, 95.0)
    # second degradation
    second_blur_prob: float = 0.8
    resize_prob2: tuple[float, float, float] = (0.3, 0.4, 0.3)
    resize_range2: Range = (0.3, 1.2)
    gaussian_noise_prob2: float = 0.5
    noise_range2: Range = (1.0, 25.0)
    poisson_scale_range2: Range = (0.05, 2.5)
    gray_noise_prob2: float = 0.4
    jpeg_range2: Range = (30.0, 95.0)


def _sample_resize(
    rng: np.random.Generator, probs: tuple[float, float, float], scale_range: Range
) -> dict[str, Any]:
    direction = str(draw_choice(rng, ("up", "down", "keep"), probs))
    if direction == "up":
        scale = draw_uniform(rng, 1.0, scale_range[1])
    elif direction == "down":
        scale = draw_uniform(rng, scale_range[0], 1.0)
    else:
        scale = 1.0
    return {"direction": direction, "scale": scale, "mode": str(draw_choice(rng, RESIZE_MODES))}


def _sample_noise(
    rng: np.random.Generator,
    gaussian_prob: float,
    sigma_range: Range,
    poisson_range: Range,
    gray_prob: float,
) -> dict[str, Any]:
    if draw_bool(rng, gaussian_prob):
        noise: dict[str, Any] = {"type": "gaussian", "sigma": draw_uniform(rng, *sigma_range)}
    else:
        noise = {"type": "poisson", "scale": draw_uniform(rng, *poisson_range)}
    noise["gray"] = draw_bool(rng, gray_prob)
    noise["seed"] = draw_seed(rng)
    return noise


def _sample_quality(rng: np.random.Generator, quality_range: Range) -> int:
    return round(draw_uniform(rng, *quality_range))


def add_noise(img: np.ndarray, noise: dict[str, Any]) -> np.ndarray:
    """Add the Gaussian or Poisson noise described by ``noise`` and clip to [0, 1].

    Gaussian: σ is in 0..255 units; gray noise is one field shared by the three channels.
    Poisson (basicsr ``generate_poisson_noise_pt``): the image (or its gray version) is quantised
    to 8 bits, ``vals = 2^ceil(log2(#distinct levels))`` and the noise is
    ``(Poisson(img·vals)/vals − img)·scale``.
    """
    rng = np.random.default_rng(noise["seed"])
    h, w = img.shape[:2]
    if noise["type"] == "gaussian":
        shape = (h, w, 1) if noise["gray"] else (h, w, 3)
        delta = rng.standard_normal(shape, dtype=np.float32) * np.float32(noise["sigma"] / 255.0)
    elif noise["type"] == "poisson":
        base = np.tensordot(img, _GRAY_WEIGHTS, axes=([2], [0]))[..., None] if noise["gray"] else img
        levels = np.clip(np.rint(base * np.float32(255)), 0, 255).astype(np.uint8)
        distinct = int(np.count_nonzero(np.bincount(levels.ravel(), minlength=256)))
        vals = 2.0 ** math.ceil(math.log2(max(distinct, 1)))  # power of two: exact division
        counts = rng.poisson(_LEVEL_LAMBDA[levels] * vals).astype(np.float32)
        quantised = _LEVEL_VALUE[levels]
        delta = (counts / np.float32(vals) - quantised) * np.float32(noise["scale"])
    else:
        raise ValueError(f"unknown noise type {noise['type']!r}")
    return np.clip(img + delta, 0, 1)


@dataclass(frozen=True)
class RealESRGANDegradation:
    """Real-ESRGAN second-order degradation at scale 1 (output size = input size)."""

    config: RealESRGANConfig = field(default_factory=RealESRGANConfig)
    name: str = "realesrgan_x1"
    category: str = "general"

    def sample_params(self, rng: np.random.Generator, height: int, width: int) -> dict[str, Any]:
        """Draw every random choice of the pipeline (sizes do not affect the draws)."""
        cfg = self.config
        stage1 = {
            "kernel": sample_blur_kernel(rng, cfg.kernel1),
            "resize": _sample_resize(rng, cfg.resize_prob, cfg.resize_range),
            "noise": _sample_noise(
                rng,
                cfg.gaussian_noise_prob,
                cfg.noise_range,
                cfg.poisson_scale_range,
                cfg.gray_noise_prob,
            ),
            "jpeg_quality": _sample_quality(rng, cfg.jpeg_range),
        }
        kernel2 = sample_blur_kernel(rng, cfg.kernel2)  # drawn always, as in RealESRGANDataset
        stage2 = {
            "kernel": kernel2 if draw_bool(rng, cfg.second_blur_prob) else None,
            "resize": _sample_resize(rng, cfg.resize_prob2, cfg.resize_range2),
            "noise": _sample_noise(
                rng,
                cfg.gaussian_noise_prob2,
                cfg.noise_range2,
                cfg.poisson_scale_range2,
                cfg.gray_noise_prob2,
            ),
        }
        final = {
            "sinc": sample_sinc_kernel(rng, cfg.final_sinc_prob),
            "order": "resize_sinc_jpeg" if draw_bool(rng, 0.5) else "jpeg_resize_sinc",
            "resize_mode": str(draw_choice(rng, RESIZE_MODES)),
            "jpeg_quality": _sample_quality(rng, cfg.jpeg_range2),
        }
        return {"stage1": stage1, "stage2": stage2, "final": final}

    def apply(self, image: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        """Run the pipeline with the recorded ``params``; no randomness besides recorded seeds."""
        h, w = image.shape[:2]
        s1, s2, final = params["stage1"], params["stage2"], params["final"]
        x = filter2d(to_float(image), build_kernel(s1["kernel"]))
        r1 = s1["resize"]
        scale1 = float(r1["scale"])
        x = resize(x, math.floor(h * scale1), math.floor(w * scale1), r1["mode"], scale=scale1)
        x = add_noise(x, s1["noise"])
        x = jpeg(x, s1["jpeg_quality"])

        if s2["kernel"] is not None:
            x = filter2d(x, build_kernel(s2["kernel"]))
        r2 = s2["resize"]
        x = resize(x, int(h * r2["scale"]), int(w * r2["scale"]), r2["mode"])
        x = add_noise(x, s2["noise"])

        if final["order"] == "resize_sinc_jpeg":
            x = self._resize_back_and_sinc(x, h, w, final)
            x = jpeg(np.clip(x, 0, 1), final["jpeg_quality"])
        elif final["order"] == "jpeg_resize_sinc":
            x = jpeg(np.clip(x, 0, 1), final["jpeg_quality"])
            x = self._resize_back_and_sinc(x, h, w, final)
        else:
            raise ValueError(f"unknown final order {final['order']!r}")
        return to_uint8(x)

    @staticmethod
    def _resize_back_and_sinc(x: np.ndarray, h: int, w: int, final: dict[str, Any]) -> np.ndarray:
        x = resize(x, h, w, final["resize_mode"])
        if final["sinc"] is not None:
            x = filter2d(x, build_kernel(final["sinc"]))
        return x
