"""Flow-matching targets against the scheduler's own definitions."""

from __future__ import annotations

import math

import pytest
import torch

from ggt_hf.generative.flow_matching import (
    FlowMatchingConfig,
    add_noise,
    calculate_mu,
    flow_matching_loss,
    sample_sigmas,
    velocity_target,
)

diffusers = pytest.importorskip("diffusers")


def _scheduler(**kw):
    return diffusers.FlowMatchEulerDiscreteScheduler(**kw)


def test_noise_endpoints_and_scheduler_scale_noise():
    x0, noise = torch.randn(2, 4, 6, 8), torch.randn(2, 4, 6, 8)
    assert torch.equal(add_noise(x0, noise, torch.zeros(2)), x0)
    assert torch.equal(add_noise(x0, noise, torch.ones(2)), noise)
    sched = _scheduler(shift=3.0)  # the scheduler's own forward process at one of its training sigmas
    t = sched.timesteps[[100, 700]]
    ref = sched.scale_noise(x0, t, noise)
    sigmas = sched.sigmas[[100, 700]]
    torch.testing.assert_close(add_noise(x0, noise, sigmas), ref)
    # the velocity is d x_t / d sigma
    assert torch.allclose(velocity_target(x0, noise), noise - x0)


def test_static_shift_comes_from_the_scheduler():
    torch.manual_seed(0)
    plain = sample_sigmas(_scheduler(shift=1.0), 4000, FlowMatchingConfig(), image_seq_len=1024)
    torch.manual_seed(0)
    shifted = sample_sigmas(_scheduler(shift=3.0), 4000, FlowMatchingConfig(), image_seq_len=1024)
    assert plain.min() > 0 and plain.max() <= 1
    expected = 3.0 * plain / (1 + 2.0 * plain)  # the SD3 shift formula the scheduler applies
    torch.testing.assert_close(shifted, expected, atol=2e-3, rtol=0)
    assert shifted.mean() > plain.mean() + 0.1


def test_dynamic_shift_follows_the_pipeline_mu():
    sched = _scheduler(use_dynamic_shifting=True, base_image_seq_len=256, max_image_seq_len=4096)
    assert calculate_mu(sched, 256) == pytest.approx(0.5)
    assert calculate_mu(sched, 4096) == pytest.approx(1.15)
    torch.manual_seed(1)
    small = sample_sigmas(sched, 2000, FlowMatchingConfig(), image_seq_len=256)
    torch.manual_seed(1)
    large = sample_sigmas(sched, 2000, FlowMatchingConfig(), image_seq_len=4096)
    torch.manual_seed(1)
    off = sample_sigmas(sched, 2000, FlowMatchingConfig(shift="none"), image_seq_len=4096)
    # exponential time shift: σ' = e^μ / (e^μ + 1/σ − 1)
    torch.testing.assert_close(large, math.e**1.15 / (math.e**1.15 + 1 / off - 1))
    assert large.mean() > small.mean() > off.mean()
    with pytest.raises(ValueError, match=r"flow\.shift"):
        sample_sigmas(sched, 2, FlowMatchingConfig(shift="bogus"), image_seq_len=16)


def test_logit_normal_concentrates_mid_range():
    sched = _scheduler()
    torch.manual_seed(2)
    s = sample_sigmas(
        sched, 4000, FlowMatchingConfig(weighting_scheme="logit_normal", shift="none"), image_seq_len=16
    )
    torch.manual_seed(2)
    u = sample_sigmas(sched, 4000, FlowMatchingConfig(shift="none"), image_seq_len=16)
    assert ((s - 0.5).abs() < 0.25).float().mean() > ((u - 0.5).abs() < 0.25).float().mean() + 0.1


def test_loss_is_zero_at_target_and_weighted():
    target = torch.randn(3, 4, 2, 2)
    sigmas = torch.tensor([0.2, 0.5, 0.9])
    assert flow_matching_loss(target, target, sigmas) == 0
    pred = target + 1.0
    assert flow_matching_loss(pred, target, sigmas).item() == pytest.approx(1.0)
    weighted = flow_matching_loss(pred, target, sigmas, "sigma_sqrt").item()
    assert weighted == pytest.approx(float((sigmas**-2).mean()), rel=1e-5)
