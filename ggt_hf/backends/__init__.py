"""MFM image backends and VLM clients behind one protocol each, with a lazy registry.

``create_backend("gemini", model_id=...)`` imports only the module it needs, so ``import ggt_hf``
stays light and a missing SDK is reported with the extra that installs it. Third parties register
more backends through the ``ggt_hf.backends`` / ``ggt_hf.vlms`` entry-point groups
(``name = "package.module:Class"``).
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from ggt_hf.backends.base import (
    BackendError,
    BackendRefused,
    BackendTransient,
    BadOutputError,
    ImageBackend,
    PromptResult,
    RestoreRequest,
    RestoreResult,
    Usage,
    VLMClient,
)

#: Image backends: name → "module:Class" (the single source of truth for what exists).
BACKENDS: dict[str, str] = {
    "classical": "ggt_hf.backends.classical:ClassicalBackend",
    "gemini": "ggt_hf.backends.gemini:GeminiImageBackend",
    "openai": "ggt_hf.backends.openai_images:OpenAIImageBackend",
    "hf-inference": "ggt_hf.backends.hf_inference:HFInferenceBackend",
    "diffusers": "ggt_hf.backends.diffusers_backend:DiffusersBackend",
}

#: VLM clients for prompt writing and judging.
VLMS: dict[str, str] = {
    "heuristic": "ggt_hf.backends.heuristic_vlm:HeuristicVLM",
    "gemini": "ggt_hf.backends.gemini:GeminiVLM",
    "openai": "ggt_hf.backends.openai_vlm:OpenAIVLM",
    "transformers": "ggt_hf.backends.transformers_vlm:TransformersVLM",
}


def _registered(group: str, builtin: dict[str, str]) -> dict[str, str]:
    found = dict(builtin)
    for ep in entry_points(group=group):
        found.setdefault(ep.name, ep.value)
    return found


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def available_backends() -> list[str]:
    """Names of every registered image backend (built-in and entry points)."""
    return sorted(_registered("ggt_hf.backends", BACKENDS))


def available_vlms() -> list[str]:
    """Names of every registered VLM client."""
    return sorted(_registered("ggt_hf.vlms", VLMS))


def create_backend(name: str, **kwargs: Any) -> ImageBackend:
    """Instantiate the image backend ``name`` with ``kwargs`` (e.g. ``model_id``)."""
    registry = _registered("ggt_hf.backends", BACKENDS)
    if name not in registry:
        raise ValueError(f"unknown backend {name!r}; available: {', '.join(sorted(registry))}")
    return _load(registry[name])(**kwargs)


def create_vlm(name: str, **kwargs: Any) -> VLMClient:
    """Instantiate the VLM client ``name`` with ``kwargs``."""
    registry = _registered("ggt_hf.vlms", VLMS)
    if name not in registry:
        raise ValueError(f"unknown VLM client {name!r}; available: {', '.join(sorted(registry))}")
    return _load(registry[name])(**kwargs)


__all__ = [
    "BACKENDS",
    "VLMS",
    "BackendError",
    "BackendRefused",
    "BackendTransient",
    "BadOutputError",
    "ImageBackend",
    "PromptResult",
    "RestoreRequest",
    "RestoreResult",
    "Usage",
    "VLMClient",
    "available_backends",
    "available_vlms",
    "create_backend",
    "create_vlm",
]
