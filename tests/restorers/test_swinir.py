"""SwinIR: official layout, any-size restore, Hub round trip, registry, official checkpoint conversion."""

from __future__ import annotations

import pytest
import torch

from ggt_hf.restorers.swinir import SwinIR, SwinIRConfig

pytestmark = pytest.mark.usefixtures("torch_single_thread")

TINY = {"img_size": 16, "embed_dim": 12, "depths": [2, 2], "num_heads": [2, 2], "window_size": 4}


@pytest.fixture
def tiny() -> SwinIR:
    torch.manual_seed(0)
    return SwinIR(SwinIRConfig(**TINY))


def test_official_keys_and_shapes(restorer_contract):
    model = restorer_contract.official_keys(SwinIR, "swinir__color_dn")
    assert model.num_parameters() == 11_504_163
    # the shifted-window masks of img_size 128 are part of the official state dict
    assert model.state_dict()["layers.0.residual_group.blocks.1.attn_mask"].shape == (256, 64, 64)


def test_restore_odd_size(tiny, restorer_contract):
    y = restorer_contract.restore_odd_size(tiny)
    assert tiny.size_multiple == 4
    with torch.no_grad():  # the official forward reflect-pads to the window itself: same result
        torch.testing.assert_close(
            tiny(torch.rand(1, 3, 37, 53, generator=torch.Generator().manual_seed(0))), y
        )


def test_masks_stored_for_img_size_equal_the_computed_ones(tiny):
    block = tiny.layers[0].residual_group.blocks[1]
    assert block.shift_size == 2
    torch.testing.assert_close(block.attn_mask, block.calculate_mask((16, 16)))
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        stored = tiny(x)
        block.input_resolution = (0, 0)  # force the on-the-fly path
        torch.testing.assert_close(tiny(x), stored)


def test_mean_follows_the_module_and_is_not_saved(tiny):
    assert "mean" not in tiny.state_dict()
    assert tiny.to(torch.float64).mean.dtype == torch.float64


def test_grey_variant_and_sr_heads_refused():
    model = SwinIR(SwinIRConfig(**{**TINY, "in_chans": 1, "img_range": 255.0}))
    with torch.no_grad():
        assert model.restore(torch.rand(1, 1, 9, 10)).shape == (1, 1, 9, 10)
    with pytest.raises(ValueError, match="upscale=1"):
        SwinIR(SwinIRConfig(**TINY, upscale=2, upsampler="pixelshuffle"))


def test_gradient_checkpointing_matches(tiny):
    x = torch.rand(1, 3, 16, 16)
    tiny.train()
    tiny(x).sum().backward()
    plain = [p.grad.clone() for p in tiny.parameters()]
    tiny.zero_grad()
    for layer in tiny.layers:
        layer.residual_group.use_checkpoint = True
    tiny(x).sum().backward()
    for a, p in zip(plain, tiny.parameters(), strict=True):
        torch.testing.assert_close(p.grad, a)


def test_round_trip(tiny, tmp_path, restorer_contract):
    restorer_contract.round_trip(tiny, tmp_path)


def test_registry(restorer_contract):
    restorer_contract.registry("swinir", SwinIR, **TINY)


@pytest.mark.parametrize("top_key", ["params", "params_ema"])
def test_convert_kair_checkpoint(tiny, tmp_path, restorer_contract, top_key):
    restorer_contract.convert_synthetic("swinir", tiny, tmp_path, top_key=top_key)
