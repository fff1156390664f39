"""``make_restorer(spec, options) -> Restorer``: the one place a restorer is built and run.

Every caller that restores images (``ggt restore``, ``ggt bench-mfm``, the Space, the leaderboard
worker) builds its restorer here, so the device, the dtype and the tiling of model restorers, the
prompts and seeds of API and diffusers backends, and the forced category of the classical baseline
are decided once. API keys are checked (naming the variable) before anything is loaded.
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any

from PIL import Image

from ggt_hf.restore.restorer import Restorer
from ggt_hf.restore.spec import RestorerOptions, RestorerSpec, parse_restorer

logger = logging.getLogger(__name__)


def unchanged(image: Image.Image, prompt: str | None = None) -> Image.Image:
    """The no-restoration floor: the input unchanged."""
    return image.copy()


def weights_spec(path: str | Path) -> RestorerSpec:
    """The spec of a model restorer loaded from the folder ``path`` (no name parsing involved)."""
    return RestorerSpec(str(path), "restorer", str(path))


def make_restorer(spec: RestorerSpec | str, options: RestorerOptions | None = None) -> Restorer:
    """The :class:`Restorer` for ``spec`` run with ``options`` (keys checked first).

    Raises:
        ValueError: a bad name (see :func:`ggt_hf.restore.spec.parse_restorer`) or an unknown
            ``model:LABEL``; ``MissingKeyError`` when an API key is unset.
    """
    spec = parse_restorer(spec) if isinstance(spec, str) else spec
    options = options or RestorerOptions()
    spec.check()
    if spec.kind == "identity":
        return Restorer(spec, options, lambda image, prompt, item: unchanged(image))
    if spec.kind == "callable":
        return _callable_restorer(spec, options)
    if spec.kind in ("model", "restorer"):
        return _model_restorer(spec, options)
    return _backend_restorer(spec, options)


def _takes_prompt(function) -> bool:
    """Whether ``function`` takes a second positional argument (the prompt)."""
    try:
        params = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: the documented two arguments
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


def _callable_restorer(spec: RestorerSpec, options: RestorerOptions) -> Restorer:
    """A user's ``restore(image, prompt)`` (or ``restore(image)``: then it gets no prompt)."""
    from ggt_hf.runtime.user_code import import_callable

    function = import_callable(spec.text, "restorer")  # a module in the working directory loads from its file
    takes_prompt = _takes_prompt(function)

    def run(image: Image.Image, prompt: str | None, item_id: str | None) -> Image.Image:
        return function(image, prompt) if takes_prompt else function(image)

    return Restorer(spec, options, run)


def make_backend(name: str, **options: Any) -> Any:
    """The restoration backend ``name`` made with ``options``, for a caller that drives the backend
    itself: the build's QC loop wraps it in retries, a cache and fault injection and sends its own
    requests (attempts, corrective prompts, seeds). Options are checked where backends are made
    (:func:`ggt_hf.backends.create_backend`): an unknown one is named with those the backend takes."""
    from ggt_hf.backends import create_backend

    return create_backend(name, **options)


def _backend_restorer(spec: RestorerSpec, options: RestorerOptions) -> Restorer:
    from ggt_hf.backends import RestoreRequest

    kwargs = {**spec.backend_kwargs(), **options.backend_kwargs}
    if spec.kind == "diffusers":
        kwargs.setdefault("device", options.device)
        if options.steps:
            kwargs.setdefault("num_inference_steps", options.steps)
    backend = make_backend(spec.name, **kwargs)
    forced = None
    if spec.kind == "classical" and spec.category:
        from ggt_hf.backends.classical import CATEGORY_PROMPTS

        forced = CATEGORY_PROMPTS[spec.category]

    def run(image: Image.Image, prompt: str | None, item_id: str | None) -> Image.Image:
        item = {"item_id": item_id} if item_id else {}
        if spec.kind == "classical":  # a forced category's words ("" for general), else the caller's
            return backend.restore(RestoreRequest(image, prompt if forced is None else forced, **item)).image
        request = RestoreRequest(image, prompt or options.default_prompt or None, seed=options.seed, **item)
        return backend.restore(request).image

    return Restorer(spec, options, run, backend=backend)


def _model_restorer(spec: RestorerSpec, options: RestorerOptions) -> Restorer:
    """A torch restorer on the resolved device, run tiled with the options' dtype (the one place)."""
    from ggt_hf.imaging.tensors import resolve_device
    from ggt_hf.restorers import RESTORERS, load_restorer
    from ggt_hf.restorers.tiling import restore_image

    if spec.kind == "model":
        if spec.arg not in options.models:
            known = ", ".join(options.models) or "none configured"
            raise ValueError(f"restorer {spec.text!r}: no model labelled {spec.arg!r} ({known})")
        target = options.models[spec.arg]
    else:
        target = spec.text
    device = resolve_device(options.device)
    local = Path(target).is_dir()
    hub = {"revision": options.revision} if options.revision and not local else {}
    model = load_restorer(target, device=device, **hub)
    if target.strip().lower().replace("-", "_") in RESTORERS and not local:
        logger.warning("%s: registry name without weights, the model is randomly initialised", target)
    tile = options.tile or None

    def run(image: Image.Image, prompt: str | None, item_id: str | None) -> Image.Image:
        return restore_image(
            model, image, tile=tile, overlap=options.overlap, device=device, dtype=options.dtype
        )

    return Restorer(spec, options, run, model=model)
