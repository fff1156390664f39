"""Aligned augmentation of LQ/HQ pairs: one crop box, flip and rotation drawn once, applied to both.

Draws come from a caller-supplied ``np.random.Generator`` (the loader seeds it from ``(seed, g)``),
never from global or worker RNG state. Images smaller than the crop are reflect-padded, LQ and HQ
identically, so no pair is lost and alignment holds; the pad is recorded in :class:`CropPlan`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ggt_hf.errors import PairingError


@dataclass(frozen=True)
class CropPlan:
    """One sample's augmentation: crop ``size``² at (``top``, ``left``) of the (padded) image, then
    ``flip`` (left-right) and ``rot`` quarter turns counter-clockwise; ``pad`` = (bottom, right)."""

    top: int
    left: int
    size: int
    flip: bool
    rot: int
    pad: tuple[int, int] = (0, 0)


def plan_crop(
    height: int, width: int, size: int, rng: np.random.Generator, *, flips: bool = True, rot90: bool = True
) -> CropPlan:
    """Draw a crop box, flip and rotation for an image of ``height`` × ``width``.

    The same number of draws is made whatever the flags, so toggling ``flips`` does not shift the
    crop positions of later samples.
    """
    pad = (max(0, size - height), max(0, size - width))
    top = int(rng.integers(0, height + pad[0] - size + 1))
    left = int(rng.integers(0, width + pad[1] - size + 1))
    flip, rot = bool(rng.integers(2)), int(rng.integers(4))
    return CropPlan(top, left, size, flip and flips, rot if rot90 else 0, pad)


def check_pair(item: str, lq: np.ndarray, hq: np.ndarray) -> None:
    """Raise :class:`PairingError` naming ``item`` when LQ and HQ are not equally sized RGB arrays."""
    if lq.shape != hq.shape:
        raise PairingError(
            item,
            f"LQ/HQ size mismatch: LQ is {lq.shape[1]}×{lq.shape[0]} but HQ is {hq.shape[1]}×{hq.shape[0]}",
        )
    if lq.ndim != 3 or lq.shape[2] != 3:
        raise PairingError(item, f"expected H×W×3 RGB images, got shape {lq.shape}")


def reflect_pad(image: np.ndarray, bottom: int, right: int) -> np.ndarray:
    """Pad at the bottom/right by mirroring (numpy repeats the reflection when the pad is larger)."""
    return np.pad(image, ((0, bottom), (0, right), (0, 0)), mode="reflect")


def crop_view(image: np.ndarray, plan: CropPlan) -> np.ndarray:
    """``plan`` applied to one ``uint8`` H×W×C image as a *view* where possible (no pixel copied
    unless padding is needed; on a memory-mapped image nothing is read until the view is used)."""
    if plan.pad != (0, 0):
        image = reflect_pad(np.asarray(image), *plan.pad)
    out = image[plan.top : plan.top + plan.size, plan.left : plan.left + plan.size]
    if plan.flip:
        out = out[:, ::-1]
    return np.rot90(out, plan.rot) if plan.rot else out


def apply_crop(image: np.ndarray, plan: CropPlan) -> np.ndarray:
    """Apply ``plan`` to one image (``uint8`` H×W×C); returns a contiguous ``size``² array."""
    return np.ascontiguousarray(crop_view(image, plan))


def augment_pair(
    item: str, lq: np.ndarray, hq: np.ndarray, plan: CropPlan, *, copy: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Apply the same ``plan`` to LQ and HQ after checking they match (see :func:`check_pair`);
    ``copy=False`` returns views (see :func:`crop_view`)."""
    check_pair(item, lq, hq)
    crop = apply_crop if copy else crop_view
    return crop(lq, plan), crop(hq, plan)
