"""Rectified-flow training targets, as the pipelines' ``FlowMatchEulerDiscreteScheduler`` defines them.

Follows diffusers' own trainers (``examples/dreambooth/train_dreambooth_lora_flux_kontext.py``,
``train_dreambooth_lora_qwen_image.py``, ``examples/controlnet/train_controlnet_flux.py``):

* ``u ~ compute_density_for_timestep_sampling(weighting_scheme, ...)`` (uniform, logit-normal or
  mode), an index ``int(u * num_train_timesteps)`` into the scheduler's *training* schedule
  (``scheduler.sigmas`` / ``scheduler.timesteps`` of a freshly built scheduler — a static ``shift``
  is already applied there by the scheduler itself);
* when the scheduler config sets ``use_dynamic_shifting`` (FLUX, Qwen-Image), the pipelines shift
  the sampling schedule at inference by ``mu = calculate_shift(image_seq_len, base/max_image_seq_len,
  base/max_shift)``; with ``shift: scheduler`` (the default) training applies the same resolution-
  dependent ``scheduler.time_shift(mu, 1.0, sigma)`` so train and test noise levels match per bucket.
  ``shift: none`` reproduces the diffusers examples exactly (unshifted sigmas);
* ``x_t = (1 - σ) x_0 + σ ε``, the transformer sees ``timestep = σ · 1000 / 1000`` (the pipelines
  divide by 1000), the target is the velocity ``ε − x_0`` and the loss is the per-sample mean of
  ``compute_loss_weighting_for_sd3(weighting_scheme, σ) · (pred − target)²``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class FlowMatchingConfig:
    """Timestep sampling and loss weighting (names as in diffusers' training scripts)."""

    weighting_scheme: str = "none"  # none | logit_normal | mode | sigma_sqrt | cosmap
    logit_mean: float = 0.0
    logit_std: float = 1.0
    mode_scale: float = 1.29
    shift: str = "scheduler"  # scheduler (follow its dynamic-shift config) | none


def calculate_mu(scheduler, image_seq_len: int) -> float:
    """The pipelines' ``calculate_shift`` for a latent sequence of ``image_seq_len`` tokens."""
    from diffusers.pipelines.flux.pipeline_flux import calculate_shift

    cfg = scheduler.config
    return calculate_shift(
        image_seq_len,
        cfg.get("base_image_seq_len", 256),
        cfg.get("max_image_seq_len", 4096),
        cfg.get("base_shift", 0.5),
        cfg.get("max_shift", 1.15),
    )


def sample_sigmas(
    scheduler,
    batch_size: int,
    cfg: FlowMatchingConfig,
    *,
    image_seq_len: int,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Noise levels σ ∈ (0, 1], shape ``(batch_size,)``, for images of ``image_seq_len`` packed tokens."""
    from diffusers.training_utils import compute_density_for_timestep_sampling

    u = compute_density_for_timestep_sampling(
        weighting_scheme=cfg.weighting_scheme,
        batch_size=batch_size,
        logit_mean=cfg.logit_mean,
        logit_std=cfg.logit_std,
        mode_scale=cfg.mode_scale,
        generator=generator,
    )
    n = scheduler.config.num_train_timesteps
    indices = (u * n).long().clamp(0, n - 1)
    sigmas = scheduler.sigmas[indices].float()
    if cfg.shift == "scheduler" and scheduler.config.get("use_dynamic_shifting", False):
        sigmas = scheduler.time_shift(calculate_mu(scheduler, image_seq_len), 1.0, sigmas)
    elif cfg.shift not in ("scheduler", "none"):
        raise ValueError(f"flow.shift must be 'scheduler' or 'none', got {cfg.shift!r}")
    return sigmas.to(device)


def _expand(sigmas: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return sigmas.view(-1, *([1] * (like.ndim - 1))).to(like.device, like.dtype)


def add_noise(latents: torch.Tensor, noise: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """``x_t = (1 − σ) x_0 + σ ε`` (``FlowMatchEulerDiscreteScheduler.scale_noise``)."""
    s = _expand(sigmas, latents)
    return (1.0 - s) * latents + s * noise


def velocity_target(latents: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The flow-matching target ``ε − x_0``."""
    return noise - latents


def flow_matching_loss(
    pred: torch.Tensor, target: torch.Tensor, sigmas: torch.Tensor, weighting_scheme: str = "none"
) -> torch.Tensor:
    """Weighted MSE, averaged per sample then over the batch (as the diffusers examples)."""
    from diffusers.training_utils import compute_loss_weighting_for_sd3

    weighting = _expand(compute_loss_weighting_for_sd3(weighting_scheme, sigmas.float()), pred).float()
    err = weighting * (pred.float() - target.float()) ** 2
    return err.reshape(err.shape[0], -1).mean(dim=1).mean()


def fresh_training_scheduler(scheduler):
    """A new scheduler with the same config: its ``sigmas``/``timesteps`` are the training schedule
    (the pipeline's own instance is mutated by ``set_timesteps`` during validation)."""
    return type(scheduler).from_config(scheduler.config)
