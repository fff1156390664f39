"""Pixel losses of the restoration literature, plus an optional perceptual term through pyiqa.

* ``l1`` — mean absolute error (Restormer, PromptIR, MoCE-IR);
* ``charbonnier`` — ``mean(sqrt((x - y)² + eps))`` with ``eps`` *inside* the root, as the official
  codes write it: MPRNet's ``CharbonnierLoss(eps=1e-3)`` adds ``eps² = 1e-6`` (the default here),
  KAIR's SwinIR adds its option ``G_charbonnier_eps`` as is;
* ``mse``;
* ``psnr`` — NAFNet's ``PSNRLoss``: ``10/ln 10 · mean_i log(MSE_i + 1e-8)``, i.e. minus the mean
  per-image PSNR up to a constant (NAFNet's official recipe, ``loss_weight=1``).

A perceptual term (``perceptual: lpips`` with a weight) uses ``pyiqa.create_metric(..., as_loss=True)``
so it is the metric the evaluation reports; it needs that metric's weights (offline: see
``ggt metrics fetch``). pyiqa returns the raw score in loss mode, so a higher-is-better metric
(e.g. ``ssim``) enters as ``1 - score``.

``edge_weight`` adds MPRNet's edge loss: the Charbonnier distance between the Laplacian (image minus
its Gaussian-blurred, 2× down-up-sampled copy, 5-tap kernel ``[.05, .25, .4, .25, .05]``) of the
prediction and of the target; MPRNet weighs it 0.05 and sums it over the stage outputs like the
pixel loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - target).abs().mean()


def mse_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - target).pow(2).mean()


#: MPRNet's ``CharbonnierLoss(eps=1e-3)`` adds ``eps * eps`` under the root.
DEFAULT_CHARBONNIER_EPS = 1e-6


def charbonnier_loss(
    pred: torch.Tensor, target: torch.Tensor, eps: float = DEFAULT_CHARBONNIER_EPS
) -> torch.Tensor:
    """``mean(sqrt((pred - target)² + eps))`` (``eps`` under the root, see the module docstring)."""
    return torch.sqrt((pred - target).pow(2) + eps).mean()


_GAUSS_TAPS = (0.05, 0.25, 0.4, 0.25, 0.05)


def _gauss(img: torch.Tensor) -> torch.Tensor:
    taps = torch.tensor(_GAUSS_TAPS, dtype=img.dtype, device=img.device)
    kernel = torch.outer(taps, taps).expand(img.shape[1], 1, 5, 5)
    padded = torch.nn.functional.pad(img, (2, 2, 2, 2), mode="replicate")
    return torch.nn.functional.conv2d(padded, kernel, groups=img.shape[1])


def laplacian(img: torch.Tensor) -> torch.Tensor:
    """``img`` minus its blurred, 2× down- then zero-up-sampled (×4) and re-blurred copy."""
    blurred = _gauss(img)
    sparse = torch.zeros_like(blurred)
    sparse[:, :, ::2, ::2] = blurred[:, :, ::2, ::2] * 4
    return img - _gauss(sparse)


def edge_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = DEFAULT_CHARBONNIER_EPS) -> torch.Tensor:
    """Charbonnier distance of the Laplacians (MPRNet's ``EdgeLoss``)."""
    return charbonnier_loss(laplacian(pred), laplacian(target), eps)


def psnr_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    mse = (pred.float() - target.float()).pow(2).mean(dim=(1, 2, 3))
    return (10.0 / math.log(10.0)) * torch.log(mse + 1e-8).mean()


PIXEL_LOSSES: dict[str, LossFn] = {
    "l1": l1_loss,
    "mse": mse_loss,
    "charbonnier": charbonnier_loss,
    "psnr": psnr_loss,
}


@dataclass
class LossConfig:
    """``name`` is a pixel loss; ``perceptual`` an optional pyiqa FR metric used as a loss term."""

    name: str = "l1"
    weight: float = 1.0
    #: charbonnier: added under the root (MPRNet 1e-6 = (1e-3)²; KAIR/SwinIR G_charbonnier_eps 1e-3)
    eps: float = DEFAULT_CHARBONNIER_EPS
    #: weight of MPRNet's edge loss (0 = off; MPRNet's official: 0.05)
    edge_weight: float = 0.0
    perceptual: str | None = None  # e.g. "lpips"
    perceptual_weight: float = 0.0
    #: weight of an architecture's auxiliary loss (``model.aux_loss``; MoCE-IR's official: 0.01)
    aux_weight: float = 1.0


class RestorationLoss(torch.nn.Module):
    """``weight · pixel(pred, hq) [+ perceptual_weight · perceptual(pred, hq)]``; returns the parts too."""

    def __init__(self, config: LossConfig | None = None) -> None:
        super().__init__()
        self.config = config or LossConfig()
        if self.config.name not in PIXEL_LOSSES:
            raise ValueError(f"unknown loss {self.config.name!r}; choose from {sorted(PIXEL_LOSSES)}")
        self.pixel = PIXEL_LOSSES[self.config.name]
        self.perceptual = None
        if self.config.perceptual and self.config.perceptual_weight > 0:
            import pyiqa

            self.perceptual = pyiqa.create_metric(self.config.perceptual, as_loss=True, device="cpu")

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        if self.config.name == "charbonnier":
            pixel = charbonnier_loss(pred, target, self.config.eps)
        else:
            pixel = self.pixel(pred, target)
        total = self.config.weight * pixel
        parts = {f"loss_{self.config.name}": float(pixel.detach())}
        if self.config.edge_weight:
            edge = edge_loss(pred, target, self.config.eps)
            total = total + self.config.edge_weight * edge
            parts["loss_edge"] = float(edge.detach())

        if self.perceptual is not None:
            self.perceptual.to(pred.device)
            perc = self.perceptual(pred.clamp(0, 1), target).mean()
            if not self.perceptual.lower_better:  # pyiqa returns the raw score even as a loss
                perc = 1.0 - perc
            total = total + self.config.perceptual_weight * perc
            parts[f"loss_{self.config.perceptual}"] = float(perc.detach())
        return total, parts
