"""IR-SDE (Luo et al., "Image Restoration with Mean-Reverting Stochastic Differential Equations",
ICML 2023) as in Algolzw/daclip-uir ``utils/sde_utils.py`` (``IRSDE``): the schedule, the
posterior and Euler-Maruyama reverse steps used for sampling, and the maximum-likelihood training
target. Noise comes from a caller-supplied :class:`torch.Generator` (seeded, device-agnostic: drawn
on the CPU and moved to the state's device).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def cosine_theta_schedule(steps: int, s: float = 0.008) -> torch.Tensor:
    """θ_t for t = 0..T (the official ``cosine_theta_schedule``)."""
    timesteps = steps + 2
    x = torch.linspace(0, timesteps, timesteps + 1, dtype=torch.float32, device="cpu")
    alphas_cumprod = torch.cos(((x / timesteps) + s) / (1 + s) * math.pi * 0.5) ** 2
    alphas_cumprod = alphas_cumprod / alphas_cumprod[0]
    return 1 - alphas_cumprod[1:-1]


def linear_theta_schedule(steps: int) -> torch.Tensor:
    timesteps = steps + 1
    scale = 1000 / timesteps
    return torch.linspace(scale * 0.0001, scale * 0.02, timesteps, dtype=torch.float32, device="cpu")


SCHEDULES = {
    "cosine": cosine_theta_schedule,
    "linear": linear_theta_schedule,
    "constant": lambda steps: torch.ones(steps + 1, dtype=torch.float32, device="cpu"),
}


def randn_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normal noise shaped like ``x``, drawn on the CPU from ``generator``."""
    return torch.randn(x.shape, generator=generator, dtype=torch.float32, device="cpu").to(
        device=x.device, dtype=x.dtype
    )


class IRSDE(nn.Module):
    """The mean-reverting SDE ``dx = θ_t (μ − x) dt + σ_t dw`` towards the low-quality image μ.

    Time steps run 1..T (state 0 is never used). The schedule tensors are non-persistent buffers:
    rebuilt from the config, moved with the module.
    """

    def __init__(self, max_sigma: float, T: int = 100, schedule: str = "cosine", eps: float = 0.01) -> None:
        super().__init__()
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown IR-SDE schedule {schedule!r}; known: {sorted(SCHEDULES)}")
        self.T = T
        self.max_sigma = max_sigma / 255 if max_sigma >= 1 else max_sigma
        thetas = SCHEDULES[schedule](T)
        sigmas = torch.sqrt(self.max_sigma**2 * 2 * thetas)
        thetas_cumsum = torch.cumsum(thetas, dim=0) - thetas[0]
        self.dt = float(-1 / thetas_cumsum[-1] * math.log(eps))
        sigma_bars = torch.sqrt(self.max_sigma**2 * (1 - torch.exp(-2 * thetas_cumsum * self.dt)))
        for name, value in (
            ("thetas", thetas),
            ("sigmas", sigmas),
            ("thetas_cumsum", thetas_cumsum),
            ("sigma_bars", sigma_bars),
        ):
            self.register_buffer(name, value, persistent=False)

    def mu_bar(self, x0, mu, t):
        return mu + (x0 - mu) * torch.exp(-self.thetas_cumsum[t] * self.dt)

    def noisy_state(self, x0, mu, t, generator=None):
        """A training state x_t ~ N(mu_bar(x0, t), sigma_bar(t)²)."""
        return randn_like(x0, generator) * self.sigma_bars[t] + self.mu_bar(x0, mu, t)

    def score_from_noise(self, noise, t):
        return -noise / self.sigma_bars[t]

    def reverse_sde_step_mean(self, x, mu, score, t):
        return x - (self.thetas[t] * (mu - x) - self.sigmas[t] ** 2 * score) * self.dt

    def reverse_sde_step(self, x, mu, score, t, generator=None):
        noise = self.sigmas[t] * randn_like(x, generator) * math.sqrt(self.dt)
        return self.reverse_sde_step_mean(x, mu, score, t) - noise

    def reverse_optimum_step(self, xt, x0, mu, t):
        """The optimal x_{t-1} given x_t and the clean x0 (the training target)."""
        a = torch.exp(-self.thetas[t] * self.dt)
        b = torch.exp(-self.thetas_cumsum[t] * self.dt)
        c = torch.exp(-self.thetas_cumsum[t - 1] * self.dt)
        term1 = a * (1 - c**2) / (1 - b**2)
        term2 = c * (1 - a**2) / (1 - b**2)
        return term1 * (xt - mu) + term2 * (x0 - mu) + mu

    def reverse_optimum_std(self, t):
        a = torch.exp(-2 * self.thetas[t] * self.dt)
        b = torch.exp(-2 * self.thetas_cumsum[t] * self.dt)
        c = torch.exp(-2 * self.thetas_cumsum[t - 1] * self.dt)
        var = (1 - a) * (1 - c) / (1 - b)
        return (0.5 * torch.log(torch.clamp(var, min=1e-20 * self.dt))).exp() * self.max_sigma

    def init_state_from_noise(self, xt, mu, noise, t):
        return (xt - mu - self.sigma_bars[t] * noise) * torch.exp(self.thetas_cumsum[t] * self.dt) + mu

    def reverse_posterior_step(self, xt, mu, noise, t, generator=None):
        x0 = self.init_state_from_noise(xt, mu, noise, t)
        mean = self.reverse_optimum_step(xt, x0, mu, t)
        return mean + self.reverse_optimum_std(t) * randn_like(xt, generator)
