"""FLUX ControlNet training in-process on a tiny random FLUX and real photo pairs; the saved
ControlNet loads into a ``FluxControlNetPipeline`` through the diffusers backend (LQ as control)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ggt_hf.backends.base import RestoreRequest
from ggt_hf.backends.diffusers_backend import DiffusersBackend
from ggt_hf.generative.controlnet_flux import ControlNetFluxTask


def test_controlnet_trains_and_restores_through_backend(
    make_recipe, train_inprocess, tiny_pipelines, lq_photo
):
    recipe = make_recipe("flux", "train.max_steps=3", "train.checkpointing_steps=2")
    final, task = train_inprocess(ControlNetFluxTask, recipe)
    from diffusers import FluxControlNetModel

    controlnet = FluxControlNetModel.from_pretrained(final)
    assert controlnet.config.num_layers == 1 and controlnet.config.num_single_layers == 1
    trained = dict(controlnet.named_parameters())
    # ControlNet output projections start at zero and must have moved
    zero_init = [p for n, p in trained.items() if n.startswith("controlnet_blocks.")]
    assert zero_init and any(p.abs().sum() > 0 for p in zero_init)
    # only the ControlNet trained: the frozen transformer has no gradients
    assert all(p.grad is None for p in task.pipe.transformer.parameters())
    assert "FluxControlNetPipeline" in (final / "README.md").read_text()
    assert np.isfinite(json.loads((final / "eval_results.json").read_text())["psnr"])
    assert (final.parent / "checkpoints" / "checkpoint-2" / "optimizer.bin").is_file()

    backend = DiffusersBackend(
        str(tiny_pipelines("flux")), controlnet=str(final), num_inference_steps=2, max_side=64, device="cpu"
    )
    result = backend.restore(RestoreRequest(lq_photo, "Restore this photo.", seed=1, item_id="g1"))
    assert result.image.size == lq_photo.size
    assert result.metadata["pipeline"] == "FluxControlNetPipeline"
    assert result.metadata["controlnet"] == str(final)
    pipe = backend.load()
    assert isinstance(pipe.controlnet, FluxControlNetModel)
    # the control image matters: another LQ gives another restoration (same seed, same prompt)
    other = backend.restore(
        RestoreRequest(lq_photo.rotate(180), "Restore this photo.", seed=1, item_id="g1r")
    )
    assert np.abs(np.asarray(other.image, dtype=int) - np.asarray(result.image, dtype=int)).max() > 0


def test_controlnet_task_needs_flux_family(make_recipe):
    with pytest.raises(ValueError, match=r"needs model\.family 'flux'"):
        ControlNetFluxTask(make_recipe("flux_kontext"))


def test_controlnet_prediction_uses_the_control(make_recipe):
    """The residuals reach the transformer: changing the control changes the prediction once the
    ControlNet's zero-initialised control embedder and output blocks are non-zero."""
    from ggt_hf.training.core import make_accelerator

    recipe = make_recipe("flux")
    accelerator = make_accelerator(recipe.train)
    task = ControlNetFluxTask(recipe)
    task.setup(accelerator)
    task.on_prepared(task.modules_to_prepare())
    net = task.controlnet
    for block in [net.controlnet_x_embedder, *net.controlnet_blocks, *net.controlnet_single_blocks]:
        torch.nn.init.normal_(block.weight, std=0.1)
    text = task.adapter.collate_text([task.adapter.encode_text("Restore.", None, "cpu")])
    noisy, cond = torch.randn(1, 4, 8, 12), torch.randn(1, 4, 8, 12)
    sigmas = torch.tensor([0.5])
    with torch.no_grad():
        a = task.predict(noisy, cond, sigmas, text)
        b = task.predict(noisy, torch.zeros_like(cond), sigmas, text)
    assert a.shape == noisy.shape
    assert (a - b).abs().max() > 1e-6
