"""Blur kernels of Real-ESRGAN, ported from basicsr ``basicsr/data/degradations.py``.

Kernels are described by small JSON-friendly dicts (``{"type": "aniso", "size": 15,
"sigma_x": ..., "sigma_y": ..., "theta": ...}``) drawn by :func:`sample_blur_kernel` /
:func:`sample_sinc_kernel` and turned into arrays by :func:`build_kernel`, so a kernel is
recorded by its parameters and rebuilt exactly, never stored as an array.

Kernel families (Wang et al., *Real-ESRGAN*, ICCV-W 2021, §3.1):

* ``iso`` / ``aniso``: (an)isotropic Gaussian, ``exp(-½ xᵀΣ⁻¹x)``;
* ``generalized_iso`` / ``generalized_aniso``: generalised Gaussian ``exp(-½ (xᵀΣ⁻¹x)^β)``;
* ``plateau_iso`` / ``plateau_aniso``: plateau ``1 / (1 + (xᵀΣ⁻¹x)^β)``;
* ``sinc``: 2-D circular low-pass (ideal) filter with cutoff ``omega_c``, built from ``J₁``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from ggt_hf.degrade.ops import draw_bool, draw_choice, draw_uniform

KERNEL_TYPES: tuple[str, ...] = (
    "iso",
    "aniso",
    "generalized_iso",
    "generalized_aniso",
    "plateau_iso",
    "plateau_aniso",
)
_ISOTROPIC = frozenset({"iso", "generalized_iso", "plateau_iso"})

#: Odd kernel sizes 7..21 (``kernel_range`` of ``RealESRGANDataset``).
KERNEL_SIZES: tuple[int, ...] = tuple(2 * v + 1 for v in range(3, 11))


@dataclass(frozen=True)
class KernelSpec:
    """Sampling ranges of one blur stage (``options/train_realesrgan_x4plus.yml`` defaults)."""

    kernel_list: tuple[str, ...] = KERNEL_TYPES
    kernel_prob: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    sigma_range: tuple[float, float] = (0.2, 3.0)
    rotation_range: tuple[float, float] = (-math.pi, math.pi)
    betag_range: tuple[float, float] = (0.5, 4.0)
    betap_range: tuple[float, float] = (1.0, 2.0)
    sinc_prob: float = 0.1
    kernel_sizes: tuple[int, ...] = KERNEL_SIZES


def _draw_beta(rng: np.random.Generator, beta_range: tuple[float, float]) -> float:
    """basicsr's shape draw: half the time below 1, half the time above 1."""
    if rng.uniform() < 0.5:
        return draw_uniform(rng, beta_range[0], 1.0)
    return draw_uniform(rng, 1.0, beta_range[1])


def sample_blur_kernel(rng: np.random.Generator, spec: KernelSpec) -> dict[str, Any]:
    """Draw the parameters of one first/second-stage blur kernel (``RealESRGANDataset``)."""
    size = int(draw_choice(rng, spec.kernel_sizes))
    if draw_bool(rng, spec.sinc_prob):
        # basicsr: this sinc setting is for kernel sizes 7..21
        low = math.pi / 3 if size < 13 else math.pi / 5
        return {"type": "sinc", "size": size, "omega_c": draw_uniform(rng, low, math.pi)}
    ktype = str(draw_choice(rng, spec.kernel_list, spec.kernel_prob))
    sigma_x = draw_uniform(rng, *spec.sigma_range)
    if ktype in _ISOTROPIC:
        sigma_y, theta = sigma_x, 0.0
    else:
        sigma_y = draw_uniform(rng, *spec.sigma_range)
        theta = draw_uniform(rng, *spec.rotation_range)
    params: dict[str, Any] = {
        "type": ktype,
        "size": size,
        "sigma_x": sigma_x,
        "sigma_y": sigma_y,
        "theta": theta,
    }
    if ktype.startswith("generalized"):
        params["beta"] = _draw_beta(rng, spec.betag_range)
    elif ktype.startswith("plateau"):
        params["beta"] = _draw_beta(rng, spec.betap_range)
    return params


def sample_sinc_kernel(
    rng: np.random.Generator, prob: float, sizes: tuple[int, ...] = KERNEL_SIZES
) -> dict[str, Any] | None:
    """Draw the final sinc filter (``final_sinc_prob``); ``None`` stands for the identity pulse."""
    if not draw_bool(rng, prob):
        return None
    size = int(draw_choice(rng, sizes))
    return {"type": "sinc", "size": size, "omega_c": draw_uniform(rng, math.pi / 3, math.pi)}


def mesh_grid(kernel_size: int) -> np.ndarray:
    """(K, K, 2) grid of (x, y) offsets centred on zero."""
    ax = np.arange(-kernel_size // 2 + 1.0, kernel_size // 2 + 1.0)
    xx, yy = np.meshgrid(ax, ax)
    return np.stack([xx, yy], axis=-1)


def sigma_matrix2(sig_x: float, sig_y: float, theta: float) -> np.ndarray:
    """Covariance ``U diag(σx², σy²) Uᵀ`` rotated by ``theta`` radians."""
    d = np.array([[sig_x**2, 0.0], [0.0, sig_y**2]])
    u = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return u @ d @ u.T


def _mahalanobis2(kernel_size: int, sig_x: float, sig_y: float, theta: float) -> np.ndarray:
    grid = mesh_grid(kernel_size)
    inverse_sigma = np.linalg.inv(sigma_matrix2(sig_x, sig_y, theta))
    return np.sum(np.dot(grid, inverse_sigma) * grid, axis=2)


def circular_lowpass_kernel(cutoff: float, kernel_size: int) -> np.ndarray:
    """2-D sinc (circularly symmetric ideal low-pass) kernel with cutoff in radians (π = max)."""
    centre = (kernel_size - 1) / 2
    y, x = np.mgrid[0:kernel_size, 0:kernel_size].astype(np.float64)
    r = np.sqrt((x - centre) ** 2 + (y - centre) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        kernel = cutoff * special.j1(cutoff * r) / (2 * np.pi * r)
    kernel[(kernel_size - 1) // 2, (kernel_size - 1) // 2] = cutoff**2 / (4 * np.pi)
    return kernel / np.sum(kernel)


def build_kernel(params: dict[str, Any]) -> np.ndarray:
    """Rebuild the normalised (K, K) ``float64`` kernel described by ``params``."""
    ktype, size = params["type"], int(params["size"])
    if size % 2 != 1:
        raise ValueError(f"kernel size must be odd, got {size}")
    if ktype == "sinc":
        return circular_lowpass_kernel(float(params["omega_c"]), size)
    if ktype not in KERNEL_TYPES:
        raise ValueError(f"unknown kernel type {ktype!r}")
    m2 = _mahalanobis2(size, params["sigma_x"], params["sigma_y"], params["theta"])
    if ktype.startswith("generalized"):
        kernel = np.exp(-0.5 * np.power(m2, params["beta"]))
    elif ktype.startswith("plateau"):
        kernel = np.reciprocal(np.power(m2, params["beta"]) + 1)
    else:
        kernel = np.exp(-0.5 * m2)
    return kernel / np.sum(kernel)
