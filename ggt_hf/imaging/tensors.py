"""The one place where images become tensors, and where the compute device is chosen.

Library convention: ``uint8`` RGB HWC numpy / PIL at the edges; float32 NCHW tensors in [0, 1]
for metrics and training.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from ggt_hf.errors import MissingExtraError


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError("torch", "metrics") from exc
    return torch


def resolve_device(device: str | None = None) -> str:
    """``device`` if given, else ``cuda`` when available, else ``mps``, else ``cpu``.

    A given device that this machine does not have raises :class:`~ggt_hf.errors.UsageError`
    (one line, before any model is loaded).
    """
    torch = _torch()
    if device:
        _check_device(torch, str(device))
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _check_device(torch, device: str) -> None:
    from ggt_hf.errors import UsageError

    try:
        kind = torch.device(device).type
    except (RuntimeError, ValueError) as exc:
        raise UsageError(f"device {device!r}", f"not a torch device ({exc}); use cpu, cuda or mps") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise UsageError(
            f"device {device!r}", "CUDA is not available on this machine; use --device cpu or leave it unset"
        )
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UsageError(
            f"device {device!r}", "MPS is not available on this machine; use --device cpu or leave it unset"
        )


def resolve_dtype(dtype=None, device: str = "cpu"):
    """A torch dtype from ``None`` (bfloat16 on CUDA, float32 elsewhere), a name or a dtype."""
    torch = _torch()
    if dtype is None:
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if isinstance(dtype, str):
        resolved = getattr(torch, dtype.removeprefix("torch."), None)
        if not isinstance(resolved, torch.dtype):
            raise ValueError(f"unknown torch dtype {dtype!r}")
        return resolved
    return dtype


def to_tensor(images: Sequence[np.ndarray | Image.Image], device: str = "cpu"):
    """Stack equally sized RGB images into a float32 ``(N, 3, H, W)`` tensor in [0, 1]."""
    torch = _torch()
    arrays = [np.asarray(im.convert("RGB") if isinstance(im, Image.Image) else im) for im in images]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"images in one batch must share a size, got {sorted(shapes)}")
    batch = torch.from_numpy(np.stack(arrays)).to(device)
    return batch.permute(0, 3, 1, 2).float().div_(255.0)


def to_uint8(batch) -> list[np.ndarray]:
    """Inverse of :func:`to_tensor`: ``(N, 3, H, W)`` in [0, 1] → list of ``uint8`` HWC arrays."""
    arr = batch.detach().clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    return list(arr)
