"""DA-CLIP universal image restoration as one registry restorer: the DA-CLIP encoder (``daclip.*``,
the keys of ``daclip_ViT-B-32.pt``) and the ``ConditionalUNet`` (``unet.*``, the keys of
``universal-ir.pth``), with IR-SDE sampling inside ``forward``.

``forward(lq)`` follows the official ``config/daclip-sde/test.py``: the degradation and image
embeddings come from the DA-CLIP image encoder on the LQ (``clip_model.encode_image(img4clip,
control=True)``; the text encoder is not used at inference), the start state is
``LQ + max_sigma·noise`` and ``T`` posterior (or Euler-Maruyama) reverse steps run with the LQ as
the SDE mean. ``forward(lq, hq)`` returns the official training loss instead (see
:meth:`DACLIP.diffusion_loss`). The CLIP part is frozen, as in the official training, and runs
under fp16 autocast on a GPU as the official training and test do (:func:`encoder_autocast`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from ggt_hf.restorers.base import Restorer, RestorerCard
from ggt_hf.restorers.checkpoint_layouts import OFFICIAL_CHECKPOINTS
from ggt_hf.restorers.daclip.clip_daclip import DaCLIP, clip_preprocess
from ggt_hf.restorers.daclip.configuration_daclip import DACLIPConfig
from ggt_hf.restorers.daclip.sde_daclip import IRSDE
from ggt_hf.restorers.daclip.unet_daclip import ConditionalUNet


def encoder_autocast(device: torch.device, enabled: bool = True) -> dict:
    """``torch.autocast`` arguments of the DA-CLIP encoder on ``device``: fp16 on a CUDA device, as
    the official ``torch.cuda.amp.autocast()`` (``config/daclip-sde/train.py:254``, ``test.py:114``);
    off elsewhere (the official context does nothing on CPU), so CPU results stay float32."""
    return {"device_type": "cuda", "dtype": torch.float16, "enabled": enabled and device.type == "cuda"}


class DACLIP(Restorer):
    """DA-CLIP + IR-SDE universal restoration (see the module docstring).

    Tiled restoration (``ggt restore``, :func:`~ggt_hf.restorers.tiling.restore_image`) embeds the
    whole image once and every tile uses that embedding (:meth:`whole_image_context`), as the
    official test embeds the whole image.
    """

    config_class = DACLIPConfig
    #: ``forward(lq, hq)`` returns the model's own training objective (the trainer calls it)
    trains_with_own_objective = True
    card = RestorerCard(
        title="DA-CLIP (universal IR, IR-SDE)",
        paper="Controlling Vision-Language Models for Multi-Task Image Restoration (ICLR 2024)",
        paper_url="https://arxiv.org/abs/2310.01018",
        official_repo="https://github.com/Algolzw/daclip-uir",
        checkpoint_layout=OFFICIAL_CHECKPOINTS["daclip"].describe(),
        citation=(
            "@inproceedings{luo2024controlling,\n  title={Controlling Vision-Language Models for Multi-Task "
            "Image Restoration},\n  author={Luo, Ziwei and Gustafsson, Fredrik K. and Zhao, Zheng and "
            'Sj{\\"o}lund, Jens and Sch{\\"o}n, Thomas B.},\n  booktitle={ICLR},\n  year={2024}\n}'
        ),
        description=(
            "A CLIP ViT-B/32 with a degradation controller predicts degradation and content embeddings "
            "that condition a UNet sampled with a mean-reverting SDE (100 posterior steps by default)."
        ),
    )

    def __init__(self, config: DACLIPConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        self.daclip = DaCLIP(cfg)
        self.daclip.requires_grad_(False)
        self.unet = ConditionalUNet(
            cfg.in_nc, cfg.out_nc, cfg.nf, list(cfg.ch_mult), cfg.context_dim,
            cfg.use_degra_context, cfg.use_image_context,
        )  # fmt: skip
        #: the UNet pads to 2**depth itself (reflect); restore() pads first so tiny inputs work too
        self.size_multiple = 2 ** len(cfg.ch_mult)
        self.sde = IRSDE(cfg.max_sigma, cfg.sde_steps, cfg.schedule, cfg.eps)
        self._pinned_contexts: tuple[torch.Tensor, torch.Tensor] | None = None  # whole_image_context
        if cfg.sampling_mode not in ("posterior", "sde"):
            raise ValueError(f"sampling_mode must be 'posterior' or 'sde', got {cfg.sampling_mode!r}")

    def train(self, mode: bool = True):
        """The DA-CLIP encoder stays in eval mode (frozen, as officially)."""
        super().train(mode)
        self.daclip.eval()
        return self

    @contextmanager
    def whole_image_context(self, image: torch.Tensor) -> Iterator[None]:
        """Within: sampling uses ``image``'s DA-CLIP embeddings (a ``(1, 3, H, W)`` whole image, on
        any device: it is resized to the CLIP input where it lies) for any input, e.g. each tile."""
        device = next(self.parameters()).device
        self._pinned_contexts = self._encode(clip_preprocess(image, self.config.vision_image_size).to(device))
        try:
            yield
        finally:
            self._pinned_contexts = None

    def contexts(self, lq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(image_context, degradation_context)`` of a ``(N, 3, H, W)`` LQ batch in [0, 1]."""
        return self._encode(clip_preprocess(lq, self.config.vision_image_size))

    def _encode(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad(), torch.autocast(**encoder_autocast(pixels.device, self.config.clip_autocast)):
            image_context, degra_context = self.daclip.encode_image(pixels, control=True)
        return image_context.float(), degra_context.float()

    def _noise(self, state, t, mu, contexts):
        image_context, degra_context = contexts
        time = torch.full((state.shape[0],), float(t), device=state.device)
        return self.unet(state, mu, time, text_context=degra_context, image_context=image_context)

    def sample(self, lq: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The restored batch: ``T`` reverse IR-SDE steps from ``lq + max_sigma·noise``."""
        from ggt_hf.restorers.daclip.sde_daclip import randn_like

        pinned = self._pinned_contexts
        contexts = tuple(c.expand(lq.shape[0], *c.shape[1:]) for c in pinned) if pinned else self.contexts(lq)
        state = lq + randn_like(lq, generator) * self.sde.max_sigma
        for t in range(self.sde.T, 0, -1):
            noise = self._noise(state, t, lq, contexts)
            if self.config.sampling_mode == "posterior":
                state = self.sde.reverse_posterior_step(state, lq, noise, t, generator)
            else:
                score = self.sde.score_from_noise(noise, t)
                state = self.sde.reverse_sde_step(state, lq, score, t, generator)
        return state.clamp(0, 1)

    def diffusion_loss(self, lq: torch.Tensor, hq: torch.Tensor, generator=None) -> torch.Tensor:
        """The official objective (``DenoisingModel.optimize_parameters``, ``MatchingLoss('l1')``):
        L1 between the reverse-SDE mean from the predicted noise and the optimal x_{t-1}, for a
        random t in 1..T and x_t drawn around ``mu_bar(hq, t)``."""
        contexts = self.contexts(lq)
        t = torch.randint(1, self.sde.T + 1, (lq.shape[0],), generator=generator).to(lq.device)
        tb = t.view(-1, 1, 1, 1)
        state = self.sde.noisy_state(hq, lq, tb, generator)
        image_context, degra_context = contexts
        noise = self.unet(state, lq, t.float(), text_context=degra_context, image_context=image_context)
        score = self.sde.score_from_noise(noise, tb)
        expected = self.sde.reverse_sde_step_mean(state, lq, score, tb)
        optimum = self.sde.reverse_optimum_step(state, hq, lq, tb)
        return F.l1_loss(expected, optimum)

    def forward(self, lq: torch.Tensor, hq: torch.Tensor | None = None) -> torch.Tensor:
        """Restore ``lq`` (seeded by ``config.seed``), or with ``hq`` the training loss."""
        if hq is not None:
            return self.diffusion_loss(lq, hq)
        return self.sample(lq, torch.Generator().manual_seed(self.config.seed))
