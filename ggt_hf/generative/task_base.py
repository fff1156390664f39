"""The recipe and the shared half of the generative :class:`~ggt_hf.training.core.TrainTask` s.

A recipe (``training/recipes/{qwen_image_edit,flux_kontext,flux_controlnet}/*.yaml``)::

    model:      {family: qwen_image_edit, pretrained: Qwen/Qwen-Image-Edit, gradient_checkpointing: true}
    lora:       {rank: 64, alpha: 64, target_modules: [to_q, to_k, to_v, to_out.0]}   # edit LoRA
    controlnet: {num_layers: 4, num_single_layers: 10}                               # FLUX ControlNet
    data:       {ggt: [{path: ggt-100k}], baseline: [...], ratio: 1.0, resolution: 1024}
    cache:      {latents: true, text: true, folder: null}
    flow:       {weighting_scheme: none, shift: scheduler}
    validation: {max_images: 2, num_inference_steps: 28}
    train:      {max_steps: 2000, learning_rate: 1.0e-4, mixed_precision: bf16, ...}   # CoreConfig

:class:`GenerativeTask` loads the base pipeline (frozen; weights in bf16/fp16 under mixed precision),
turns batches into cached latents / text embeddings and computes the flow-matching loss of a
subclass's ``predict``; validation restores a few LQ images with the real pipeline (through
:class:`~ggt_hf.backends.diffusers_backend.DiffusersBackend`), logs LQ | restored | HQ to the
trackers and returns PSNR against the HQ.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ggt_hf.files.yaml_config import from_dict, load_yaml, to_dict
from ggt_hf.generative.caching import TensorCache, cache_key
from ggt_hf.generative.data import BucketDataConfig
from ggt_hf.generative.flow_matching import (
    FlowMatchingConfig,
    add_noise,
    flow_matching_loss,
    fresh_training_scheduler,
    sample_sigmas,
    velocity_target,
)
from ggt_hf.training.core import CoreConfig
from ggt_hf.training.data import SourceSpec, open_source

logger = logging.getLogger(__name__)


@dataclass
class BaseModelConfig:
    """The frozen base pipeline."""

    family: str = "qwen_image_edit"  # see ggt_hf.generative.components.FAMILIES
    pretrained: str = "Qwen/Qwen-Image-Edit"
    weight_dtype: str | None = None  # frozen weights; default: the mixed-precision dtype, else fp32
    gradient_checkpointing: bool = True
    max_sequence_length: int = 512
    guidance_scale: float = 1.0  # FLUX distilled-guidance embedding during training


@dataclass
class LoraSpec:
    """``peft.LoraConfig`` of the edit-model transformer."""

    rank: int = 64
    alpha: int = 64
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: ["to_q", "to_k", "to_v", "to_out.0"])
    init_lora_weights: str = "gaussian"


@dataclass
class ControlNetSpec:
    """``FluxControlNetModel`` trained from the base transformer (or from ``pretrained``)."""

    pretrained: str | None = None
    num_layers: int = 4
    num_single_layers: int = 10
    conditioning_scale: float = 1.0


@dataclass
class CacheConfig:
    """Frozen-encoder caching (see :mod:`ggt_hf.generative.caching`)."""

    latents: bool = True
    text: bool = True
    folder: str | None = None  # None: in memory
    precompute: bool = False  # encode every pair before the first step (sharded over processes)
    offload_encoders: bool = False  # then keep VAE + text encoder(s) on CPU (back on device to validate)


@dataclass
class GenValidationConfig:
    """A few held-out (or first training) LQ images restored with the pipeline during training."""

    path: str | None = None  # a SourceSpec path; None: the first training pairs
    split: str = "test"
    max_images: int = 2
    num_inference_steps: int = 28
    guidance: float | None = None  # true_cfg_scale (Qwen) / guidance_scale (FLUX)
    max_side: int = 1024
    seed: int = 0
    call_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class GenerativeRecipe:
    """A whole generative restorer run (see the module docstring)."""

    model: BaseModelConfig = field(default_factory=BaseModelConfig)
    lora: LoraSpec = field(default_factory=LoraSpec)
    controlnet: ControlNetSpec = field(default_factory=ControlNetSpec)
    data: BucketDataConfig = field(default_factory=BucketDataConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    flow: FlowMatchingConfig = field(default_factory=FlowMatchingConfig)
    validation: GenValidationConfig = field(default_factory=GenValidationConfig)
    train: CoreConfig = field(default_factory=CoreConfig)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] | None = None) -> GenerativeRecipe:
        """Load a recipe; ``overrides`` are ``section.key=value`` strings (YAML values)."""
        return from_dict(cls, load_yaml(path, overrides), str(path))

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


ENCODERS = ("vae", "text_encoder", "text_encoder_2")


def _pixels(images: torch.Tensor, device, dtype) -> torch.Tensor:
    """uint8 ``(B, H, W, 3)`` → ``(B, 3, H, W)`` in ``[-1, 1]`` (the pipelines' preprocessing)."""
    return (images.to(device).permute(0, 3, 1, 2).float() / 127.5 - 1.0).to(dtype)


class GenerativeTask:
    """Shared setup, caching, loss and validation; subclasses build the trainable part."""

    family_override: str | None = None

    def __init__(self, recipe: GenerativeRecipe) -> None:
        self.recipe = recipe
        self.pipe = None
        self.adapter = None
        self.wrapped = None
        self.latent_cache = TensorCache(recipe.cache.folder and Path(recipe.cache.folder) / "latents")
        self.text_cache = TensorCache(recipe.cache.folder and Path(recipe.cache.folder) / "text")
        self._val_pairs = None

    # -- setup ------------------------------------------------------------------------------------
    def weight_dtype(self, accelerator) -> torch.dtype:
        from ggt_hf.imaging.tensors import resolve_dtype

        if self.recipe.model.weight_dtype:
            return resolve_dtype(self.recipe.model.weight_dtype)
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(accelerator.mixed_precision, torch.float32)

    def setup(self, accelerator) -> None:
        from ggt_hf.generative.components import load_pipeline
        from ggt_hf.generative.families import make_adapter

        spec = self.recipe.model
        self.device, self.dtype = accelerator.device, self.weight_dtype(accelerator)
        self.pipe = load_pipeline(spec.pretrained, spec.family, dtype=self.dtype, device=str(self.device))
        for name, component in self.pipe.components.items():
            if isinstance(component, torch.nn.Module):
                component.requires_grad_(False)
                component.eval()
                logger.debug("froze %s", name)
        self.adapter = make_adapter(spec.family, self.pipe, spec.max_sequence_length)
        self.scheduler = fresh_training_scheduler(self.pipe.scheduler)
        self.build_trainable(accelerator)

    def build_trainable(self, accelerator) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for m in self.modules_to_prepare() for p in m.parameters() if p.requires_grad]

    def modules_to_prepare(self) -> list[torch.nn.Module]:  # pragma: no cover - abstract
        raise NotImplementedError

    def on_prepared(self, modules: list[torch.nn.Module]) -> None:
        self.wrapped = modules[0]

    # -- encoders (cached) ------------------------------------------------------------------------
    def latents(self, batch: dict[str, Any], side: str) -> torch.Tensor:
        """VAE latents of ``batch[side]`` (``"lq"`` / ``"hq"``), per pair from the cache when enabled."""
        dev = self.pipe.vae.device  # the accelerator, or CPU after offload_encoders
        if not self.recipe.cache.latents:
            return self.adapter.encode_image(_pixels(batch[side], dev, self.dtype)).to(self.device)

        def encode(i: int) -> dict[str, torch.Tensor]:
            return {"z": self.adapter.encode_image(_pixels(batch[side][i : i + 1], dev, self.dtype))[0]}

        out = []
        for i, pair_id in enumerate(batch["id"]):
            origin = (batch["source"][i], batch["category"][i], pair_id)  # ids are unique per source only
            key = cache_key(self.recipe.model.pretrained, *origin, tuple(batch["bucket"]), side)
            found = self.latent_cache.get_or_compute(key, lambda i=i: encode(i))
            out.append(found["z"].to(self.device, self.dtype))
        return torch.stack(out)

    def text(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Text conditioning of ``batch`` (per prompt, or per pair for image-aware text encoders)."""
        items = []
        for i, prompt in enumerate(batch["prompt"]):
            lq = batch["lq"][i].numpy()

            def compute(prompt=prompt, lq=lq):
                return self.adapter.encode_text(prompt, lq, self.pipe.text_encoder.device)

            if not self.recipe.cache.text:
                items.append({k: v.to(self.device) for k, v in compute().items()})
                continue
            per_pair = (
                (batch["source"][i], batch["category"][i], batch["id"][i], tuple(batch["bucket"]))
                if self.adapter.text_per_pair
                else ()
            )
            key = cache_key(
                self.recipe.model.pretrained, prompt, self.recipe.model.max_sequence_length, *per_pair
            )
            found = self.text_cache.get_or_compute(key, compute)
            items.append({k: v.to(self.device, self.dtype) for k, v in found.items()})
        return self.adapter.collate_text(items)

    def precompute(self, dataset, accelerator) -> None:
        """Fill the caches for every pair of ``dataset`` (this process's share), then — with
        ``cache.offload_encoders`` — move the VAE and text encoder(s) to CPU for the training steps."""
        cfg = self.recipe.cache
        if not (cfg.latents and cfg.text):
            raise ValueError("cache.precompute needs cache.latents and cache.text")
        if accelerator.num_processes > 1 and not cfg.folder:
            raise ValueError(
                "cache.precompute with several processes needs cache.folder (a shared disk cache)"
            )
        from tqdm.auto import tqdm

        pairs = dataset.every_pair(accelerator.process_index, accelerator.num_processes)
        for batch in tqdm(
            pairs, desc="caching latents + text", disable=not accelerator.is_local_main_process
        ):
            self.latents(batch, "hq")
            self.latents(batch, "lq")
            self.text(batch)
        accelerator.wait_for_everyone()
        if cfg.offload_encoders:
            self.move_encoders("cpu")

    def move_encoders(self, device) -> None:
        """Move the frozen VAE and text encoder(s) to ``device``."""
        for name in ENCODERS:
            component = getattr(self.pipe, name, None)
            if isinstance(component, torch.nn.Module):
                component.to(device)

    # -- loss -------------------------------------------------------------------------------------
    def predict(self, noisy, cond, sigmas, text) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def training_step(self, batch: dict[str, Any], accelerator) -> tuple[torch.Tensor, dict[str, float]]:
        target_latents = self.latents(batch, "hq")
        cond_latents = self.latents(batch, "lq")
        text = self.text(batch)
        b, _, h, w = target_latents.shape
        sigmas = sample_sigmas(
            self.scheduler, b, self.recipe.flow, image_seq_len=(h // 2) * (w // 2), device=self.device
        )
        noise = torch.randn_like(target_latents)
        noisy = add_noise(target_latents, noise, sigmas)
        pred = self.predict(noisy, cond_latents, sigmas, text)
        loss = flow_matching_loss(
            pred, velocity_target(target_latents, noise), sigmas, self.recipe.flow.weighting_scheme
        )
        logs = {
            "sigma": float(sigmas.mean()),
            "bucket_pixels": float(batch["bucket"][0] * batch["bucket"][1]),
        }
        if self.recipe.cache.latents:
            logs["cache/latent_hits"] = float(self.latent_cache.hits)
        return loss, logs

    # -- validation -------------------------------------------------------------------------------
    def validation_pairs(self) -> list:
        """The pairs restored at each validation (loaded once)."""
        if self._val_pairs is None:
            cfg = self.recipe.validation
            spec = SourceSpec(path=cfg.path, split=cfg.split) if cfg.path else self.recipe.data.ggt[0]
            source = open_source(spec)
            self._val_pairs = [source[i] for i in range(min(cfg.max_images, len(source)))]
        return self._val_pairs

    def inference_pipeline(self, accelerator):
        """The pipeline that restores validation images with the current trainable weights."""
        return self.pipe

    def validate(self, accelerator, step: int, ema_module) -> dict[str, float]:
        """PSNR of restored validation LQs against their HQ; LQ|restored|HQ images to tensorboard."""
        cfg = self.recipe.validation
        if not accelerator.is_main_process or cfg.max_images <= 0:
            return {}
        from PIL import Image

        from ggt_hf.backends.base import RestoreRequest
        from ggt_hf.backends.diffusers_backend import DiffusersBackend

        fixed = self.recipe.data.fixed_prompt
        if self.recipe.cache.offload_encoders:
            self.move_encoders(self.device)
        module = accelerator.unwrap_model(self.wrapped)
        was_training = module.training
        module.eval()
        backend = DiffusersBackend(
            self.recipe.model.pretrained,
            pipeline=self.inference_pipeline(accelerator),
            num_inference_steps=cfg.num_inference_steps,
            guidance=cfg.guidance,
            max_side=cfg.max_side,
            device=str(self.device),
            call_kwargs=cfg.call_kwargs,
        )
        psnrs, shown = [], []
        for pair in self.validation_pairs():
            prompt = pair.prompt if self.recipe.data.prompt == "pair" and pair.prompt else fixed
            with torch.no_grad():
                result = backend.restore(RestoreRequest(Image.fromarray(pair.lq), prompt, cfg.seed, pair.id))
            restored = np.asarray(result.image.resize(pair.hq.shape[1::-1]))
            mse = np.mean((restored.astype(np.float64) - pair.hq.astype(np.float64)) ** 2)
            psnrs.append(10 * np.log10(255.0**2 / max(mse, 1e-10)))
            shown.append(np.concatenate([pair.lq, restored, pair.hq], axis=1))
        module.train(was_training)
        if self.recipe.cache.offload_encoders:
            self.move_encoders("cpu")
        for tracker in accelerator.trackers:
            if tracker.name == "tensorboard":
                tracker.log_images(
                    {f"val/lq|restored|hq_{i}": im for i, im in enumerate(shown)}, step, dataformats="HWC"
                )
        return {"psnr": float(np.mean(psnrs))} if psnrs else {}

    def run_config(self) -> dict[str, Any]:
        return self.recipe.to_dict()
