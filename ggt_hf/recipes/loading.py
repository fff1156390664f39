"""Load any training recipe file: a registry restorer's or a generative model's (told apart by
``model.family``). Used by the run plan and the provenance checks alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load_any_recipe(path: str | Path, overrides: list[str] | None = None) -> tuple[Any, str]:
    """A restorer or generative recipe (told apart by ``model.family``) and its kind."""
    from ggt_hf.files.yaml_config import load_yaml

    raw = load_yaml(path, overrides)
    if "family" in (raw.get("model") or {}):
        from ggt_hf.generative.task_base import GenerativeRecipe

        return GenerativeRecipe.from_yaml(path, overrides), "generative"
    from ggt_hf.training.restorer_task import RestorerRecipe

    return RestorerRecipe.from_yaml(path, overrides), "restorer"
