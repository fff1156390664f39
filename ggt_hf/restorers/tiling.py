"""Tiled inference for images of any size with bounded device memory.

The image is cut into ``tile``×``tile`` windows that overlap by at least ``overlap`` pixels (the last
window of a row or column is shifted back to end at the border, so every window has the same size).
Each window is restored on the device on its own; its output is weighted by a separable feathering
window and accumulated into an output buffer on the CPU. On every side that borders another tile the
weight is 0 over the outer quarter of the overlap (pixels whose receptive field the cut removed) and
ramps linearly to 1 across the next half; it is 1 elsewhere and at the image border.

Memory, by construction: the device only ever holds one window (its input, the model's activations
for it and its output), so device memory depends on ``tile`` and not on the image size. The CPU holds
the input image and one float32 accumulator of the output's size; the feathering weights are
normalised per axis beforehand (the tile grid is a product of row and column positions, so the
weight sum is the outer product of two 1-D sums), so no image-sized weight buffer is needed.

With ``overlap`` > 0 adjacent windows cross-fade, which hides the seams a model with a receptive
field would otherwise leave at tile borders (for a receptive radius up to ``overlap // 4`` the result
is that of the untiled model); for a pixel-wise model tiled and untiled results are equal up to
float rounding.

A model conditioned on the whole image (DA-CLIP's degradation and content embeddings) exposes
``whole_image_context(image)``, a context manager: :func:`restore_image` enters it with the whole
image before the tiles run, so every tile shares the embedding of the whole image, as an untiled
run would.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from ggt_hf.imaging.tensors import resolve_device, resolve_dtype, to_tensor, to_uint8

logger = logging.getLogger(__name__)

#: A tile-restoring function: ``(1, C, h, w)`` float tensor on the device → same shape.
TileFn = Callable[[torch.Tensor], torch.Tensor]


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of windows of length ``min(tile, size)`` covering ``[0, size)`` with stride
    ``tile - overlap``; the last window ends exactly at ``size``."""
    if tile <= 0 or not 0 <= overlap < tile:
        raise ValueError(f"need tile > 0 and 0 <= overlap < tile, got tile={tile}, overlap={overlap}")
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, tile - overlap))
    return [*starts, size - tile]


def feather_weights(size: int, tile: int, overlap: int) -> list[tuple[int, torch.Tensor]]:
    """Per window along one axis: ``(start, weight)`` with the weights summing to 1 at every pixel.

    Where a window borders another one, its raw weight is 0 over the outer ``overlap // 4`` pixels
    (the ones whose receptive field the tile cut off), then ramps linearly to 1 across the middle of
    the overlap; it is 1 elsewhere, including at the image border.
    """
    starts = tile_starts(size, tile, overlap)
    length = min(tile, size)
    margin = overlap // 4
    index = torch.arange(length, dtype=torch.float64)
    ramp = ((index - margin + 1) / (overlap - 2 * margin + 1)).clamp(0, 1)
    raw = []
    for start in starts:
        w = torch.ones(length, dtype=torch.float64)
        if overlap > 0 and start > 0:
            w = torch.minimum(w, ramp)
        if overlap > 0 and start + length < size:
            w = torch.minimum(w, ramp.flip(0))
        raw.append(w)
    total = torch.zeros(size, dtype=torch.float64)
    for start, w in zip(starts, raw, strict=True):
        total[start : start + length] += w
    return [(s, (w / total[s : s + length]).float()) for s, w in zip(starts, raw, strict=True)]


def _tile_fn(model: torch.nn.Module) -> TileFn:
    """``model.restore`` for registry restorers (pads to ``size_multiple``, picks the final output),
    else ``model(x)`` (element 0 when it returns several outputs)."""
    restore = getattr(model, "restore", None)
    if callable(restore):
        return restore

    def call(x: torch.Tensor) -> torch.Tensor:
        out = model(x)
        return out[0] if isinstance(out, (list, tuple)) else out

    return call


def _model_device(model: torch.nn.Module) -> torch.device | None:
    tensor = next(model.parameters(), None)
    if tensor is None:
        tensor = next(model.buffers(), None)
    return None if tensor is None else tensor.device


