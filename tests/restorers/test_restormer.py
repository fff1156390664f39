"""Restormer: official layout, any-size restore, Hub round trip, registry, official checkpoint conversion."""

from __future__ import annotations

import pytest
import torch

from ggt_hf.restorers.restormer import Restormer, RestormerConfig

pytestmark = pytest.mark.usefixtures("torch_single_thread")

TINY = {"dim": 8, "num_blocks": [1, 1, 1, 1], "num_refinement_blocks": 1, "heads": [1, 1, 2, 2]}


@pytest.fixture
def tiny() -> Restormer:
    torch.manual_seed(0)
    return Restormer(RestormerConfig(**TINY))


def test_official_keys_and_shapes(restorer_contract):
    model = restorer_contract.official_keys(Restormer, "restormer__deraining")
    assert model.config == RestormerConfig()  # our defaults are the official model
    assert model.num_parameters() == 26_126_644  # counted from the official code


def test_restore_odd_size(tiny, restorer_contract):
    restorer_contract.restore_odd_size(tiny)
    assert tiny.aux_loss is None


def test_forward_needs_multiple_of_8(tiny):
    with torch.no_grad():
        assert tiny(torch.rand(2, 3, 16, 24)).shape == (2, 3, 16, 24)
        with pytest.raises(RuntimeError):
            tiny(torch.rand(1, 3, 12, 20))


def test_round_trip(tiny, tmp_path, restorer_contract):
    restorer_contract.round_trip(tiny, tmp_path)


def test_registry(restorer_contract):
    restorer_contract.registry("restormer", Restormer, **TINY)


def test_convert_basicsr_checkpoint(tiny, tmp_path, restorer_contract):
    restorer_contract.convert_synthetic("restormer", tiny, tmp_path, top_key="params", prefix="module.")


def test_bias_free_and_dual_pixel_variants():
    model = Restormer(
        RestormerConfig(**TINY, LayerNorm_type="BiasFree", dual_pixel_task=True, inp_channels=6)
    )
    keys = model.state_dict()
    assert "skip_conv.weight" in keys
    assert "encoder_level1.0.norm1.body.weight" in keys
    assert "encoder_level1.0.norm1.body.bias" not in keys
    with torch.no_grad():
        assert model(torch.rand(1, 6, 16, 16)).shape == (1, 3, 16, 16)
