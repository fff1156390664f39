"""The paper's two training settings per model: every `w/o` recipe (baseline only) and the generative
`w/` recipes differ from the run they extend only in data (and the output folder)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ggt_hf.files.yaml_config import load_yaml

RECIPES = Path(__file__).parents[2] / "training" / "recipes"
VARIANTS = sorted(  # a second training stage (FoundIR's scratch_stage2.yaml) is no data variant
    p
    for p in RECIPES.glob("*/*.yaml")
    if "extends" in (yaml.safe_load(p.read_text()) or {}) and not p.name.startswith("scratch_stage")
)
RESTORERS = ("moce_ir", "mprnet", "nafnet", "promptir", "restormer", "swinir", "x_restormer")
GENERATIVE = ("qwen_image_edit", "flux_kontext", "flux_controlnet")


def test_every_model_has_its_settings():
    names = {(p.parent.name, p.name) for p in VARIANTS}
    assert {(m, "wo_ggt.yaml") for m in RESTORERS} <= names
    for model in GENERATIVE:
        assert {n for m, n in names if m == model} >= {
            f"{stem}_{s}_ggt.yaml"
            for stem in ("controlnet" if model == "flux_controlnet" else "lora",)
            for s in ("w", "wo")
        }


@pytest.mark.parametrize("path", VARIANTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_variant_differs_from_its_run_only_in_data(path):
    variant = load_yaml(path)
    parent = load_yaml(path.parent / yaml.safe_load(path.read_text())["extends"])
    assert {k: v for k, v in variant.items() if k not in ("data", "train")} == {
        k: v for k, v in parent.items() if k not in ("data", "train")
    }
    strip = lambda d: {k: v for k, v in d.items() if k != "output_dir"}  # noqa: E731
    assert strip(variant["train"]) == strip(parent["train"])
    assert variant["train"]["output_dir"] != parent["train"]["output_dir"]
    data_keys = set(variant["data"]) | set(parent["data"])
    differing = {k for k in data_keys if variant["data"].get(k) != parent["data"].get(k)}
    assert differing <= {"ggt", "baseline", "ratio"}
    assert variant["data"]["baseline"], "both paper settings train on baseline data"
    if "_wo_" in path.name or path.name.startswith("wo_"):
        assert variant["data"]["ggt"] == []
    else:
        assert variant["data"]["ggt"] and variant["data"]["ratio"] == 1.0  # baseline + GGT 1:1


@pytest.mark.parametrize("path", VARIANTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_variant_loads_as_a_recipe(path):
    raw = load_yaml(path)
    if "family" in raw.get("model", {}):
        from ggt_hf.generative.task_base import GenerativeRecipe as Recipe
    else:
        from ggt_hf.training.restorer_task import RestorerRecipe as Recipe
    recipe = Recipe.from_yaml(path)
    assert recipe.data.baseline


def test_extends_cycles_and_missing_files_are_refused(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\nx: 1\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ValueError, match="cycle"):
        load_yaml(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("extends: nowhere.yaml\n")
    with pytest.raises(ValueError, match="names no file"):
        load_yaml(tmp_path / "c.yaml")
    (tmp_path / "base.yaml").write_text("data: {ggt: [1], ratio: 2.0}\ntrain: {lr: 1}\n")
    (tmp_path / "top.yaml").write_text("extends: base.yaml\ndata: {ggt: []}\n")
    assert load_yaml(tmp_path / "top.yaml", ["train.lr=2"]) == {
        "data": {"ggt": [], "ratio": 2.0},
        "train": {"lr": 2},
    }
