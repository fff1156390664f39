"""FLUX ControlNet training with the LQ photo as the control image — the
:class:`~ggt_hf.training.core.TrainTask` behind ``training/train_controlnet_flux.py``.

As diffusers' ``examples/controlnet/train_controlnet_flux.py``: the ControlNet is initialised from the
frozen FLUX transformer (``FluxControlNetModel.from_transformer`` with ``controlnet.num_layers`` /
``num_single_layers`` blocks and the transformer's weights) or loaded from ``controlnet.pretrained``;
the control image is VAE-encoded and packed like the latents (so ``input_hint_block`` is unused and
``controlnet_blocks_repeat`` is false); the ControlNet's block residuals are added to the frozen
transformer, whose prediction gets the flow-matching loss. Only the ControlNet trains (all of it).

The final folder is ``FluxControlNetModel.save_pretrained`` (safetensors), loadable with
``FluxControlNetModel.from_pretrained`` into a ``FluxControlNetPipeline`` — which the ``diffusers``
backend does when given ``controlnet=<folder or repo>``. With ``train.ema_decay`` the core keeps an EMA
of the ControlNet and the final folder holds the EMA weights.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from ggt_hf.generative.task_base import GenerativeRecipe, GenerativeTask

logger = logging.getLogger(__name__)


class ControlNetFluxTask(GenerativeTask):
    """Train a ``FluxControlNetModel`` on a frozen FLUX base (see the module docstring)."""

    def __init__(self, recipe: GenerativeRecipe) -> None:
        if recipe.model.family != "flux":
            raise ValueError(
                f"FLUX ControlNet training needs model.family 'flux', got {recipe.model.family!r}"
            )
        super().__init__(recipe)
        self.controlnet = None

    def build_trainable(self, accelerator) -> None:
        from diffusers import FluxControlNetModel

        spec = self.recipe.controlnet
        transformer = self.pipe.transformer
        if spec.pretrained:
            controlnet = FluxControlNetModel.from_pretrained(spec.pretrained)
        else:
            cfg = transformer.config
            controlnet = FluxControlNetModel.from_transformer(
                transformer,
                num_layers=spec.num_layers,
                num_single_layers=spec.num_single_layers,
                attention_head_dim=cfg.attention_head_dim,
                num_attention_heads=cfg.num_attention_heads,
            )
        controlnet.to(self.device, torch.float32)
        controlnet.train()
        if self.recipe.model.gradient_checkpointing:
            controlnet.enable_gradient_checkpointing()
            transformer.enable_gradient_checkpointing()
        self.controlnet = controlnet
        n = sum(p.numel() for p in controlnet.parameters())
        logger.info(
            "ControlNet (%d + %d blocks): %s trainable parameters",
            spec.num_layers,
            spec.num_single_layers,
            f"{n:,}",
        )

    def modules_to_prepare(self) -> list[torch.nn.Module]:
        return [self.controlnet]

    def predict(self, noisy, cond, sigmas, text) -> torch.Tensor:
        adapter, pipe = self.adapter, self.pipe
        b, c, h, w = noisy.shape
        packed = pipe._pack_latents(noisy, b, c, h, w)
        control = pipe._pack_latents(cond, b, c, h, w)
        ids = adapter._ids(b, h, w, noisy.device, noisy.dtype)
        guidance = adapter._guidance(pipe.transformer, b, noisy.device, self.recipe.model.guidance_scale)
        common = {
            "timestep": sigmas.to(noisy.dtype),
            "guidance": guidance,
            "pooled_projections": text["pooled_prompt_embeds"].to(noisy.dtype),
            "encoder_hidden_states": text["prompt_embeds"].to(noisy.dtype),
            "txt_ids": text["text_ids"].to(noisy.dtype),
            "img_ids": ids,
            "return_dict": False,
        }
        # the ControlNet trains in fp32 (the frozen transformer may be bf16): its inputs follow it
        as_fp32 = {
            k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in common.items()
        }
        block, single = self.wrapped(
            hidden_states=packed.float(),
            controlnet_cond=control.float(),
            conditioning_scale=self.recipe.controlnet.conditioning_scale,
            **as_fp32,
        )
        out = pipe.transformer(
            hidden_states=packed,
            controlnet_block_samples=[s.to(noisy.dtype) for s in block] if block is not None else None,
            controlnet_single_block_samples=[s.to(noisy.dtype) for s in single]
            if single is not None
            else None,
            controlnet_blocks_repeat=False,
            **common,
        )[0]
        return adapter._unpack(out, h, w)

    def inference_pipeline(self, accelerator):
        from diffusers import FluxControlNetPipeline

        controlnet = accelerator.unwrap_model(self.wrapped)
        pipe = FluxControlNetPipeline(**self.pipe.components, controlnet=controlnet)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def save_pretrained(self, out_dir: Path, accelerator, ema_module) -> None:
        model = ema_module.module if ema_module is not None else accelerator.unwrap_model(self.wrapped)
        model.save_pretrained(out_dir, safe_serialization=True)

    def model_card(self, out_dir: Path, results: dict[str, float]) -> str:
        from ggt_hf.generative.card import generative_card_content
        from ggt_hf.training.model_card import render_model_card, trained_model_id

        spec, model = self.recipe.controlnet, self.recipe.model
        repo = trained_model_id(self.recipe, out_dir)
        usage = (
            "from diffusers import FluxControlNetModel, FluxControlNetPipeline\n\n"
            f'controlnet = FluxControlNetModel.from_pretrained("{repo}")\n'
            f'pipe = FluxControlNetPipeline.from_pretrained("{model.pretrained}", controlnet=controlnet)\n'
            "restored = pipe(prompt=prompt, control_image=lq_image).images[0]"
        )
        content = generative_card_content(
            self.recipe,
            model_id=repo,
            kind="ControlNet",
            usage=usage,
            backend_args=f'controlnet="{repo}"',
            restore_model=f"diffusers:{model.pretrained} --controlnet {repo}",
            extra=[("ControlNet blocks", f"{spec.num_layers} double + {spec.num_single_layers} single")],
        )
        return render_model_card(self.recipe, results, content)
