"""A restorer's identity: its name plus every option that changes its outputs, as one stable text.

Two runs with the same identity write the same outputs (up to a model's own randomness), so
``ggt restore`` may keep one run's outputs for the other; two runs with different identities may
not. The identity is computed from the spec and the options alone, before anything is loaded, so a
mismatch is refused before any model or API is touched.

What counts, per kind of restorer (options that do not apply to a kind do not change its identity):

* ``identity``, ``package.module:function``: the name alone;
* ``classical[:CATEGORY]``: the name with the forced category in its canonical spelling;
* ``BACKEND[:MODEL_ID]`` (API backends): the default prompt and the seed;
* ``diffusers:...``: the default prompt, the seed, the steps and the ControlNet;
* model restorers (registry name, folder, Hub repo, ``model:LABEL``): the weights (the configured
  target of a label), the revision, the tile and its overlap, and the reduced-precision dtype.

Secrets (``api_key``, ...) never enter an identity: it is written to ``.ggt_restore.jsonl`` and
shown in messages.
"""

from __future__ import annotations

import json
from typing import Any

from ggt_hf.restore.spec import RestorerOptions, RestorerSpec

#: Restorer kinds that run a torch model tile by tile.
MODEL_KINDS = ("model", "restorer")


def _model_options(spec: RestorerSpec, options: RestorerOptions) -> dict[str, Any]:
    tile = options.tile or 0  # 0: the whole image at once
    return {
        "weights": options.models.get(spec.arg or "") if spec.kind == "model" else None,
        "revision": options.revision,
        "tile": tile,
        "overlap": options.overlap if tile else None,
        "dtype": None if options.dtype in (None, "float32") else options.dtype,
    }


def identity_options(spec: RestorerSpec, options: RestorerOptions) -> dict[str, Any]:
    """The options that change the outputs of ``spec`` run with ``options`` (``None``: not set)."""
    if spec.kind in MODEL_KINDS:
        return _model_options(spec, options)
    if spec.kind == "backend":
        return {"prompt": options.default_prompt, "seed": options.seed}
    if spec.kind == "diffusers":
        return {
            "controlnet": options.backend_kwargs.get("controlnet"),
            "prompt": options.default_prompt,
            "steps": options.steps,
            "seed": options.seed,
        }
    return {}


def restorer_identity(spec: RestorerSpec, options: RestorerOptions | None = None) -> str:
    """``NAME`` or ``NAME {"option": value, ...}`` (sorted keys, unset options dropped)."""
    options = options or RestorerOptions()
    name = f"classical:{spec.category}" if spec.kind == "classical" and spec.category else spec.text
    kept = {k: v for k, v in sorted(identity_options(spec, options).items()) if v is not None}
    return name if not kept else f"{name} " + json.dumps(kept, sort_keys=True)
