"""Fixtures of the generative-training tests: tiny random pipelines saved to disk (built offline,
once per session), real-photo pair folders and a recipe factory over the real ``tiny_cpu.yaml``
recipes. Test modules cannot import each other (``--import-mode=importlib``): share through here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("diffusers")
pytest.importorskip("peft")
pytest.importorskip("accelerate")
torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]
RECIPES = {
    "qwen_image_edit": ROOT / "training/recipes/qwen_image_edit/tiny_cpu.yaml",
    "flux_kontext": ROOT / "training/recipes/flux_kontext/tiny_cpu.yaml",
    "flux": ROOT / "training/recipes/flux_controlnet/tiny_cpu.yaml",
}
SCRIPTS = {
    "edit_lora": ROOT / "training/train_edit_lora.py",
    "controlnet_flux": ROOT / "training/train_controlnet_flux.py",
}


@pytest.fixture(autouse=True)
def _one_thread():
    """Two shared cores: one intra-op thread avoids oversubscription stalls."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_pipelines(tmp_path_factory) -> Callable[[str], Path]:
    """``tiny_pipelines(family)`` → folder of a tiny random pipeline of that family (built once)."""
    from ggt_hf.testing.tiny_models import build_tiny

    root = tmp_path_factory.mktemp("tiny_pipelines")
    built: dict[str, Path] = {}

    def get(family: str) -> Path:
        if family not in built:
            built[family] = build_tiny(family, root / family)
        return built[family]

    return get


@pytest.fixture(scope="session")
def gen_pairs(tmp_path_factory, photos) -> Path:
    """A pair folder of 4 real-photo pairs, 96×64 (non-square: exercises bucketing); LQ = darkened,
    noisy HQ; pairs 0 and 2 carry no prompt file (the fixed prompt is used)."""
    root = tmp_path_factory.mktemp("gen_pairs")
    for side in ("lq", "hq"):
        (root / side).mkdir()
    for i, photo in enumerate(photos[:4]):
        hq = photo.convert("RGB").resize((96, 64), Image.Resampling.LANCZOS)
        rng = np.random.default_rng(i)
        lq = np.clip(np.asarray(hq, dtype=np.float32) * 0.6 + rng.normal(0, 10, (64, 96, 3)), 0, 255)
        hq.save(root / "hq" / f"g{i}.png")
        Image.fromarray(lq.astype(np.uint8)).save(root / "lq" / f"g{i}.png")
    return root


@pytest.fixture
def make_recipe(tiny_pipelines, gen_pairs, tmp_path) -> Callable[..., object]:
    """``make_recipe(family, *overrides)`` → the family's ``tiny_cpu.yaml`` recipe pointed at the tiny
    pipeline, the real-photo pairs and a fresh output folder (no trackers unless overridden)."""
    from ggt_hf.generative.task_base import GenerativeRecipe

    def make(family: str, *overrides: str, out: Path | None = None):
        base = [
            f"model.pretrained={tiny_pipelines(family)}",
            f"data.ggt=[{{path: {gen_pairs}, kind: pairs}}]",
            f"train.output_dir={out or tmp_path / 'run'}",
            "train.log_with=null",
        ]
        if family == "qwen_image_edit_plus":  # the Qwen tiny recipe with the Plus (2509) pipeline
            return GenerativeRecipe.from_yaml(
                RECIPES["qwen_image_edit"], [*base, f"model.family={family}", *overrides]
            )
        return GenerativeRecipe.from_yaml(RECIPES[family], [*base, *overrides])

    return make


@pytest.fixture
def train_inprocess() -> Callable[..., Path]:
    """``train_inprocess(task_cls, recipe)`` → the final folder of an in-process run (what the entry
    scripts do, without the subprocess)."""
    from ggt_hf.generative.entry import make_loader_factory
    from ggt_hf.training.core import make_accelerator, run_training

    def run(task_cls, recipe) -> tuple[Path, object]:
        accelerator = make_accelerator(recipe.train)
        task = task_cls(recipe)
        factory = make_loader_factory(recipe, task, accelerator)
        final = run_training(
            recipe.train, task, factory, run_config=recipe.to_dict(), accelerator=accelerator
        )
        return final, task

    return run


@pytest.fixture(scope="session")
def lq_photo(gen_pairs) -> Image.Image:
    return Image.open(gen_pairs / "lq" / "g1.png").convert("RGB")
