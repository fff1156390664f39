"""DA-CLIP (universal IR with IR-SDE): official layout and parameter counts, seeded sampling in
``forward``, the official training objective, Hub round trip, registry, two-file conversion and a
CLI restore of a real photo."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
import torch

from ggt_hf.cli import main
from ggt_hf.restorers.convert import CheckpointMismatchError, convert_checkpoint
from ggt_hf.restorers.daclip import DACLIP, DACLIPConfig

pytestmark = pytest.mark.usefixtures("torch_single_thread")

TINY = {
    "embed_dim": 16,
    "vision_image_size": 32,
    "vision_layers": 2,
    "vision_width": 32,
    "vision_head_width": 16,
    "vision_patch_size": 16,
    "text_context_length": 8,
    "text_vocab_size": 50,
    "text_width": 16,
    "text_heads": 2,
    "text_layers": 1,
    "nf": 16,
    "ch_mult": [1, 2, 2, 4],
    "context_dim": 16,
    "sde_steps": 3,
}


@pytest.fixture
def tiny() -> DACLIP:
    """A tiny DA-CLIP whose zero-initialised parts (controller outputs, cross-attention) act."""
    torch.manual_seed(0)
    model = DACLIP(DACLIPConfig(**TINY))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return model


def test_official_keys_and_shapes(restorer_contract):
    model = restorer_contract.official_keys(DACLIP, "daclip__universal_ir")
    assert model.config == DACLIPConfig()  # our defaults are the released models
    # counted from the official code: CLIP ViT-B/32 151,277,313 + controller 94,936,320
    # + logit_scale 1 (DaCLIP 246,213,634) + ConditionalUNet 48,975,747
    assert sum(p.numel() for p in model.daclip.clip.parameters()) == 151_277_313
    assert sum(p.numel() for p in model.daclip.visual_control.parameters()) == 94_936_320
    assert sum(p.numel() for p in model.unet.parameters()) == 48_975_747


def test_restore_odd_size_is_seeded(tiny, restorer_contract):
    first = restorer_contract.restore_odd_size(tiny)
    assert torch.equal(restorer_contract.restore_odd_size(tiny), first)  # same seed, same output
    tiny.config.seed = 1
    assert not torch.equal(restorer_contract.restore_odd_size(tiny), first)
    assert first.min() >= 0 and first.max() <= 1


def test_degradation_embedding_conditions_the_unet(tiny):
    """The controller's embedding reaches the UNet: a different controller changes the output."""
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        before = tiny(x)
        tiny.daclip.visual_control.proj.mul_(-3)
        assert not torch.allclose(tiny(x), before)


def test_training_objective_trains_the_unet_only(tiny):
    tiny.train()
    assert not tiny.daclip.training  # the frozen encoder stays in eval mode
    lq, hq = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    loss = tiny(lq, hq)
    assert loss.ndim == 0 and torch.isfinite(loss) and loss > 0
    loss.backward()
    assert all(p.grad is None for p in tiny.daclip.parameters())
    assert all(p.grad is not None for p in tiny.unet.parameters() if p.requires_grad)


def test_round_trip(tiny, tmp_path, restorer_contract):
    restorer_contract.round_trip(tiny, tmp_path)


def test_registry(restorer_contract):
    restorer_contract.registry("daclip", DACLIP, **TINY)


def _official_files(model: DACLIP, folder):
    """The two released files' wrappings: open_clip's trainer checkpoint (``state_dict`` with
    ``module.`` prefixes, as saved from DDP) and the UNet's plain state dict."""
    state = model.state_dict()
    encoder = {
        "module." + k[len("daclip.") :]: v.clone() for k, v in state.items() if k.startswith("daclip.")
    }
    unet = {k[len("unet.") :]: v.clone() for k, v in state.items() if k.startswith("unet.")}
    folder.mkdir()
    torch.save(
        {"epoch": 30, "name": "daclip", "state_dict": encoder, "optimizer": {"state": {}}},
        folder / "daclip.pt",
    )
    torch.save(unet, folder / "universal-ir.pth")
    return folder / "daclip.pt", folder / "universal-ir.pth"


def test_convert_two_files_and_restore_a_photo(tiny, tmp_path, photos):
    encoder, unet = _official_files(tiny, tmp_path / "official")
    out = tmp_path / "converted"
    overrides = [f"--set={k}={json.dumps(v)}" for k, v in asdict(tiny.config).items() if k != "model_type"]
    args = ["convert", "--model", "daclip", "--checkpoint", str(encoder), str(unet), "--out", str(out)]
    assert main([*args, *overrides]) == 0
    from ggt_hf.leaderboard.model_repo import _check_files, check_config
    from ggt_hf.restorers import load_restorer

    # the leaderboard worker's checks of a pinned Hub repo accept the converted folder's files
    _check_files("user/daclip", {p.name: p.stat().st_size for p in out.iterdir()})
    assert check_config("user/daclip", (out / "config.json").read_text()) == "daclip"

    converted = load_restorer(str(out), device="cpu").state_dict()
    assert converted.keys() == tiny.state_dict().keys()
    assert all(torch.equal(converted[k], v) for k, v in tiny.state_dict().items())
    photo = tmp_path / "photo.png"
    photos[0].crop((0, 0, 72, 56)).save(photo)
    restored = tmp_path / "restored.png"
    assert (
        main(["restore", "--model", str(out), str(photo), str(restored), "--tile", "48", "--overlap", "16"])
        == 0
    )
    from PIL import Image

    assert Image.open(restored).size == (72, 56)


def test_encoder_alone_converts_with_a_fresh_unet(tiny, tmp_path):
    """The released encoder without the UNet: how the official training starts."""
    encoder, unet = _official_files(tiny, tmp_path / "official")
    overrides = {k: v for k, v in asdict(tiny.config).items() if k != "model_type"}
    out = convert_checkpoint("daclip", encoder, tmp_path / "out", overrides)
    from ggt_hf.restorers import load_restorer

    converted = load_restorer(str(out), device="cpu").state_dict()
    original = tiny.state_dict()
    assert all(torch.equal(converted[k], v) for k, v in original.items() if k.startswith("daclip."))
    assert not all(torch.equal(converted[k], v) for k, v in original.items() if k.startswith("unet."))
    with pytest.raises(CheckpointMismatchError, match="expects 1-2 checkpoint file"):
        convert_checkpoint("daclip", [encoder, unet, unet], tmp_path / "out3", overrides)


def test_tiles_share_the_whole_image_embedding(tiny):
    """Tiled restoration embeds the whole image once (as the official test does), not each tile."""
    import numpy as np

    from ggt_hf.restorers.tiling import restore_image

    image = np.random.default_rng(0).integers(0, 255, (40, 72, 3), dtype=np.uint8)
    seen, real = [], tiny._encode
    tiny._encode = lambda pixels: seen.append(tuple(pixels.shape)) or real(pixels)
    restored = restore_image(tiny, image, tile=32, overlap=8, device="cpu")
    assert seen == [(1, 3, 32, 32)]  # once, the whole image at the CLIP input size; the tiles reuse it
    assert restored.size == (72, 40) and tiny._pinned_contexts is None  # released afterwards

    seen.clear()
    tiny(torch.rand(2, 3, 32, 48))  # outside a tiled restore each call embeds its own input
    assert seen == [(2, 3, 32, 32)]
