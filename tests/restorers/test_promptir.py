"""PromptIR: official layout (decoder=True), any-size restore, Hub round trip, registry, Lightning
checkpoint conversion."""

from __future__ import annotations

import pytest
import torch

from ggt_hf.restorers.promptir import PromptIR, PromptIRConfig

pytestmark = pytest.mark.usefixtures("torch_single_thread")

TINY = {
    "dim": 8,
    "num_blocks": [1, 1, 1, 1],
    "num_refinement_blocks": 1,
    "heads": [1, 1, 2, 2],
    "prompt_dims": [8, 8, 16],
    "prompt_sizes": [8, 4, 2],
    "prompt_len": 2,
}


@pytest.fixture
def tiny() -> PromptIR:
    torch.manual_seed(0)
    return PromptIR(PromptIRConfig(**TINY))


def test_official_keys_and_shapes(restorer_contract):
    model = restorer_contract.official_keys(PromptIR, "promptir__decoder")
    assert model.config == PromptIRConfig()  # our defaults are the official model
    assert model.num_parameters() == 35_592_263  # counted from the official code


def test_restore_odd_size(tiny, restorer_contract):
    restorer_contract.restore_odd_size(tiny)
    assert tiny.aux_loss is None


def test_prompts_depend_on_the_image(tiny):
    """The prompt weights come from the features: swapping the prompt bank changes the output."""
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        before = tiny(x)
        tiny.prompt2.prompt_param.mul_(-1)
        assert not torch.allclose(tiny(x), before)


def test_round_trip(tiny, tmp_path, restorer_contract):
    restorer_contract.round_trip(tiny, tmp_path)


def test_registry(restorer_contract):
    restorer_contract.registry("promptir", PromptIR, **TINY)


def test_convert_lightning_checkpoint(tiny, tmp_path, restorer_contract):
    restorer_contract.convert_synthetic("promptir", tiny, tmp_path, top_key="state_dict", prefix="net.")


def test_unused_official_layers_can_be_dropped():
    kept = PromptIR(PromptIRConfig(**TINY)).state_dict()
    dropped = PromptIR(PromptIRConfig(**TINY, keep_unused_layers=False)).state_dict()
    removed = sorted({k.split(".")[0] for k in set(kept) - set(dropped)})
    assert removed == [
        "chnl_reduce1",
        "chnl_reduce2",
        "chnl_reduce3",
        "reduce_noise_channel_1",
        "reduce_noise_channel_2",
        "reduce_noise_channel_3",
    ]
    assert set(dropped) < set(kept)
