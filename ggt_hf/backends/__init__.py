"""MFM image backends and VLM clients behind one protocol each, with a lazy registry.

``create_backend("gemini", model_id=...)`` imports only the module it needs, so ``import ggt_hf``
stays light and a missing SDK is reported with the extra that installs it. Third parties register
more backends through the ``ggt_hf.backends`` / ``ggt_hf.vlms`` entry-point groups
(``name = "package.module:Class"``).
"""

from __future__ import annotations

import difflib
import inspect
import os
import sys
from collections.abc import Mapping
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
from ggt_hf.errors import UsageError
from ggt_hf.runtime.network import ApiEndpoint
from ggt_hf.runtime.user_code import load_attr


class BackendOptionError(UsageError):
    """An option that the constructor of a backend or VLM client does not take; the reason lists
    the options it does take. Raised where backends are made, before any work."""


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


def _path_state() -> tuple[tuple[str, int | None], ...]:
    """Each ``sys.path`` folder with its modification time: installing or removing a distribution
    adds or removes its ``*.dist-info`` folder there, which changes the time."""
    state = []
    for entry in sys.path:
        folder = os.path.abspath(entry or ".")
        try:
            state.append((folder, os.stat(folder).st_mtime_ns))
        except OSError:  # a path hook or a folder that does not exist (yet)
            state.append((folder, None))
    return tuple(state)


#: Entry-point group → (the ``sys.path`` state it was scanned in, name → "module:Class").
_SCANNED: dict[str, tuple[tuple[tuple[str, int | None], ...], dict[str, str]]] = {}


def _entry_points(group: str) -> dict[str, str]:
    """The entry points of ``group`` (the first of a name wins), scanned again only when a
    ``sys.path`` folder changed: a scan reads every installed distribution (tens of ms), and every
    restorer name that is not built in is looked up here."""
    state = _path_state()
    cached = _SCANNED.get(group)
    if cached is None or cached[0] != state:
        found: dict[str, str] = {}
        for ep in entry_points(group=group):
            found.setdefault(ep.name, ep.value)
        cached = _SCANNED[group] = (state, found)
    return cached[1]


def _registered(group: str, builtin: dict[str, str]) -> dict[str, str]:
    found = dict(builtin)
    for name, value in _entry_points(group).items():
        found.setdefault(name, value)
    return found


def available_backends() -> list[str]:
    """Names of every registered image backend (built-in and entry points)."""
    return sorted(_registered("ggt_hf.backends", BACKENDS))


def available_vlms() -> list[str]:
    """Names of every registered VLM client."""
    return sorted(_registered("ggt_hf.vlms", VLMS))


#: Kind of component → (entry-point group, built-in registry).
_KINDS: dict[str, tuple[str, dict[str, str]]] = {
    "backend": ("ggt_hf.backends", BACKENDS),
    "VLM client": ("ggt_hf.vlms", VLMS),
}


def _class(kind: str, name: str) -> type:
    group, builtin = _KINDS[kind]
    registry = _registered(group, builtin)
    if name not in registry:
        raise ValueError(f"unknown {kind} {name!r}; available: {', '.join(sorted(registry))}")
    return load_attr(registry[name], kind)


def _create(kind: str, name: str, kwargs: dict[str, Any]) -> Any:
    cls = _class(kind, name)
    check_options(cls, kwargs, f"{kind} {name!r}")
    return cls(**kwargs)


def backend_class(name: str) -> type:
    """The class of image backend ``name`` (imports its module only)."""
    return _class("backend", name)


def vlm_class(name: str) -> type:
    """The class of VLM client ``name`` (imports its module only)."""
    return _class("VLM client", name)


def accepted_options(cls: type) -> list[str] | None:
    """The keyword options ``cls(...)`` takes, in signature order (``None``: any). A class whose
    ``**kwargs`` go on to another class names it as ``forwards_options_to``; its options count too."""
    params = inspect.signature(cls).parameters.values()
    known = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if not any(p.kind is p.VAR_KEYWORD for p in params):
        return known
    target = getattr(cls, "forwards_options_to", None)
    forwarded = accepted_options(target) if isinstance(target, type) else None
    return None if forwarded is None else known + [o for o in forwarded if o not in known]


def check_options(cls: type, options: Mapping[str, Any], what: str, where: str | None = None) -> None:
    """Refuse an option ``cls`` does not take, naming it, ``what`` it was given to (``backend
    'classical'``) and the options it takes (with a "did you mean" for a near miss); ``where``
    names the place the options came from (e.g. ``config.backend.options``; default: ``what``).

    Raises:
        BackendOptionError: the first unknown option.
    """
    known = accepted_options(cls)
    if known is None:
        return
    for key in options:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key), known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        takes = f"its options are {', '.join(known)}" if known else "it takes none"
        raise BackendOptionError(where or what, f"{what} takes no option {key!r}{hint}; {takes}")


def api_endpoints(cls: type, options: Mapping[str, Any]) -> list[ApiEndpoint]:
    """The hosted APIs an instance of ``cls`` made with ``options`` would call, with the setting
    that decides each URL, without making it (no SDK client, no key, nothing sent).

    A class that calls a hosted API says so with a ``api_endpoints(**options)`` class method that
    takes its constructor's options and resolves the URL the way its constructor gives it to the SDK
    (gemini, openai, hf-inference); a class without one calls nothing we know of.
    """
    hook = getattr(cls, "api_endpoints", None)
    return list(hook(**options)) if callable(hook) else []


def create_backend(name: str, **kwargs: Any) -> ImageBackend:
    """Instantiate the image backend ``name`` with ``kwargs`` (e.g. ``model_id``).

    Raises:
        BackendOptionError: an option the backend does not take (nothing is made).
    """
    return _create("backend", name, kwargs)


def create_vlm(name: str, **kwargs: Any) -> VLMClient:
    """Instantiate the VLM client ``name`` with ``kwargs``.

    Raises:
        BackendOptionError: an option the client does not take (nothing is made).
    """
    return _create("VLM client", name, kwargs)


__all__ = [
    "BACKENDS",
    "VLMS",
    "BackendError",
    "BackendOptionError",
    "BackendRefused",
    "BackendTransient",
    "BadOutputError",
    "ImageBackend",
    "PromptResult",
    "RestoreRequest",
    "RestoreResult",
    "Usage",
    "VLMClient",
    "api_endpoints",
    "available_backends",
    "available_vlms",
    "backend_class",
    "check_options",
    "create_backend",
    "create_vlm",
    "vlm_class",
]
