"""Base pipelines for generative restorers: load them by repo id / folder.

:data:`FAMILIES` names the diffusers pipeline class of each supported base model family; the
training tasks load the *whole* pipeline with :func:`load_pipeline` and then use its own methods
(``encode_prompt``, ``_encode_vae_image``, ``_pack_latents``...) so text/VAE preprocessing is exactly
what inference does.

Tiny random pipelines of these families for tests and smoke runs are built by
:mod:`ggt_hf.testing.tiny_models`.
"""

from __future__ import annotations

import logging
from typing import Any

from ggt_hf.errors import MissingExtraError

logger = logging.getLogger(__name__)

#: family → diffusers pipeline class name.
FAMILIES: dict[str, str] = {
    "qwen_image_edit": "QwenImageEditPipeline",
    "qwen_image_edit_plus": "QwenImageEditPlusPipeline",
    "flux_kontext": "FluxKontextPipeline",
    "flux": "FluxPipeline",  # base of FLUX ControlNet training
}


def import_diffusers():
    """The diffusers package, or an error naming the extra that installs it."""
    try:
        import diffusers
    except ImportError as exc:  # pragma: no cover - part of the train extra
        raise MissingExtraError("diffusers", "train") from exc
    return diffusers


def pipeline_class(family: str):
    """The diffusers pipeline class of ``family`` (see :data:`FAMILIES`)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown base model family {family!r}; known: {sorted(FAMILIES)}")
    return getattr(import_diffusers(), FAMILIES[family])


def load_pipeline(pretrained: str, family: str, *, dtype: Any = None, device: str | None = None, **kwargs):
    """``<family pipeline>.from_pretrained(pretrained, torch_dtype=dtype)`` moved to ``device``.

    ``pretrained`` is a Hub repo id (e.g. ``Qwen/Qwen-Image-Edit``) or a local folder; extra
    ``kwargs`` (e.g. ``controlnet=``) go to ``from_pretrained``.
    """
    from ggt_hf.imaging.tensors import resolve_device, resolve_dtype

    device = resolve_device(device)
    pipe = pipeline_class(family).from_pretrained(
        pretrained, torch_dtype=resolve_dtype(dtype, device), **kwargs
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)
