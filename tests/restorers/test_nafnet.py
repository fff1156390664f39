"""NAFNet: official layout, any-size restore, Hub round trip, registry, official checkpoint conversion."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ggt_hf.restorers.nafnet import NAFNet, NAFNetConfig
from ggt_hf.restorers.nafnet.modeling_nafnet import LayerNorm2d

pytestmark = pytest.mark.usefixtures("torch_single_thread")

TINY = {"width": 8, "middle_blk_num": 1, "enc_blk_nums": [1, 1], "dec_blk_nums": [1, 1]}


@pytest.fixture
def tiny() -> NAFNet:
    torch.manual_seed(0)
    model = NAFNet(NAFNetConfig(**TINY))
    with torch.no_grad():  # beta/gamma start at 0 (blocks = identity); make every block count
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


@pytest.mark.parametrize(
    ("golden", "params"), [("nafnet__sidd_width32", 29_159_715), ("nafnet__gopro_width64", 67_888_835)]
)
def test_official_keys_and_shapes(restorer_contract, golden, params):
    model = restorer_contract.official_keys(NAFNet, golden)
    assert model.num_parameters() == params  # the 29.1M / 67.9M of the released models


def test_default_config_is_sidd_width32():
    cfg = NAFNetConfig()
    assert (cfg.width, cfg.middle_blk_num, cfg.enc_blk_nums, cfg.dec_blk_nums) == (
        32,
        12,
        [2, 2, 4, 8],
        [2, 2, 2, 2],
    )


def test_restore_odd_size(tiny, restorer_contract):
    restorer_contract.restore_odd_size(tiny)
    assert tiny.size_multiple == 4


def test_forward_pads_itself_like_the_official(tiny):
    x = torch.rand(1, 3, 13, 22)
    with torch.no_grad():
        y = tiny(x)
        padded = tiny(F.pad(x, (0, 2, 0, 3)))  # the official zero padding, done by hand
    assert y.shape == x.shape
    torch.testing.assert_close(y, padded[..., :13, :22])


def test_layer_norm_2d_is_a_channel_layer_norm():
    norm = LayerNorm2d(6)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.5, 0.5)
    x = torch.randn(2, 6, 5, 7)
    expected = F.layer_norm(x.permute(0, 2, 3, 1), (6,), norm.weight, norm.bias, eps=1e-6).permute(0, 3, 1, 2)
    torch.testing.assert_close(norm(x), expected, atol=1e-5, rtol=1e-5)


def test_round_trip(tiny, tmp_path, restorer_contract):
    restorer_contract.round_trip(tiny, tmp_path)


def test_registry(restorer_contract):
    restorer_contract.registry("nafnet", NAFNet, **TINY)


def test_convert_basicsr_checkpoint(tiny, tmp_path, restorer_contract):
    restorer_contract.convert_synthetic("nafnet", tiny, tmp_path, top_key="params", prefix="module.")
