"""Pixel losses of the restoration literature, plus an optional perceptual term through pyiqa.

* ``l1`` — mean absolute error (SwinIR, MPRNet's Charbonnier is the smooth variant);
* ``charbonnier`` — ``sqrt((x - y)² + ε²)`` with ε = 1e-3 (MPRNet, Restormer);
* ``mse``;
* ``psnr`` — NAFNet's ``PSNRLoss``: ``10/ln 10 · mean_i log(MSE_i + 1e-8)``, i.e. minus the mean
  per-image PSNR up to a constant (NAFNet's official recipe, ``loss_weight=1``).

A perceptual term (``perceptual: lpips`` with a weight) uses ``pyiqa.create_metric(..., as_loss=True)``
so it is the metric the evaluation reports; it needs that metric's weights (offline: see
``ggt metrics fetch``). pyiqa returns the raw score in loss mode, so a higher-is-better metric
(e.g. ``ssim``) enters as ``1 - score``.
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


def charbonnier_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    return torch.sqrt((pred - target).pow(2) + eps * eps).mean()


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
        pixel = self.pixel(pred, target)
        total = self.config.weight * pixel
        parts = {f"loss_{self.config.name}": float(pixel.detach())}
        if self.perceptual is not None:
            self.perceptual.to(pred.device)
            perc = self.perceptual(pred.clamp(0, 1), target).mean()
            if not self.perceptual.lower_better:  # pyiqa returns the raw score even as a loss
                perc = 1.0 - perc
            total = total + self.config.perceptual_weight * perc
            parts[f"loss_{self.config.perceptual}"] = float(perc.detach())
        return total, parts
