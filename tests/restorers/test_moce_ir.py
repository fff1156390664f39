"""MoCE-IR: official layout, routing / auxiliary loss, any-size restore, Hub round trip, registry,
Lightning checkpoint conversion."""

from __future__ import annotations

import pytest
import torch

from ggt_hf.restorers.moce_ir import MoCEIR, MoCEIRConfig
from ggt_hf.restorers.moce_ir.experts_moce_ir import expert_ranks

pytestmark = pytest.mark.usefixtures("torch_single_thread")

TINY = {
    "dim": 8,
    "num_blocks": [1, 1, 1, 1],
    "num_dec_blocks": [1, 1, 1],
    "num_refinement_blocks": 1,
    "heads": [1, 1, 2, 2],
}


@pytest.fixture
def tiny() -> MoCEIR:
    torch.manual_seed(0)
    return MoCEIR(MoCEIRConfig(**TINY))


def test_official_keys_and_shapes(restorer_contract):
    model = restorer_contract.official_keys(MoCEIR, "moce_ir__paper")
    assert model.config == MoCEIRConfig()  # our defaults are the official model
    assert model.num_parameters() == 25_353_796  # counted from the official code


def test_expert_widths_grow():
    assert expert_ranks("spread", 192, 2, 4) == [24, 48, 96, 192]
    assert expert_ranks("lin", 192, 2, 4) == [2, 3, 4, 5]
    with pytest.raises(ValueError, match="rank_type"):
        expert_ranks("nope", 8, 2, 4)


def test_restore_odd_size_is_deterministic_in_eval(tiny, restorer_contract):
    y = restorer_contract.restore_odd_size(tiny)
    assert tiny.aux_loss is None
    assert torch.equal(restorer_contract.restore_odd_size(tiny), y)


def test_aux_loss_in_training(tiny):
    tiny.train()
    x = torch.rand(4, 3, 16, 16)
    out = tiny(x)
    assert out.shape == x.shape
    assert tiny.aux_loss is not None and tiny.aux_loss.ndim == 0
    assert torch.isfinite(tiny.aux_loss) and tiny.aux_loss >= 0
    (out.abs().mean() + 0.01 * tiny.aux_loss).backward()
    router = tiny.dec[0][2].layers[0].adapter.routing
    assert router.gate[2].weight.grad is not None  # the balancing loss trains the router
    tiny.eval()
    with torch.no_grad():
        tiny(x)
    assert tiny.aux_loss is None


def test_batched_routing_is_per_sample(tiny):
    """Each image is routed on its own: a batch gives the same outputs as one image at a time."""
    x = torch.rand(3, 3, 16, 24)
    tiny.eval()
    with torch.no_grad():
        batched = tiny(x)
        single = torch.cat([tiny(x[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(batched, single, rtol=1e-4, atol=1e-5)


def test_routing_noise_at_eval_reproduces_official_randomness():
    torch.manual_seed(0)
    model = MoCEIR(MoCEIRConfig(**TINY, routing_noise_at_eval=True)).eval()
    router = model.dec[0][2].layers[0].adapter.routing
    x, emb = torch.rand(64, 32, 4, 4), torch.rand(64, 64)
    picks = [router(x, emb)[0].argmax(dim=1) for _ in range(4)]
    assert any(not torch.equal(picks[0], p) for p in picks[1:])


def test_round_trip(tiny, tmp_path, restorer_contract):
    restorer_contract.round_trip(tiny, tmp_path)


def test_registry(restorer_contract):
    restorer_contract.registry("moce_ir", MoCEIR, **TINY)


def test_convert_lightning_checkpoint(tiny, tmp_path, restorer_contract):
    # the LightningModule's FFT loss, should it hold state, is dropped rather than failing the load
    extra = {"aux_fn.window": torch.ones(3)}
    restorer_contract.convert_synthetic(
        "moce_ir", tiny, tmp_path, top_key="state_dict", prefix="net.", extra=extra
    )
