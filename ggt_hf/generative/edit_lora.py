"""LoRA fine-tuning of instruction-editing transformers (Qwen-Image-Edit(-Plus), FLUX.1 Kontext) on
GGT pairs — the :class:`~ggt_hf.training.core.TrainTask` behind ``training/train_edit_lora.py``.

The LQ photo is the conditioning image, the HQ image the target, the pair's prompt (or the fixed
restoration prompt) the instruction. ``peft`` LoRA adapters (recipe ``lora``: rank, alpha, target
modules) are added to the frozen transformer with ``transformer.add_adapter`` (diffusers'
``PeftAdapterMixin``); only they train, in fp32 even when the frozen weights are bf16
(``cast_training_params``, as diffusers' trainers do).

Checkpoints hold the *LoRA* weights only: accelerate's save/load-state hooks write/read them with the
pipeline's ``save_lora_weights`` / ``lora_state_dict`` (a full-transformer checkpoint of a 20 B model
would be ~40 GB), while optimizer, scheduler, RNG and loop state are saved by the core as usual. The
final folder is a LoRA repo that ``pipe.load_lora_weights(folder)`` accepts (with the adapter
config as safetensors metadata, so rank/alpha round-trip), plus a model card.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from ggt_hf.generative.task_base import GenerativeRecipe, GenerativeTask

logger = logging.getLogger(__name__)

EDIT_FAMILIES = ("qwen_image_edit", "qwen_image_edit_plus", "flux_kontext")


class EditLoraTask(GenerativeTask):
    """LoRA on the transformer of an edit pipeline (see the module docstring)."""

    def __init__(self, recipe: GenerativeRecipe) -> None:
        if recipe.model.family not in EDIT_FAMILIES:
            raise ValueError(f"edit LoRA needs a family in {EDIT_FAMILIES}, got {recipe.model.family!r}")
        if recipe.train.ema_decay:
            # the core's EMA copies the whole prepared module: a second 20 B transformer for a LoRA
            raise ValueError(
                "train.ema_decay is not supported for LoRA training (it would copy the transformer)"
            )
        super().__init__(recipe)

    def build_trainable(self, accelerator) -> None:
        from diffusers.training_utils import cast_training_params
        from peft import LoraConfig

        spec = self.recipe.lora
        transformer = self.pipe.transformer
        transformer.add_adapter(
            LoraConfig(
                r=spec.rank,
                lora_alpha=spec.alpha,
                lora_dropout=spec.dropout,
                init_lora_weights=spec.init_lora_weights,
                target_modules=spec.target_modules,
            )
        )
        if self.recipe.model.gradient_checkpointing:
            transformer.enable_gradient_checkpointing()
        cast_training_params(transformer, dtype=torch.float32)
        transformer.train()
        n = sum(p.numel() for p in transformer.parameters() if p.requires_grad)
        logger.info(
            "LoRA r=%d alpha=%d on %s: %s trainable parameters",
            spec.rank,
            spec.alpha,
            spec.target_modules,
            f"{n:,}",
        )
        self._register_checkpoint_hooks(accelerator)

    def modules_to_prepare(self) -> list[torch.nn.Module]:
        return [self.pipe.transformer]

    def predict(self, noisy, cond, sigmas, text) -> torch.Tensor:
        return self.adapter.predict(self.wrapped, noisy, cond, sigmas, text, self.recipe.model.guidance_scale)

    # -- LoRA weights -----------------------------------------------------------------------------
    def lora_state(self, transformer) -> tuple[dict[str, torch.Tensor], dict]:
        from peft.utils import get_peft_model_state_dict

        return get_peft_model_state_dict(transformer), transformer.peft_config["default"].to_dict()

    def write_lora(self, folder: str | Path, transformer) -> None:
        """``<Pipeline>.save_lora_weights`` of ``transformer``'s adapter into ``folder``."""
        layers, config = self.lora_state(transformer)
        type(self.pipe).save_lora_weights(
            folder, transformer_lora_layers=layers, transformer_lora_adapter_metadata=config
        )

    def _register_checkpoint_hooks(self, accelerator) -> None:
        from diffusers.utils import convert_unet_state_dict_to_peft
        from peft.utils import set_peft_model_state_dict

        base = type(self.pipe.transformer)

        def save_hook(models, weights, output_dir):
            if accelerator.is_main_process:
                for model in models:
                    if isinstance(accelerator.unwrap_model(model), base):
                        self.write_lora(output_dir, accelerator.unwrap_model(model))
                while weights:  # accelerate must not also save the full transformer
                    weights.pop()

        def load_hook(models, input_dir):
            while models:
                model = accelerator.unwrap_model(models.pop())
                if not isinstance(model, base):
                    raise ValueError(f"unexpected model in the checkpoint: {type(model).__name__}")
                state = type(self.pipe).lora_state_dict(input_dir)
                state = state[0] if isinstance(state, tuple) else state
                state = {
                    k.removeprefix("transformer."): v
                    for k, v in state.items()
                    if k.startswith("transformer.")
                }
                incompatible = set_peft_model_state_dict(
                    model, convert_unet_state_dict_to_peft(state), "default"
                )
                unexpected = getattr(incompatible, "unexpected_keys", None)
                if unexpected:
                    raise ValueError(f"checkpoint {input_dir}: unexpected LoRA keys {unexpected[:5]}")
                from diffusers.training_utils import cast_training_params

                cast_training_params(model, dtype=torch.float32)

        accelerator.register_save_state_pre_hook(save_hook)
        accelerator.register_load_state_pre_hook(load_hook)

    def save_pretrained(self, out_dir: Path, accelerator, ema_module) -> None:
        self.write_lora(out_dir, accelerator.unwrap_model(self.wrapped))

    def model_card(self, out_dir: Path, results: dict[str, float]) -> str:
        from ggt_hf.generative.card import generative_card_content
        from ggt_hf.generative.components import FAMILIES
        from ggt_hf.training.model_card import render_model_card, trained_model_id

        spec, model = self.recipe.lora, self.recipe.model
        repo = trained_model_id(self.recipe, out_dir)
        usage = (
            f"from diffusers import {FAMILIES[model.family]}\n\n"
            f'pipe = {FAMILIES[model.family]}.from_pretrained("{model.pretrained}")\n'
            f'pipe.load_lora_weights("{repo}")\n'
            "restored = pipe(image=lq_image, prompt=prompt).images[0]"
        )
        content = generative_card_content(
            self.recipe,
            model_id=repo,
            kind="LoRA adapter",
            usage=usage,
            backend_args=f'lora="{repo}"',
            restore_model=f"diffusers:{model.pretrained}+{repo}",
            extra=[
                ("LoRA", f"rank {spec.rank}, alpha {spec.alpha}, targets {', '.join(spec.target_modules)}")
            ],
        )
        return render_model_card(self.recipe, results, content)
