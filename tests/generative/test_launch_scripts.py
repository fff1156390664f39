"""The real entry scripts under ``accelerate launch`` (CPU config, one process) on tiny pipelines and
real photo pairs: train, checkpoint, resume to more steps, load the artifact back, restore a photo.
Each launch pays ~15 s of imports, so these are ``slow``; the in-process tests cover the same
tasks in the default run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
CPU_CONFIG = ROOT / "training/accelerate_configs/cpu.yaml"


def _launch(script: str, recipe: str, *overrides: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CPU_CONFIG),
        str(ROOT / "training" / script), "--config", str(ROOT / "training/recipes" / recipe), *overrides,
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def _common(tiny_pipelines, family, gen_pairs, out) -> list[str]:
    return [
        f"model.pretrained={tiny_pipelines(family)}",
        f"data.ggt=[{{path: {gen_pairs}, kind: pairs}}]",
        f"train.output_dir={out}",
    ]


@pytest.mark.slow
def test_launch_edit_lora_qwen_resume_and_load(tiny_pipelines, gen_pairs, tmp_path, lq_photo):
    out = tmp_path / "qwen"
    args = _common(tiny_pipelines, "qwen_image_edit", gen_pairs, out)
    _launch(
        "train_edit_lora.py",
        "qwen_image_edit/tiny_cpu.yaml",
        *args,
        "train.max_steps=2",
        "validation.max_images=0",
    )
    assert (out / "checkpoints/checkpoint-2/pytorch_lora_weights.safetensors").is_file()
    proc = _launch(
        "train_edit_lora.py", "qwen_image_edit/tiny_cpu.yaml", *args,
        "train.max_steps=4", "train.resume_from_checkpoint=latest",
    )  # fmt: skip
    assert "resumed from" in proc.stderr and "at step 2" in proc.stderr
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["checkpoint-2", "checkpoint-4"]
    opt = torch.load(out / "checkpoints/checkpoint-4/optimizer.bin", weights_only=False)
    assert {int(s["step"]) for s in opt["state"].values()} == {4}
    assert list((out / "logs").rglob("events.out.tfevents.*"))  # tensorboard tracker wrote
    from diffusers import QwenImageEditPipeline

    pipe = QwenImageEditPipeline.from_pretrained(tiny_pipelines("qwen_image_edit"))
    pipe.set_progress_bar_config(disable=True)
    pipe.load_lora_weights(out / "final")
    image = pipe(
        image=lq_photo, prompt="Restore this photo.", num_inference_steps=2, width=96, height=64,
        generator=torch.Generator().manual_seed(0),
    ).images[0]  # fmt: skip
    assert image.size == (96, 64) and np.asarray(image).std() > 0


@pytest.mark.slow
def test_launch_controlnet_flux_resume(tiny_pipelines, gen_pairs, tmp_path):
    out = tmp_path / "cn"
    args = _common(tiny_pipelines, "flux", gen_pairs, out)
    _launch("train_controlnet_flux.py", "flux_controlnet/tiny_cpu.yaml", *args, "train.max_steps=2")
    proc = _launch(
        "train_controlnet_flux.py", "flux_controlnet/tiny_cpu.yaml", *args,
        "train.max_steps=3", "train.resume_from_checkpoint=latest",
    )  # fmt: skip
    assert "at step 2" in proc.stderr
    from diffusers import FluxControlNetModel

    assert FluxControlNetModel.from_pretrained(out / "final").config.num_layers == 1
    assert (out / "final/README.md").read_text().count("FluxControlNetPipeline") >= 1
