"""A fine-tuned generative restorer served by ``ggt restore``: base model + LoRA, base + ControlNet."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ggt_hf.cli import main
from ggt_hf.generative.controlnet_flux import ControlNetFluxTask
from ggt_hf.generative.edit_lora import EditLoraTask


def _restore_cli(tmp_path, lq_photo, *model_args: str) -> np.ndarray:
    src = tmp_path / "in"
    src.mkdir(exist_ok=True)
    lq_photo.save(src / "photo.png")
    out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}"
    assert main(["restore", *model_args, "--steps", "2", "--device", "cpu", str(src), str(out)]) == 0
    restored = Image.open(out / "photo.png")
    assert restored.size == lq_photo.size
    return np.asarray(restored.convert("RGB"), dtype=int)


def test_ggt_restore_with_base_plus_lora(make_recipe, train_inprocess, tiny_pipelines, lq_photo, tmp_path):
    recipe = make_recipe(
        "qwen_image_edit", "train.max_steps=2", "validation.max_images=0", "train.checkpointing_steps=0"
    )
    final, _ = train_inprocess(EditLoraTask, recipe)
    base = str(tiny_pipelines("qwen_image_edit"))
    plain = _restore_cli(tmp_path, lq_photo, "--model", f"diffusers:{base}")
    tuned = _restore_cli(tmp_path, lq_photo, "--model", f"diffusers:{base}+{final}")
    assert np.abs(tuned - plain).max() > 0, "the LoRA must change the restoration"


def test_ggt_restore_with_base_plus_controlnet(
    make_recipe, train_inprocess, tiny_pipelines, lq_photo, tmp_path
):
    recipe = make_recipe(
        "flux", "train.max_steps=2", "validation.max_images=0", "train.checkpointing_steps=0"
    )
    final, _ = train_inprocess(ControlNetFluxTask, recipe)
    base = str(tiny_pipelines("flux"))
    out = _restore_cli(tmp_path, lq_photo, "--model", f"diffusers:{base}", "--controlnet", str(final))
    assert out.std() > 0
