"""Restoration losses: values against hand-computed ones, and the perceptual term's direction."""

from __future__ import annotations

import math

import pytest
import torch

from ggt_hf.training.losses import LossConfig, RestorationLoss, charbonnier_loss, psnr_loss


def test_psnr_loss_is_minus_the_mean_psnr():
    target = torch.zeros(2, 3, 4, 4)
    pred = torch.stack([torch.full((3, 4, 4), 0.1), torch.full((3, 4, 4), 0.01)])
    # per-image PSNR 20 dB and 40 dB (MSE 1e-2, 1e-4); the loss is -mean(PSNR) up to the 1e-8 epsilon
    assert float(psnr_loss(pred, target)) == pytest.approx(-30.0, abs=1e-3)


def test_charbonnier_is_l1_like_with_a_smooth_floor():
    x = torch.zeros(1, 3, 2, 2)
    assert float(charbonnier_loss(x, x)) == pytest.approx(1e-3)
    assert float(charbonnier_loss(x + 0.5, x)) == pytest.approx(math.sqrt(0.25 + 1e-6))


def test_unknown_loss_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="charbonnier"):
        RestorationLoss(LossConfig(name="huber"))


def test_perceptual_term_through_pyiqa_decreases_towards_the_target(photos):
    from ggt_hf.tensors import to_tensor

    target = to_tensor([photos[0].resize((64, 64))])
    noisy = (target + 0.2 * torch.randn_like(target, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    fn = RestorationLoss(LossConfig(name="l1", weight=0.0, perceptual="ssim", perceptual_weight=1.0))
    close, parts = fn(target, target)
    far, _ = fn(noisy, target)
    assert "loss_ssim" in parts
    assert float(close) == pytest.approx(0.0, abs=1e-4)  # 1 - SSIM(x, x)
    assert float(far) > 0.1
    noisy.requires_grad_(True)
    loss, _ = fn(noisy, target)
    loss.backward()
    assert noisy.grad is not None and noisy.grad.abs().sum() > 0
