"""The restorer registry: one table from a short name to its class, imported lazily.

>>> from ggt_hf.restorers import list_restorers, build_restorer, load_restorer
>>> list_restorers()                       # doctest: +SKIP
['mprnet', 'moce_ir', 'nafnet', ...]
>>> model = build_restorer("nafnet", width=16)            # random init from config overrides
>>> model = load_restorer("user/nafnet-ggt")             # doctest: +SKIP  (Hub repo or local folder)
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import fields
from typing import Any

from ggt_hf.errors import GGTError, ModelConfigError
from ggt_hf.restorers.config_bounds import check_restorer_config

#: A restorer's config.json is a few hundred bytes; a larger one is refused unread.
MAX_CONFIG_BYTES = 1024 * 1024

#: name → "module:Class". The single source of truth for which restorers exist.
RESTORERS: dict[str, str] = {
    "nafnet": "ggt_hf.restorers.nafnet:NAFNet",
    "swinir": "ggt_hf.restorers.swinir:SwinIR",
    "mprnet": "ggt_hf.restorers.mprnet:MPRNet",
    "restormer": "ggt_hf.restorers.restormer:Restormer",
    "x_restormer": "ggt_hf.restorers.x_restormer:XRestormer",
    "promptir": "ggt_hf.restorers.promptir:PromptIR",
    "moce_ir": "ggt_hf.restorers.moce_ir:MoCEIR",
    "daclip": "ggt_hf.restorers.daclip:DACLIP",
    "foundir": "ggt_hf.restorers.foundir:FoundIR",
}


class UnknownRestorerError(GGTError):
    """A name that is neither a registry restorer, a local folder nor a Hub repo."""


def list_restorers(available_only: bool = True) -> list[str]:
    """Registry names, sorted; with ``available_only`` only those whose module imports."""
    names = sorted(RESTORERS)
    if not available_only:
        return names
    out = []
    for name in names:
        try:
            get_restorer_class(name)
        except (ImportError, AttributeError):
            continue
        out.append(name)
    return out


def get_restorer_class(name: str):
    """The class registered as ``name`` (aliases: case and ``-`` are ignored)."""
    key = name.strip().lower().replace("-", "_")
    if key not in RESTORERS:
        raise UnknownRestorerError(name, f"unknown restorer; known: {', '.join(sorted(RESTORERS))}")
    from ggt_hf.runtime.user_code import load_attr

    return load_attr(RESTORERS[key], "restorer")


def build_restorer(name: str, config: Any = None, **overrides):
    """A randomly initialised restorer; ``overrides`` replace fields of its default config."""
    cls = get_restorer_class(name)
    if config is None:
        config = cls.config_class()
    elif isinstance(config, dict):
        config = cls.config_class(**config)
    valid = {f.name for f in fields(config)}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise UnknownRestorerError(name, f"unknown config fields {unknown}; valid: {sorted(valid)}")
    for key, value in overrides.items():
        setattr(config, key, value)
    check_restorer_config(cls, config, name)  # sizes bounded before anything is allocated
    return cls(config=config)


def _read_config(name_or_path: str, **hub_kwargs) -> dict:
    if os.path.isdir(name_or_path):
        path = os.path.join(name_or_path, "config.json")
    else:
        from huggingface_hub import hf_hub_download

        path = hf_hub_download(name_or_path, "config.json", **hub_kwargs)
    if os.path.getsize(path) > MAX_CONFIG_BYTES:
        raise ModelConfigError(path, f"over {MAX_CONFIG_BYTES:,} bytes: not a restorer config")
    with open(path) as fh:
        data = json.load(fh)
    if not isinstance(data, dict):
        raise ModelConfigError(path, "not a JSON object")
    return data.get("config", data)


def model_folder(path: str) -> str:
    """``path``, or its ``final/`` model when ``path`` is a training run folder (``train.output_dir``).

    A run folder without ``final/config.json`` (training not finished, or another folder) is returned
    as it is, and loading it fails naming the missing ``config.json``.
    """
    from ggt_hf.constants import TRAINING_FINAL_DIR

    final = os.path.join(path, TRAINING_FINAL_DIR)
    if (
        os.path.isdir(path)
        and not os.path.isfile(os.path.join(path, "config.json"))
        and os.path.isfile(os.path.join(final, "config.json"))
    ):
        logging.getLogger(__name__).info("%s: a training run folder, loading its model %s", path, final)
        return final
    return path


def load_restorer(name_or_path: str, device: str | None = None, **hub_kwargs):
    """A restorer from a registry name (random init), a local ``save_pretrained`` folder (or a training
    run folder: its ``final/`` model), or a Hub repo id (``config.json`` names the ``model_type``;
    weights must be safetensors)."""
    from ggt_hf.imaging.tensors import resolve_device

    name_or_path = model_folder(name_or_path)

    key = name_or_path.strip().lower().replace("-", "_")
    if key in RESTORERS and not os.path.isdir(name_or_path):
        model = build_restorer(key)
    else:
        try:
            config = _read_config(name_or_path, **hub_kwargs)
        except ModelConfigError:
            raise
        except Exception as exc:
            raise UnknownRestorerError(
                name_or_path, f"not a registry restorer and no readable config.json ({exc})"
            ) from exc
        model_type = config.get("model_type")
        if not model_type:
            raise UnknownRestorerError(name_or_path, "config.json has no 'model_type'")
        cls = get_restorer_class(model_type)
        model = cls.from_pretrained(name_or_path, **hub_kwargs)
    return model.to(resolve_device(device)).eval()
