"""Per-family glue between GGT batches and a diffusers pipeline's transformer.

Each adapter uses the pipeline's *own* methods — ``encode_prompt``, ``_encode_vae_image`` (VAE mode +
the family's latent normalisation), ``_pack_latents`` / ``_unpack_latents``,
``_prepare_latent_image_ids`` — so training sees exactly the tensors inference builds. What differs:

* **Qwen-Image-Edit**: the text encoder is the Qwen2.5-VL model and it *sees the LQ image* (the
  pipeline feeds the resized condition image to ``encode_prompt``), so text embeddings are cached
  per pair; condition latents are appended to the noisy latents and described by ``img_shapes``.
  **-Plus** (2509) feeds the VL model a 384²-area copy of the condition image (its
  ``CONDITION_IMAGE_SIZE``). The VAE is the 3-D ``AutoencoderKLQwenImage`` (a frame axis of 1).
* **FLUX.1 Kontext**: CLIP + T5 text (cached per prompt string), condition latents appended with
  position ids whose first axis is 1, distilled ``guidance`` embedding.

Text outputs are dicts of tensors of *one* sample (batch axis dropped) so they cache per pair/prompt;
:meth:`collate_text` pads and stacks them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image


def _pad_stack(seqs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad ``(L_i, D)`` tensors to ``(B, L, D)`` plus a ``(B, L)`` long mask."""
    longest = max(s.shape[0] for s in seqs)
    out = seqs[0].new_zeros(len(seqs), longest, seqs[0].shape[1])
    mask = torch.zeros(len(seqs), longest, dtype=torch.long, device=seqs[0].device)
    for i, s in enumerate(seqs):
        out[i, : s.shape[0]] = s
        mask[i, : s.shape[0]] = 1
    return out, mask


