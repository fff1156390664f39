"""Edit-model LoRA training (Qwen-Image-Edit, FLUX Kontext) in-process on tiny random pipelines and
real photo pairs: LoRA file written, loadable with ``load_lora_weights`` (through the diffusers
backend) and changing the restoration; checkpoints hold LoRA weights only; exact resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ggt_hf.backends.base import RestoreRequest
from ggt_hf.backends.diffusers_backend import DiffusersBackend
from ggt_hf.generative.edit_lora import EditLoraTask


def _restore(pretrained, photo, **kwargs) -> np.ndarray:
    backend = DiffusersBackend(str(pretrained), num_inference_steps=2, max_side=64, device="cpu", **kwargs)
    return np.asarray(
        backend.restore(RestoreRequest(photo, "Restore this photo.", seed=3, item_id="g1")).image
    )


def test_flux_kontext_lora_trains_saves_and_loads_back(
    make_recipe, train_inprocess, tiny_pipelines, lq_photo
):
    recipe = make_recipe("flux_kontext", "train.max_steps=3", "train.checkpointing_steps=2")
    final, _ = train_inprocess(EditLoraTask, recipe)
    lora = final / "pytorch_lora_weights.safetensors"
    assert lora.is_file()
    from safetensors import safe_open

    with safe_open(str(lora), "pt") as f:
        keys = list(f.keys())
        meta = f.metadata()
    assert keys and all(k.startswith("transformer.") and "lora_" in k for k in keys)
    assert json.loads(meta["lora_adapter_metadata"])["transformer.lora_alpha"] == 4  # rank/alpha round-trip
    card = (final / "README.md").read_text()
    assert "load_lora_weights" in card and "FluxKontextPipeline" in card
    assert f'load_lora_weights("{final}")' in card  # not pushed: the card names the folder (issue 23.4)
    # the checkpoint holds the LoRA (not the full transformer) plus optimizer/scheduler/RNG state
    ckpt = final.parent / "checkpoints" / "checkpoint-2"
    assert (ckpt / "pytorch_lora_weights.safetensors").is_file() and (ckpt / "optimizer.bin").is_file()
    assert not list(ckpt.glob("model*.safetensors"))
    # validation restored a real photo with the trained pipeline
    assert np.isfinite(json.loads((final / "eval_results.json").read_text())["psnr"])

    call = {"_auto_resize": False, "max_area": 64 * 48}
    base = _restore(tiny_pipelines("flux_kontext"), lq_photo, call_kwargs=call)
    tuned = _restore(tiny_pipelines("flux_kontext"), lq_photo, lora=str(final), call_kwargs=call)
    assert tuned.shape == base.shape == np.asarray(lq_photo).shape
    assert np.abs(tuned.astype(int) - base.astype(int)).max() > 0  # the trained LoRA changes the output


@pytest.mark.parametrize("family", ["qwen_image_edit", "qwen_image_edit_plus"])
def test_qwen_image_edit_lora_step_and_caches(family, make_recipe, train_inprocess):
    recipe = make_recipe(
        family, "train.max_steps=6", "validation.max_images=0", "train.checkpointing_steps=0"
    )
    final, task = train_inprocess(EditLoraTask, recipe)
    assert (final / "pytorch_lora_weights.safetensors").is_file()
    # 4 pairs, 6 steps: the last 2 steps hit the latent cache (LQ + HQ) and the per-pair text cache
    assert task.latent_cache.hits == 4 and task.latent_cache.misses == 8
    assert task.text_cache.hits == 2 and len(task.text_cache) == 4
    trained = [p for n, p in task.pipe.transformer.named_parameters() if "lora_B" in n]
    assert trained and all(p.dtype == torch.float32 for p in trained)
    assert any(p.abs().sum() > 0 for p in trained)  # lora_B starts at zero: it was updated


def test_resume_continues_exactly(make_recipe, train_inprocess, tmp_path):
    """2 steps + resume to 4 gives the same LoRA as 4 uninterrupted steps (data, noise, optimizer)."""
    from safetensors.torch import load_file

    full = make_recipe("flux_kontext", "train.max_steps=4", "validation.max_images=0", out=tmp_path / "full")
    train_inprocess(EditLoraTask, full)
    first = make_recipe(
        "flux_kontext", "train.max_steps=2", "validation.max_images=0", out=tmp_path / "resumed"
    )
    train_inprocess(EditLoraTask, first)
    resumed = make_recipe(
        "flux_kontext",
        "train.max_steps=4",
        "validation.max_images=0",
        "train.resume_from_checkpoint=latest",
        out=tmp_path / "resumed",
    )
    train_inprocess(EditLoraTask, resumed)
    ckpts = sorted(p.name for p in (tmp_path / "resumed" / "checkpoints").iterdir())
    assert ckpts == ["checkpoint-2", "checkpoint-4"]
    optimizer = torch.load(tmp_path / "resumed/checkpoints/checkpoint-4/optimizer.bin", weights_only=False)
    assert {int(s["step"]) for s in optimizer["state"].values()} == {4}  # AdamW's counter continued
    a = load_file(tmp_path / "full/final/pytorch_lora_weights.safetensors")
    b = load_file(tmp_path / "resumed/final/pytorch_lora_weights.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)


def test_edit_lora_rejects_controlnet_family(make_recipe):
    with pytest.raises(ValueError, match="edit LoRA needs a family"):
        EditLoraTask(make_recipe("flux"))


def test_precompute_fills_caches_before_training(make_recipe, train_inprocess, tmp_path):
    recipe = make_recipe(
        "flux_kontext",
        "train.max_steps=2",
        "cache.precompute=true",
        "cache.offload_encoders=true",
        f"cache.folder={tmp_path / 'cache'}",
    )
    final, task = train_inprocess(EditLoraTask, recipe)
    # 4 pairs × (LQ + HQ) encoded up front; both training steps then only hit the disk cache
    assert task.latent_cache.misses == 8 and task.latent_cache.hits == 4
    assert (
        len(task.latent_cache) == 8 and len(list((tmp_path / "cache" / "text").glob("*/*.safetensors"))) >= 1
    )
    assert (final / "pytorch_lora_weights.safetensors").is_file()
    assert task.pipe.vae.device.type == "cpu"  # offloaded after validation again
