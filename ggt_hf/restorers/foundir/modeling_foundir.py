"""FoundIR's generalist restorer: the residual diffusion model of House-Leo/FoundIR ``src/model.py``
(``ResidualDiffusion`` around ``UnetRes``) with its DDIM-style sampler inside ``forward``.

Parameter names are those of the official ``ResidualDiffusion`` state dict (``model.unet0.*``); its
schedule buffers are rebuilt from the config (non-persistent, not in our checkpoints).

``forward(lq)`` is the official test path (``Trainer.test`` → ``ResidualDiffusion.sample`` →
``ddim_sample``): the LQ is mapped to [-1, 1], the start state is ``(1 − δ̄_T)·LQ + √sum_scale·noise``,
and ``sampling_timesteps`` steps remove the predicted residual; the last step returns the predicted
clean image. The official test data pipeline passes ``equalizeHist=True`` to its dataset, but the
dataset never applies it (``CombinedDataset.cv2equalizeHist`` is defined and not called), so the
input is *not* histogram-equalised here either. ``forward(lq, hq)`` returns the training loss
(``p_losses``: L1 on the predicted residual).
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F

from ggt_hf.restorers.base import Restorer, RestorerCard
from ggt_hf.restorers.checkpoint_layouts import OFFICIAL_CHECKPOINTS
from ggt_hf.restorers.foundir.configuration_foundir import FoundIRConfig
from ggt_hf.restorers.foundir.unet_foundir import UnetRes


def residual_schedule(timesteps: int, delta_end: float) -> dict[str, torch.Tensor]:
    """The cumulative coefficients of ``ResidualDiffusion.__init__`` (linear β 1e-4..0.02)."""
    betas = torch.linspace(0.0001, 0.02, timesteps, dtype=torch.float32)
    delta = torch.linspace(1e-6, delta_end, timesteps, dtype=torch.float32)
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    return {
        "alphas_cumsum": 1 - alphas_cumprod**0.5,
        "betas2_cumsum": 1 - alphas_cumprod,
        "betas_cumsum": torch.sqrt(1 - alphas_cumprod),
        "delta_cumsum": delta.cumsum(dim=0).clip(0, 1),
    }


class FoundIR(Restorer):
    """FoundIR generalist (residual diffusion, 4 sampling steps by default)."""

    config_class = FoundIRConfig
    #: ``forward(lq, hq)`` returns the model's own training objective (the trainer calls it)
    trains_with_own_objective = True
    card = RestorerCard(
        title="FoundIR",
        paper=(
            "FoundIR: Unleashing Million-scale Training Data to Advance Foundation Models for Image "
            "Restoration (ICCV 2025)"
        ),
        paper_url="https://arxiv.org/abs/2412.01427",
        official_repo="https://github.com/House-Leo/FoundIR",
        checkpoint_layout=OFFICIAL_CHECKPOINTS["foundir"].describe(),
        citation=(
            "@inproceedings{li2025foundir,\n  title={FoundIR: Unleashing Million-scale Training Data to "
            "Advance Foundation Models for Image Restoration},\n  author={Li, Hao and Chen, Xiang and Dong, "
            "Jiangxin and Tang, Jinhui and Pan, Jinshan},\n  booktitle={ICCV},\n  year={2025}\n}"
        ),
        description=(
            "A residual diffusion model (UNet predicting the LQ−HQ residual) trained on a million-scale "
            "real paired set; default config = the generalist model-2000.pt, sampled in 4 steps."
        ),
    )

    def __init__(self, config: FoundIRConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        if not 0 < cfg.sampling_timesteps <= cfg.timesteps:
            raise ValueError(
                f"sampling_timesteps must be in 1..{cfg.timesteps}, got {cfg.sampling_timesteps}"
            )
        self.model = UnetRes(cfg.dim, tuple(cfg.dim_mults), cfg.channels, cfg.resnet_block_groups)
        #: the UNet pads to 2**depth itself (reflect); restore() pads first so tiny inputs work too
        self.size_multiple = 2 ** len(cfg.dim_mults)
        for name, value in residual_schedule(cfg.timesteps, cfg.delta_end).items():
            self.register_buffer(name, value, persistent=False)

    def _predict(self, img, x_input, t):
        """``model_predictions`` for ``pred_res``: clipped residual and clean image."""
        time = [self.alphas_cumsum[t] * self.config.timesteps, self.betas_cumsum[t] * self.config.timesteps]
        pred_res = self.model(torch.cat((img, x_input), dim=1), time)[0].clamp(-1, 1)
        return pred_res, (x_input - pred_res).clamp(-1, 1)

    def sample(self, lq: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The official ``ddim_sample`` (``use_pred_noise`` update) on a batch in [0, 1]."""
        cfg = self.config
        x_input = 2 * lq - 1

        def noise_like(x):
            return torch.randn(x.shape, generator=generator).to(device=x.device, dtype=x.dtype)

        times = torch.linspace(-1, cfg.timesteps - 1, steps=cfg.sampling_timesteps + 1).int().tolist()[::-1]
        img = (1 - self.delta_cumsum[-1]) * x_input + math.sqrt(cfg.sum_scale) * noise_like(x_input)
        for time, time_next in itertools.pairwise(times):
            t = torch.full((lq.shape[0],), time, device=lq.device, dtype=torch.long)
            pred_res, x_start = self._predict(img, x_input, t)
            if time_next < 0:
                img = x_start
                continue
            alpha = self.alphas_cumsum[time] - self.alphas_cumsum[time_next]
            delta = self.delta_cumsum[time] - self.delta_cumsum[time_next]
            img = img - alpha * pred_res + delta * x_input
            if cfg.ddim_sampling_eta > 0:
                betas2 = self.betas2_cumsum[time] - self.betas2_cumsum[time_next]
                sigma2 = cfg.ddim_sampling_eta * (
                    betas2 * self.betas2_cumsum[time_next] / self.betas2_cumsum[time]
                )
                img = img + sigma2.sqrt() * noise_like(img)
        return (img + 1) * 0.5

    def diffusion_loss(self, lq: torch.Tensor, hq: torch.Tensor, generator=None) -> torch.Tensor:
        """The official ``p_losses`` (``pred_res``, L1): noise the HQ towards the LQ at a random t
        (``q_sample``) and regress the residual ``LQ − HQ`` (both in [-1, 1])."""
        x_input, x_start = 2 * lq - 1, 2 * hq - 1
        x_res = x_input - x_start
        t = torch.randint(0, self.config.timesteps, (lq.shape[0],), generator=generator).to(lq.device)
        noise = torch.randn(x_start.shape, generator=generator).to(device=lq.device, dtype=lq.dtype)

        def coef(name):
            return getattr(self, name)[t].view(-1, 1, 1, 1)

        x = (
            x_start
            + coef("alphas_cumsum") * x_res
            + coef("betas_cumsum") * noise
            - coef("delta_cumsum") * x_input
        )
        time = [self.alphas_cumsum[t] * self.config.timesteps, self.betas_cumsum[t] * self.config.timesteps]
        pred = self.model(torch.cat((x, x_input), dim=1), time)[0]
        return F.l1_loss(pred, x_res)

    def forward(self, lq: torch.Tensor, hq: torch.Tensor | None = None) -> torch.Tensor:
        """Restore ``lq`` (seeded by ``config.seed``), or with ``hq`` the training loss."""
        if hq is not None:
            return self.diffusion_loss(lq, hq)
        return self.sample(lq, torch.Generator().manual_seed(self.config.seed))
