"""Official checkpoint conversion: unwrapping, prefixes, renames, strict loading with named errors,
weights-only reading, and the ``ggt convert`` command."""

from __future__ import annotations

import collections

import pytest
import torch

from ggt_hf.cli import main
from ggt_hf.restorers import build_restorer, load_restorer
from ggt_hf.restorers.checkpoint_layouts import OFFICIAL_CHECKPOINTS, CheckpointLayout, checkpoint_layout
from ggt_hf.restorers.convert import CheckpointMismatchError, convert_checkpoint, unwrap_state_dict

pytestmark = pytest.mark.usefixtures("torch_single_thread")

TINY = {"width": 4, "middle_blk_num": 1, "enc_blk_nums": [1], "dec_blk_nums": [1]}


@pytest.fixture
def tiny_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return build_restorer("nafnet", **TINY).state_dict()


def _save(tmp_path, obj, name="official.pth"):
    path = tmp_path / name
    torch.save(obj, path)
    return path


def test_every_registry_restorer_has_a_layout():
    from ggt_hf.restorers import RESTORERS

    assert set(OFFICIAL_CHECKPOINTS) == set(RESTORERS)
    assert checkpoint_layout("NAFNet") is OFFICIAL_CHECKPOINTS["nafnet"]
    with pytest.raises(CheckpointMismatchError, match="no official checkpoint layout"):
        checkpoint_layout("unet")


def test_unwrap_order_prefixes_renames_and_drops():
    t = torch.zeros(1)
    layout = CheckpointLayout(
        source="test",
        state_dict_keys=("params", "params_ema"),
        strip_prefixes=("module.", "net."),
        renames=((r"^old_head\.", "head."),),
        drop_keys=(r"^loss\.",),
    )
    raw = {"params_ema": {"module.a": t}, "params": {"module.net.old_head.w": t, "loss.k": t, "b": t}}
    assert sorted(unwrap_state_dict(raw, layout)) == ["b", "head.w"]  # "params" comes first
    assert sorted(unwrap_state_dict(raw, layout, state_dict_key="params_ema")) == ["a"]
    assert sorted(unwrap_state_dict({"module.x": t}, layout)) == ["x"]  # a bare state dict
    with pytest.raises(
        CheckpointMismatchError, match=r"none of the keys \['params', 'params_ema'\].*'optimizer'"
    ):
        unwrap_state_dict({"optimizer": {"lr": 1}}, layout, item="ckpt.pth")
    with pytest.raises(CheckpointMismatchError, match="not a state dict of tensors"):
        unwrap_state_dict({"params": {"a": 1}}, layout)


def test_convert_round_trip_with_config_overrides(tmp_path, tiny_state):
    wrapped = collections.OrderedDict((f"module.{k}", v) for k, v in tiny_state.items())
    path = _save(tmp_path, {"params": wrapped, "iter": 10})
    out = convert_checkpoint("nafnet", path, tmp_path / "out", config_overrides=TINY)
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    model = load_restorer(str(out), device="cpu")
    assert model.config.width == 4
    assert all(torch.equal(model.state_dict()[k], v) for k, v in tiny_state.items())


def test_missing_unexpected_and_wrong_shape_keys_are_named(tmp_path, tiny_state):
    state = dict(tiny_state)
    del state["intro.bias"]
    state["extra.weight"] = torch.zeros(2)
    state["ending.weight"] = torch.zeros(1, 1, 1, 1)
    path = _save(tmp_path, {"params": state})
    with pytest.raises(CheckpointMismatchError) as info:
        convert_checkpoint("nafnet", path, tmp_path / "out", config_overrides=TINY)
    message = str(info.value)
    assert str(path) in message
    assert "1 missing key(s): intro.bias" in message
    assert "1 unexpected key(s): extra.weight" in message
    assert "ending.weight (checkpoint (1, 1, 1, 1) vs model (3, 4, 3, 3))" in message
    assert not (tmp_path / "out").exists()


def test_wrong_variant_reports_shapes(tmp_path, tiny_state):
    path = _save(tmp_path, {"params": tiny_state})
    with pytest.raises(CheckpointMismatchError, match="wrong shape"):
        convert_checkpoint("nafnet", path, tmp_path / "out", config_overrides={**TINY, "width": 8})


class NotWeights:
    """Anything but tensors and containers: weights-only loading must refuse to unpickle it."""


def test_pickled_objects_are_refused_and_missing_files_named(tmp_path):
    path = _save(tmp_path, {"params": NotWeights()})
    with pytest.raises(CheckpointMismatchError, match="not a weights-only torch checkpoint"):
        convert_checkpoint("nafnet", path, tmp_path / "out")
    with pytest.raises(CheckpointMismatchError, match="checkpoint file not found"):
        convert_checkpoint("nafnet", tmp_path / "nope.pth", tmp_path / "out")


def test_ggt_convert_command(tmp_path, tiny_state, capsys):
    path = _save(tmp_path, {"params_ema": tiny_state, "params": {}})
    out = tmp_path / "converted"
    args = [
        "convert",
        "--model",
        "nafnet",
        "--checkpoint",
        str(path),
        "--out",
        str(out),
        "--key",
        "params_ema",
    ]
    args += [
        "--set",
        "width=4",
        "--set",
        "middle_blk_num=1",
        "--set",
        "enc_blk_nums=[1]",
        "--set",
        "dec_blk_nums=[1]",
    ]
    assert main(args) == 0
    assert "converted" in capsys.readouterr().out
    assert torch.equal(load_restorer(str(out)).state_dict()["intro.weight"], tiny_state["intro.weight"])
    # an empty entry, or the default config that does not fit these weights: bad input, exit 2
    base = ["convert", "--model", "nafnet", "--checkpoint", str(path), "--out", str(tmp_path / "x")]
    assert main(base) == 2
    assert "checkpoint entry 'params' is not a state dict of tensors" in capsys.readouterr().err
    assert main([*base, "--key", "params_ema"]) == 2
    assert "does not match the model config" in capsys.readouterr().err
