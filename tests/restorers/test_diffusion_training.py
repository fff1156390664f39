"""DA-CLIP and FoundIR train through the shared trainer core with their own diffusion objectives
(tiny recipes, real photo pairs, CPU); their w/o and w/ recipes differ only in the GGT data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from ggt_hf.files.yaml_config import load_yaml
from ggt_hf.training.entry import train_restorer_main

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "training" / "recipes"

pytestmark = pytest.mark.usefixtures("torch_single_thread")


@pytest.fixture
def pair_folder(tmp_path, photos) -> Path:
    """lq/ + hq/ pairs: real photo crops and a noisy copy of each."""
    rng = np.random.default_rng(0)
    for sub in ("lq", "hq"):
        (tmp_path / "pairs" / sub).mkdir(parents=True)
    for i, photo in enumerate(photos[:3]):
        hq = np.asarray(photo.convert("RGB").crop((0, 0, 48, 48)), dtype=np.float32)
        lq = np.clip(hq + rng.normal(0, 20, hq.shape), 0, 255)
        Image.fromarray(hq.astype(np.uint8)).save(tmp_path / "pairs" / "hq" / f"{i}.png")
        Image.fromarray(lq.astype(np.uint8)).save(tmp_path / "pairs" / "lq" / f"{i}.png")
    return tmp_path / "pairs"


@pytest.mark.parametrize(
    "name",
    # DA-CLIP's objective is also unit-tested in test_daclip.py; its core run is the slower one
    [pytest.param("daclip", marks=pytest.mark.slow), "foundir"],
)
def test_tiny_run_uses_the_models_objective_and_saves_a_loadable_model(
    name, pair_folder, tmp_path, monkeypatch
):
    from ggt_hf.restorers import get_restorer_class, load_restorer

    cls = get_restorer_class(name)
    calls = []
    original = cls.diffusion_loss
    monkeypatch.setattr(
        cls, "diffusion_loss", lambda self, lq, hq: calls.append(lq.shape) or original(self, lq, hq)
    )
    out = tmp_path / "run"
    args = [f"data.ggt=[{{path: '{pair_folder}', kind: pairs}}]", f"train.output_dir={out}"]
    assert train_restorer_main(["--config", str(RECIPES / name / "tiny_cpu.yaml"), *args]) == 0
    recipe = yaml.safe_load((RECIPES / name / "tiny_cpu.yaml").read_text())
    accumulation = recipe["train"].get("gradient_accumulation_steps", 1)
    assert len(calls) == recipe["train"]["max_steps"] * accumulation  # one objective call per micro-batch
    model = load_restorer(str(out / "final"), device="cpu")
    assert type(model) is cls
    with torch.no_grad():
        restored = model(torch.rand(1, 3, 32, 32))
    assert restored.shape == (1, 3, 32, 32) and torch.isfinite(restored).all()


@pytest.mark.parametrize("name", ["daclip", "foundir"])
def test_without_and_with_ggt_recipes_differ_only_in_ggt_data(name):
    without = load_yaml(RECIPES / name / "wo_ggt.yaml")  # `extends: ggt_mix.yaml` resolved
    with_ggt = load_yaml(RECIPES / name / "ggt_mix.yaml")
    assert without["data"]["ggt"] == [] and with_ggt["data"]["ggt"]
    assert with_ggt["data"]["ratio"] == 1.0 and without["data"]["baseline"] == with_ggt["data"]["baseline"]
    for section in ("model", "validation", "loss"):
        assert without[section] == with_ggt[section]
    assert {k: v for k, v in without["train"].items() if k != "output_dir"} == {
        k: v for k, v in with_ggt["train"].items() if k != "output_dir"
    }


@pytest.mark.parametrize("name", ["daclip", "foundir"])
def test_every_hyper_parameter_line_cites_its_source(name):
    for recipe in ("wo_ggt.yaml", "ggt_mix.yaml"):
        lines = (RECIPES / name / recipe).read_text().splitlines()
        for section in ("data", "train"):
            start = lines.index(f"{section}:") + 1
            end = next(
                i for i in range(start, len(lines) + 1) if i == len(lines) or not lines[i].startswith(" ")
            )
            keys = [ln for ln in lines[start:end] if ln.startswith("  ") and not ln.startswith("   ")]
            settings = [ln for ln in keys if not ln.rstrip().endswith(":")]  # nested lists cite above
            exempt = ("output_dir", "logging_steps")
            uncited = [ln for ln in settings if "#" not in ln and ln.split(":")[0].strip() not in exempt]
            assert uncited == [], f"{recipe} {section}: lines without a source comment"
