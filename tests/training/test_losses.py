"""Restoration losses: values against hand-computed ones, and the perceptual term's direction."""

from __future__ import annotations

import math

import pytest
import torch

from ggt_hf.training.losses import (
    LossConfig,
    RestorationLoss,
    charbonnier_loss,
    edge_loss,
    laplacian,
    psnr_loss,
)


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
    from ggt_hf.imaging.tensors import to_tensor

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


def test_charbonnier_eps_is_added_under_the_root_as_configured():
    x = torch.zeros(1, 3, 2, 2)
    swinir = RestorationLoss(LossConfig(name="charbonnier", eps=1e-9))  # KAIR: sqrt(d² + 1e-9)
    assert float(swinir(x, x)[0]) == pytest.approx(math.sqrt(1e-9))
    assert float(swinir(x + 0.5, x)[0]) == pytest.approx(math.sqrt(0.25 + 1e-9))


def test_laplacian_of_a_flat_image_is_zero_and_of_a_step_is_not():
    # inside the 2-pixel border (replicate padding of the zero-upsampled copy, as MPRNet's code)
    flat = torch.full((1, 3, 16, 16), 0.7)
    assert laplacian(flat)[..., 2:-2, 2:-2].abs().max() < 1e-6
    step = torch.zeros(1, 3, 16, 16)
    step[..., 8:] = 1.0
    assert laplacian(step)[..., 2:-2, 6:10].abs().max() > 0.1
    assert laplacian(step)[..., 2:-2, 2:4].abs().max() < 1e-6  # far from the step: flat again


def test_edge_loss_sees_lost_edges_not_brightness_offsets():
    sharp = torch.zeros(1, 3, 32, 32)
    sharp[..., ::4, :] = 1.0  # stripes
    blurred = torch.nn.functional.avg_pool2d(sharp, 3, 1, 1, count_include_pad=False)
    floor = math.sqrt(1e-6)
    assert float(edge_loss(sharp, sharp)) == pytest.approx(floor)
    offset = float(edge_loss(sharp + 0.1, sharp))  # only the border pixels see an offset
    assert offset < 0.2 * float(edge_loss(blurred, sharp))
    assert float(edge_loss(blurred, sharp)) > 0.05


def test_mprnet_loss_adds_the_weighted_edge_term():
    pred, target = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    plain, _ = RestorationLoss(LossConfig(name="charbonnier"))(pred, target)
    both, parts = RestorationLoss(LossConfig(name="charbonnier", edge_weight=0.05))(pred, target)
    assert float(both) == pytest.approx(float(plain) + 0.05 * float(edge_loss(pred, target)), rel=1e-6)
    assert set(parts) == {"loss_charbonnier", "loss_edge"}
