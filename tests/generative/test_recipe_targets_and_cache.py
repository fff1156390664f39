"""The full recipes' LoRA target lists name real modules of their transformers, and the cache-disk
estimate counts the Qwen VL image tokens the real processor makes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ggt_hf.generative.caching import FAMILY_CACHE_DIMS, cache_bytes_per_pair, vl_image_tokens

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "training" / "recipes"


@pytest.mark.parametrize(
    ("family", "recipe"),
    [
        ("qwen_image_edit", "qwen_image_edit/lora_ggt_wide.yaml"),
        ("flux_kontext", "flux_kontext/lora_ggt.yaml"),
    ],
)
def test_every_recipe_target_gets_lora_layers(family, recipe, make_recipe):
    from ggt_hf.generative.edit_lora import EditLoraTask
    from ggt_hf.training.core import make_accelerator

    targets = yaml.safe_load((RECIPES / recipe).read_text())["lora"]["target_modules"]
    tiny = make_recipe(family, f"lora.target_modules={targets}")
    task = EditLoraTask(tiny)
    task.setup(make_accelerator(tiny.train))
    adapted = [name for name, module in task.pipe.transformer.named_modules() if hasattr(module, "lora_A")]
    for target in targets:
        assert any(name.endswith(target) for name in adapted), f"{recipe}: no module matches {target}"


@pytest.mark.parametrize("side", [384, 1024, 1000])
def test_vl_token_count_is_what_the_qwen_processor_makes(side):
    from PIL import Image
    from transformers import Qwen2VLImageProcessor

    from ggt_hf.generative.caching import QWEN_VL_MAX_PIXELS

    out = Qwen2VLImageProcessor(max_pixels=QWEN_VL_MAX_PIXELS)(
        images=[Image.new("RGB", (side, side))], return_tensors="pt"
    )
    assert vl_image_tokens(side) == int(out["image_grid_thw"].prod()) // 4  # 2×2 patches merge into a token


def test_qwen_edit_cache_is_dominated_by_per_pair_vl_embeddings():
    from ggt_hf.generative.task_base import GenerativeRecipe

    recipe = GenerativeRecipe.from_yaml(RECIPES / "qwen_image_edit/lora_ggt.yaml")
    dims = FAMILY_CACHE_DIMS["qwen_image_edit"]
    latents = 2 * 16 * 128 * 128 * 2
    text = (1369 + dims.text_tokens) * 3584 * 2
    assert cache_bytes_per_pair(recipe) == latents + text
    assert text > 9 * latents
    no_disk = GenerativeRecipe.from_yaml(RECIPES / "qwen_image_edit/lora_ggt.yaml", ["cache.folder=null"])
    assert cache_bytes_per_pair(no_disk) is None