class QwenEditAdapter:
    """Qwen-Image-Edit / Qwen-Image-Edit-Plus (see the module docstring)."""

    text_per_pair = True  # the VL text encoder sees the LQ image

    def __init__(self, pipe, plus: bool = False, max_sequence_length: int = 1024) -> None:
        self.pipe, self.plus, self.max_sequence_length = pipe, plus, max_sequence_length

    def _vl_image(self, image: np.ndarray) -> Image.Image:
        img = Image.fromarray(image)
        if not self.plus:
            return img  # the pipeline hands its resized condition image (= our bucket) to the VL model
        from diffusers.pipelines.qwenimage.pipeline_qwenimage_edit_plus import (
            CONDITION_IMAGE_SIZE,
            calculate_dimensions,
        )

        w, h = calculate_dimensions(CONDITION_IMAGE_SIZE, img.width / img.height)
        return self.pipe.image_processor.resize(img, h, w)

    @torch.no_grad()
    def encode_text(self, prompt: str, lq: np.ndarray, device) -> dict[str, torch.Tensor]:
        image = self._vl_image(lq)
        embeds, mask = self.pipe.encode_prompt(
            prompt=[prompt],
            image=[image] if self.plus else image,
            device=device,
            max_sequence_length=self.max_sequence_length,
        )
        if mask is not None:
            embeds = embeds[:, : int(mask[0].sum())]
        return {"prompt_embeds": embeds[0]}

    def collate_text(self, items: list[dict[str, torch.Tensor]]) -> dict[str, Any]:
        embeds, mask = _pad_stack([t["prompt_embeds"] for t in items])
        return {"prompt_embeds": embeds, "prompt_embeds_mask": None if bool(mask.all()) else mask}

    @torch.no_grad()
    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` in ``[-1, 1]`` → normalised latents ``(B, C, H/8, W/8)``."""
        return self.pipe._encode_vae_image(pixels.unsqueeze(2), generator=None).squeeze(2)

    def predict(self, transformer, noisy, cond, sigmas, text, guidance_scale=None) -> torch.Tensor:
        b, c, h, w = noisy.shape
        packed = self.pipe._pack_latents(noisy, b, c, h, w)
        hidden = torch.cat([packed, self.pipe._pack_latents(cond, b, c, h, w)], dim=1)
        guidance = None
        if transformer_config(transformer).guidance_embeds:
            guidance = torch.full((b,), float(guidance_scale or 1.0), device=noisy.device)
        out = transformer(
            hidden_states=hidden,
            timestep=sigmas.to(noisy.dtype),
            guidance=guidance,
            encoder_hidden_states=text["prompt_embeds"].to(noisy.dtype),
            encoder_hidden_states_mask=text["prompt_embeds_mask"],
            img_shapes=[[(1, h // 2, w // 2), (1, h // 2, w // 2)]] * b,
            return_dict=False,
        )[0][:, : packed.shape[1]]
        vsf = self.pipe.vae_scale_factor
        return self.pipe._unpack_latents(out, h * vsf, w * vsf, vsf).squeeze(2)


class FluxTextMixin:
    """CLIP + T5 prompt encoding of the FLUX pipelines (per prompt string)."""

    text_per_pair = False

    def __init__(self, pipe, max_sequence_length: int = 512) -> None:
        self.pipe, self.max_sequence_length = pipe, max_sequence_length

    @torch.no_grad()
    def encode_text(self, prompt: str, lq: np.ndarray | None, device) -> dict[str, torch.Tensor]:
        embeds, pooled, _ = self.pipe.encode_prompt(
            prompt=[prompt], prompt_2=None, device=device, max_sequence_length=self.max_sequence_length
        )
        return {"prompt_embeds": embeds[0], "pooled_prompt_embeds": pooled[0]}

    def collate_text(self, items: list[dict[str, torch.Tensor]]) -> dict[str, Any]:
        embeds = torch.stack([t["prompt_embeds"] for t in items])  # T5 pads to max_sequence_length
        pooled = torch.stack([t["pooled_prompt_embeds"] for t in items])
        text_ids = torch.zeros(embeds.shape[1], 3, device=embeds.device, dtype=embeds.dtype)
        return {"prompt_embeds": embeds, "pooled_prompt_embeds": pooled, "text_ids": text_ids}

    @torch.no_grad()
    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` in ``[-1, 1]`` → ``(latent − shift) · scale``, ``(B, C, H/8, W/8)``.

        Kontext's own ``_encode_vae_image``; plain ``FluxPipeline`` (ControlNet base) has none, so the
        same two lines (``FluxControlNetPipeline`` encodes its control image the same way, sampling
        the posterior where we take its mode so cached latents are deterministic)."""
        if hasattr(self.pipe, "_encode_vae_image"):
            return self.pipe._encode_vae_image(pixels, generator=None)
        from diffusers.pipelines.flux.pipeline_flux_kontext import retrieve_latents

        vae = self.pipe.vae
        latents = retrieve_latents(vae.encode(pixels), sample_mode="argmax")
        return (latents - vae.config.shift_factor) * vae.config.scaling_factor

    def _ids(self, b: int, h: int, w: int, device, dtype, first: float = 0.0) -> torch.Tensor:
        ids = self.pipe._prepare_latent_image_ids(b, h // 2, w // 2, device, dtype)
        ids[..., 0] = first
        return ids

    def _guidance(self, module, b: int, device, guidance_scale) -> torch.Tensor | None:
        if not transformer_config(module).guidance_embeds:
            return None
        return torch.full((b,), float(guidance_scale or 1.0), device=device, dtype=torch.float32)

    def _unpack(self, out: torch.Tensor, h: int, w: int) -> torch.Tensor:
        vsf = self.pipe.vae_scale_factor
        return self.pipe._unpack_latents(out, h * vsf, w * vsf, vsf)


class FluxKontextAdapter(FluxTextMixin):
    """FLUX.1 Kontext (see the module docstring)."""

    def predict(self, transformer, noisy, cond, sigmas, text, guidance_scale=None) -> torch.Tensor:
        b, c, h, w = noisy.shape
        packed = self.pipe._pack_latents(noisy, b, c, h, w)
        hidden = torch.cat([packed, self.pipe._pack_latents(cond, b, c, h, w)], dim=1)
        ids = torch.cat(
            [
                self._ids(b, h, w, noisy.device, noisy.dtype),
                self._ids(b, h, w, noisy.device, noisy.dtype, 1.0),
            ]
        )
        out = transformer(
            hidden_states=hidden,
            timestep=sigmas.to(noisy.dtype),
            guidance=self._guidance(transformer, b, noisy.device, guidance_scale),
            pooled_projections=text["pooled_prompt_embeds"].to(noisy.dtype),
            encoder_hidden_states=text["prompt_embeds"].to(noisy.dtype),
            txt_ids=text["text_ids"].to(noisy.dtype),
            img_ids=ids,
            return_dict=False,
        )[0][:, : packed.shape[1]]
        return self._unpack(out, h, w)


def transformer_config(module):
    """The diffusers config of a (possibly DDP/compile-wrapped) model."""
    while not hasattr(module, "config") and hasattr(module, "module"):
        module = module.module
    return module.config


def make_adapter(family: str, pipe, max_sequence_length: int):
    """The adapter of ``family`` around ``pipe``."""
    if family in ("qwen_image_edit", "qwen_image_edit_plus"):
        return QwenEditAdapter(pipe, plus=family.endswith("plus"), max_sequence_length=max_sequence_length)
    if family == "flux_kontext":
        return FluxKontextAdapter(pipe, max_sequence_length)
    if family == "flux":
        return FluxTextMixin(pipe, max_sequence_length)
    raise ValueError(f"no training adapter for family {family!r}")
