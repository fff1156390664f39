"""MPRNet: official layout, any-size restore, Hub round trip, registry, official checkpoint conversion."""

from __future__ import annotations

import pytest
import torch

from ggt_hf.restorers.mprnet import MPRNet, MPRNetConfig

pytestmark = pytest.mark.usefixtures("torch_single_thread")

TINY = {"n_feat": 8, "scale_unetfeats": 4, "scale_orsnetfeats": 4, "num_cab": 1}


@pytest.fixture
def tiny() -> MPRNet:
    torch.manual_seed(0)
    return MPRNet(MPRNetConfig(**TINY))


def test_official_keys_and_shapes(restorer_contract):
    model = restorer_contract.official_keys(MPRNet, "mprnet__deraining")
    assert model.num_parameters() == 3_637_249  # the 3.6M of the deraining model


def test_restore_odd_size(tiny, restorer_contract):
    restorer_contract.restore_odd_size(tiny)
    assert tiny.size_multiple == 8


def test_three_stage_outputs_and_restore_takes_the_last_stage(tiny):
    x = torch.rand(2, 3, 32, 48)
    with torch.no_grad():
        stages = tiny(x)
        restored = tiny.restore(x)
    assert [tuple(s.shape) for s in stages] == [(2, 3, 32, 48)] * 3
    torch.testing.assert_close(restored, stages[0])
    assert not torch.allclose(stages[0], stages[1])


def test_one_prelu_is_shared_as_in_the_official_code(tiny):
    state = tiny.state_dict()
    prelu_keys = [k for k in state if k.endswith("body.1.weight") and state[k].numel() == 1]
    assert len(prelu_keys) > 10
    assert len({state[k].data_ptr() for k in prelu_keys}) == 1


def test_round_trip(tiny, tmp_path, restorer_contract):
    with torch.no_grad():
        next(m for m in tiny.modules() if isinstance(m, torch.nn.PReLU)).weight.fill_(0.1)
    restorer_contract.round_trip(tiny, tmp_path)


def test_registry(restorer_contract):
    restorer_contract.registry("mprnet", MPRNet, **TINY)


def test_convert_data_parallel_checkpoint(tiny, tmp_path, restorer_contract):
    restorer_contract.convert_synthetic("mprnet", tiny, tmp_path, top_key="state_dict", prefix="module.")
