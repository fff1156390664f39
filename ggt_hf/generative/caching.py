"""Caches of frozen-encoder outputs (VAE latents, text embeddings) for generative training.

The VAE and the text encoder(s) are frozen, and bucketing makes every pair's input deterministic
(whole image, fixed bucket), so their outputs are computed once per ``(pair, bucket)`` / prompt and
reused every epoch. :class:`TensorCache` keeps them in memory, or — with a ``folder`` — as one
``safetensors`` file per key (written atomically: temp file + rename), shared by all processes of a
run and by later runs (keys include the base model, so a different model never hits).

:func:`cache_bytes_per_pair` estimates the disk a full run's cache needs (``ggt train-plan`` prints
it): Qwen-Image-Edit's image-aware text encoder makes the text embeddings per pair — about 1,400
tokens × 3584 × 2 bytes ≈ 10 MB at 1024² — far more than its two latents (2 × 16 × 128² × 2 bytes
= 1 MB); the -Plus pipeline shows the VL model a 384² copy (about 250 tokens).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

logger = logging.getLogger(__name__)


def cache_key(*parts: object) -> str:
    """A stable file-name-safe key of ``parts`` (sha1 of their ``repr``)."""
    return hashlib.sha1(repr(parts).encode()).hexdigest()


class TensorCache:
    """``key → {name: tensor}``, in memory or on disk (see the module docstring).

    Tensors are stored on CPU (detached); :meth:`get` returns them on CPU.
    """

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder else None
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
        self._memory: dict[str, dict[str, torch.Tensor]] = {}
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        assert self.folder is not None
        return self.folder / key[:2] / f"{key}.safetensors"

    def __contains__(self, key: str) -> bool:
        if self.folder is None:
            return key in self._memory
        return self._path(key).is_file()

    def get(self, key: str) -> dict[str, torch.Tensor] | None:
        """The stored tensors of ``key`` or ``None``."""
        if self.folder is None:
            found = self._memory.get(key)
        else:
            from safetensors.torch import load_file

            path = self._path(key)
            found = load_file(path) if path.is_file() else None
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, key: str, tensors: dict[str, torch.Tensor]) -> None:
        """Store ``tensors`` (moved to CPU, contiguous) under ``key``."""
        cpu = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
        if self.folder is None:
            self._memory[key] = cpu
            return
        from safetensors.torch import save_file

        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        try:
            save_file(cpu, tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def get_or_compute(self, key: str, compute) -> dict[str, torch.Tensor]:
        """``get(key)``, or ``compute()`` stored then returned (as computed, on its device)."""
        found = self.get(key)
        if found is not None:
            return found
        value = compute()
        self.put(key, value)
        return value

    def __len__(self) -> int:
        if self.folder is None:
            return len(self._memory)
        return sum(1 for _ in self.folder.glob("*/*.safetensors"))


@dataclass(frozen=True)
class CacheDims:
    """The tensor sizes that decide a family's cache bytes per pair.

    Attributes:
        latent_channels, vae_factor: VAE latents are ``latent_channels × (side / vae_factor)²``.
        text_hidden: width of the cached text embeddings.
        text_tokens: tokens of a text-only prompt (T5 pads every prompt to this length).
        vl_factor: image-aware encoders (Qwen2.5-VL) add one token per ``vl_factor²`` pixels of the
            condition image after the processor's ``smart_resize`` (patch 14 × 2×2 merge = 28); 0 for
            text-only encoders.
        vl_side: side of the image the VL encoder sees (``None``: the bucket side; -Plus: 384).
        pooled: extra pooled-embedding width per prompt (FLUX's CLIP: 768).
        bytes_per_value: 2 for the bf16 caches the recipes write.
    """

    latent_channels: int
    vae_factor: int
    text_hidden: int
    text_tokens: int
    vl_factor: int = 0
    vl_side: int | None = None
    pooled: int = 0
    bytes_per_value: int = 2


#: Dimensions of the released models (from their configs): Qwen2.5-VL-7B hidden 3584, patch 14 with
#: 2×2 merge; FLUX.1 T5-XXL 4096 × 512 tokens + CLIP pooled 768; both VAEs 16 channels at 1/8.
#: ``text_tokens`` of Qwen is the prompt-template tail and an adaptive prompt (about 64 tokens, an
#: estimate: the real tokenizer is not available offline); its VL tokens are counted exactly.
FAMILY_CACHE_DIMS: dict[str, CacheDims] = {
    "qwen_image_edit": CacheDims(16, 8, 3584, 64, vl_factor=28),
    "qwen_image_edit_plus": CacheDims(16, 8, 3584, 64, vl_factor=28, vl_side=384),
    "flux_kontext": CacheDims(16, 8, 4096, 512, pooled=768),
    "flux": CacheDims(16, 8, 4096, 512, pooled=768),
}


#: ``max_pixels`` of the released Qwen2.5-VL processors (``preprocessor_config.json``: 16384 · 28²;
#: transformers' bare ``Qwen2VLImageProcessor()`` defaults to 1280 · 28², which would undercount).
QWEN_VL_MAX_PIXELS = 12_845_056


def vl_image_tokens(side: int, factor: int = 28, max_pixels: int = QWEN_VL_MAX_PIXELS) -> int:
    """Tokens Qwen2-VL's image processor makes of a ``side``² image: ``smart_resize`` rounds each
    side to a multiple of ``factor`` (within its pixel bounds), one token per ``factor``² block."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    height, width = smart_resize(side, side, factor=factor, max_pixels=max_pixels)
    return (height // factor) * (width // factor)


def cache_bytes_per_pair(recipe, dims: CacheDims | None = None) -> int | None:
    """Estimated cache bytes of one square-bucket pair of ``recipe`` (LQ + HQ latents, and its text
    embeddings when they are per pair — image-aware encoders or ``data.prompt: pair``); ``None``
    when the recipe caches nothing on disk."""
    cache = recipe.cache
    if not cache.folder or not (cache.latents or cache.text):
        return None
    dims = dims or FAMILY_CACHE_DIMS.get(recipe.model.family)
    if dims is None:
        return None
    side = recipe.data.resolution
    values = 0
    if cache.latents:
        values += 2 * dims.latent_channels * (side // dims.vae_factor) ** 2
    per_pair_text = dims.vl_factor > 0 or recipe.data.prompt == "pair"
    if cache.text and per_pair_text:
        tokens = dims.text_tokens + (
            vl_image_tokens(dims.vl_side or side, dims.vl_factor) if dims.vl_factor else 0
        )
        values += tokens * dims.text_hidden + dims.pooled
    return values * dims.bytes_per_value