def _autocast(device: str, dtype) -> object:
    """bf16/fp16 autocast on CUDA when asked for; full precision otherwise."""
    if dtype is None:
        return nullcontext()
    resolved = resolve_dtype(dtype, device)
    if resolved == torch.float32:
        return nullcontext()
    if not device.startswith("cuda"):
        logger.warning("dtype %s ignored on %s: reduced precision is only used on CUDA", resolved, device)
        return nullcontext()
    return torch.autocast(device_type="cuda", dtype=resolved)


def tiled_forward(
    fn: TileFn,
    image: torch.Tensor,
    tile: int | None = 512,
    overlap: int = 32,
    device: str = "cpu",
    dtype=None,
    progress: bool = False,
) -> torch.Tensor:
    """Run ``fn`` over overlapping tiles of a ``(1, C, H, W)`` CPU tensor; returns the blended
    ``(1, C', H, W)`` float32 CPU tensor (not clamped). ``tile=None`` runs the whole image at once."""
    if image.ndim != 4 or image.shape[0] != 1:
        raise ValueError(f"expected a (1, C, H, W) tensor, got {tuple(image.shape)}")
    _, _, h, w = image.shape
    tile = max(h, w) if tile is None else tile
    rows, cols = feather_weights(h, tile, overlap), feather_weights(w, tile, overlap)
    out: torch.Tensor | None = None
    th, tw = min(tile, h), min(tile, w)
    with torch.inference_mode(), _autocast(device, dtype):
        bar = tqdm(total=len(rows) * len(cols), desc="tiles", unit="tile", disable=not progress, leave=False)
        for y, wy in rows:
            for x, wx in cols:
                window = image[:, :, y : y + th, x : x + tw].to(device)
                restored = fn(window).float().cpu()
                if restored.shape[-2:] != (th, tw):
                    raise ValueError(
                        f"the model changed the tile size: {(th, tw)} → {tuple(restored.shape[-2:])}"
                    )
                if out is None:
                    out = torch.zeros((1, restored.shape[1], h, w), dtype=torch.float32)
                out[:, :, y : y + th, x : x + tw] += restored * (wy[:, None] * wx[None, :])
                bar.update()
        bar.close()
    assert out is not None  # at least one tile always exists
    return out


def restore_image(
    model: torch.nn.Module,
    image: Image.Image | np.ndarray,
    tile: int | None = 512,
    overlap: int = 32,
    device: str | None = None,
    dtype=None,
    progress: bool = False,
) -> Image.Image:
    """Restore an RGB image of any size with ``model``, tile by tile; returns a PIL image of the
    input's size.

    Args:
        model: a registry :class:`~ggt_hf.restorers.base.Restorer` (or any module mapping
            ``(1, 3, h, w)`` in [0, 1] to the same shape). It is put in eval mode and moved to
            ``device`` if it lives elsewhere.
        image: PIL image or ``uint8`` HWC array.
        tile: window side in pixels; ``None`` processes the whole image in one pass.
        overlap: minimum overlap of adjacent windows, cross-faded (must be < ``tile``).
        device: ``cpu``, ``cuda``, ...; default: :func:`ggt_hf.imaging.tensors.resolve_device`.
        dtype: ``None``/``float32`` for full precision, or ``bfloat16``/``float16`` for autocast
            (CUDA only; ignored with a warning elsewhere).
        progress: show a tqdm bar over the tiles.
    """
    if not isinstance(image, Image.Image | np.ndarray):
        raise TypeError(
            f"restore_image takes a PIL image or a uint8 HWC array, not {type(image).__name__} "
            f"({image!r}): open a file with PIL.Image.open(path)"
        )
    device = resolve_device(device)
    if _model_device(model) not in (None, torch.device(device)):
        model.to(device)
    model.eval()
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    batch = to_tensor([image.convert("RGB")])
    pin = getattr(model, "whole_image_context", None)
    with torch.inference_mode(), pin(batch.to(device)) if callable(pin) else nullcontext():
        out = tiled_forward(_tile_fn(model), batch, tile, overlap, device, dtype, progress)
    return Image.fromarray(to_uint8(out)[0])
