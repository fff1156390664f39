"""FoundIR (residual diffusion): official layout and parameter count, seeded 4-step sampling in
``forward``, the official training objective, Hub round trip, registry, conversion of the trainer's
``{step, model, opt0, ema, scaler}`` file (EMA by default, ``model`` on request, schedule buffers
dropped), pickle refusal, and a CLI restore of a real photo."""

from __future__ import annotations

import pytest
import torch

from ggt_hf.cli import main
from ggt_hf.restorers import load_restorer
from ggt_hf.restorers.convert import CheckpointMismatchError, convert_checkpoint
from ggt_hf.restorers.foundir import FoundIR, FoundIRConfig

pytestmark = pytest.mark.usefixtures("torch_single_thread")

TINY = {"dim": 8, "dim_mults": [1, 2], "resnet_block_groups": 4, "sampling_timesteps": 2}
SCHEDULE_BUFFERS = ["alphas", "alphas_cumsum", "delta", "delta_cumsum", "one_minus_alphas_cumsum", "betas2",
                    "betas", "betas2_cumsum", "betas_cumsum", "posterior_mean_coef1", "posterior_mean_coef2",
                    "posterior_mean_coef3", "posterior_variance", "posterior_log_variance_clipped"]  # fmt: skip


def _tiny(seed: int = 0) -> FoundIR:
    torch.manual_seed(seed)
    model = FoundIR(FoundIRConfig(**TINY))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


@pytest.fixture
def tiny() -> FoundIR:
    return _tiny()


def test_official_keys_and_shapes(restorer_contract):
    model = restorer_contract.official_keys(FoundIR, "foundir__generalist")
    assert model.config == FoundIRConfig()  # our defaults are the released generalist model
    assert model.num_parameters() == 36_261_187  # counted from the official UnetRes


def test_restore_odd_size_is_seeded(tiny, restorer_contract):
    first = restorer_contract.restore_odd_size(tiny)
    assert torch.equal(restorer_contract.restore_odd_size(tiny), first)
    assert first.min() >= 0 and first.max() <= 1  # the last step returns the clipped clean image


def test_sampling_steps_change_the_result(tiny):
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        two = tiny(x)
        tiny.config.sampling_timesteps = 4
        assert not torch.allclose(tiny(x), two)


def test_training_objective(tiny):
    loss = tiny.train()(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32))
    assert loss.ndim == 0 and torch.isfinite(loss) and loss > 0
    loss.backward()
    assert all(p.grad is not None for p in tiny.parameters())


def test_round_trip(tiny, tmp_path, restorer_contract):
    restorer_contract.round_trip(tiny, tmp_path)


def test_registry(restorer_contract):
    restorer_contract.registry("foundir", FoundIR, **TINY)


def _trainer_file(path, ema: FoundIR, online: FoundIR) -> None:
    """``Trainer.save``'s wrapping: ``model`` = the ResidualDiffusion state dict (with its schedule
    buffers), ``ema`` = ema_pytorch.EMA's state (``ema_model.*``, ``online_model.*``, counters)."""
    buffers = {name: torch.rand(1000) for name in SCHEDULE_BUFFERS}
    model = {**online.state_dict(), **buffers}
    ema_state = {f"ema_model.{k}": v for k, v in {**ema.state_dict(), **buffers}.items()}
    ema_state.update({f"online_model.{k}": v for k, v in model.items()})
    ema_state.update({"initted": torch.tensor(True), "step": torch.tensor(2000)})
    torch.save({"step": 200000, "model": model, "opt0": {"state": {}, "param_groups": []}, "ema": ema_state,
                "scaler": None}, path)  # fmt: skip


def _equal(folder, model: FoundIR) -> bool:
    loaded = load_restorer(str(folder), device="cpu").state_dict()
    return loaded.keys() == model.state_dict().keys() and all(
        torch.equal(loaded[k], v) for k, v in model.state_dict().items()
    )


def test_convert_ema_by_default_model_on_request(tmp_path, photos):
    ema, online = _tiny(0), _tiny(1)
    ckpt = tmp_path / "model-2000.pt"
    _trainer_file(ckpt, ema, online)
    sets = [
        "--set",
        "dim=8",
        "--set",
        "dim_mults=[1,2]",
        "--set",
        "resnet_block_groups=4",
        "--set",
        "sampling_timesteps=2",
    ]
    assert (
        main(
            [
                "convert",
                "--model",
                "foundir",
                "--checkpoint",
                str(ckpt),
                "--out",
                str(tmp_path / "ema"),
                *sets,
            ]
        )
        == 0
    )
    assert _equal(tmp_path / "ema", ema)
    args = [
        "convert",
        "--model",
        "foundir",
        "--checkpoint",
        str(ckpt),
        "--out",
        str(tmp_path / "raw"),
        "--key",
        "model",
    ]
    assert main([*args, *sets]) == 0
    assert _equal(tmp_path / "raw", online)
    photo = tmp_path / "photo.jpg"
    photos[1].crop((10, 10, 90, 70)).save(photo, quality=90)
    out = tmp_path / "restored"
    assert (
        main(
            [
                "restore",
                "--model",
                str(tmp_path / "ema"),
                str(photo),
                str(out),
                "--tile",
                "48",
                "--overlap",
                "16",
            ]
        )
        == 0
    )
    from PIL import Image

    assert Image.open(out / "photo.png").size == (80, 60)


class _Opaque:
    """An arbitrary object: files holding one need full unpickling."""


def test_pickled_objects_need_trust_pickle(tiny, tmp_path):
    path = tmp_path / "pickled.pt"
    torch.save({"model": tiny.state_dict(), "args": _Opaque()}, path)
    overrides = {"dim": 8, "dim_mults": [1, 2], "resnet_block_groups": 4, "sampling_timesteps": 2}
    with pytest.raises(CheckpointMismatchError, match="--trust-pickle"):
        convert_checkpoint("foundir", path, tmp_path / "refused", overrides, state_dict_key="model")
    assert not (tmp_path / "refused").exists()
    out = convert_checkpoint("foundir", path, tmp_path / "ok", overrides, "model", trust_pickle=True)
    assert _equal(out, tiny)


def test_tiny_images_restore(tiny):
    """Smaller than the UNet's padding multiple: restore() pads (replicate) before the UNet."""
    with torch.no_grad():
        out = tiny.restore(torch.rand(1, 3, 3, 5))
    assert out.shape == (1, 3, 3, 5) and torch.isfinite(out).all()
