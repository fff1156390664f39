"""X-Restormer: official layout, any-size restore, Hub round trip, registry, checkpoint conversion."""

from __future__ import annotations

import pytest
import torch

from ggt_hf.restorers.x_restormer import XRestormer, XRestormerConfig

pytestmark = pytest.mark.usefixtures("torch_single_thread")

TINY = {
    "dim": 8,
    "num_blocks": [1, 1, 1, 1],
    "num_refinement_blocks": 1,
    "channel_heads": [1, 1, 2, 2],
    "spatial_heads": [1, 1, 2, 2],
    "window_size": 4,
    "spatial_dim_head": 4,
}


@pytest.fixture
def tiny() -> XRestormer:
    torch.manual_seed(0)
    return XRestormer(XRestormerConfig(**TINY))


def test_official_keys_and_shapes(restorer_contract):
    model = restorer_contract.official_keys(XRestormer, "x_restormer__paper")
    assert model.config == XRestormerConfig()  # our defaults are the official model
    assert model.size_multiple == 64  # 3 halvings x 8-pixel windows (official padding_size: 64)


def test_size_multiple_follows_window(tiny):
    assert tiny.size_multiple == 32
    assert XRestormer.size_multiple == 64


def test_restore_odd_size(tiny, restorer_contract):
    restorer_contract.restore_odd_size(tiny)
    assert tiny.aux_loss is None


def test_round_trip(tiny, tmp_path, restorer_contract):
    restorer_contract.round_trip(tiny, tmp_path)


def test_registry(restorer_contract):
    restorer_contract.registry("x_restormer", XRestormer, **TINY)


def test_convert_basicsr_checkpoint(tiny, tmp_path, restorer_contract):
    restorer_contract.convert_synthetic("x_restormer", tiny, tmp_path, top_key="params", prefix="")
