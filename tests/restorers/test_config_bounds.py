"""Config dimensions and weights-file headers are bounded before anything is allocated (issue 21.9, 21.10).

A ~200-byte config.json with ``width=200000`` made ``ggt restore`` try a 320 GB allocation, and
``width=12000`` took 9 GB and 28 s, before any weight was read; a safetensors header declaring a
shape of 1e14 was refused as an internal bug (exit 1, "run again with --debug").
"""

from __future__ import annotations

import json
import struct
from dataclasses import MISSING, fields
from pathlib import Path

import pytest
import torch
from PIL import Image

from ggt_hf.cli import main
from ggt_hf.errors import BadWeightsError, ModelConfigError
from ggt_hf.restorers import RESTORERS, build_restorer, get_restorer_class, load_restorer
from ggt_hf.restorers.config_bounds import MAX_MODEL_ELEMENTS, check_restorer_config
from ggt_hf.restorers.nafnet import NAFNet
from ggt_hf.runtime.error_reporting import EXIT_USAGE

TINY_NAFNET = {"width": 4, "middle_blk_num": 1, "enc_blk_nums": [1, 1], "dec_blk_nums": [1, 1]}


@pytest.fixture
def real_builds(monkeypatch) -> list[str]:
    """Each NAFNet construction's device; one off the meta device fails the test at once."""
    devices: list[str] = []
    original = NAFNet.__init__

    def spy(self, *args, **kwargs):
        device = torch.empty(0).device.type
        devices.append(device)
        if device != "meta":
            raise AssertionError("a NAFNet was built with real tensors")
        original(self, *args, **kwargs)

    monkeypatch.setattr(NAFNet, "__init__", spy)
    return devices


@pytest.fixture
def tiny_folder(tmp_path) -> Path:
    folder = tmp_path / "tiny"
    build_restorer("nafnet", **TINY_NAFNET).save_pretrained(folder)
    return folder


def _with_config(folder: Path, **changes) -> Path:
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **changes}))
    return folder


def _numeric(f) -> bool:
    default = f.default_factory() if f.default_factory is not MISSING else f.default
    if isinstance(default, bool | str):
        return False
    return isinstance(default, int | float | list | tuple) or "float" in str(f.type)


@pytest.mark.parametrize("name", sorted(RESTORERS))
def test_every_numeric_field_is_bounded_and_the_default_passes(name) -> None:
    cls = get_restorer_class(name)
    declared = set(cls.config_class.BOUNDS)
    numeric = {f.name for f in fields(cls.config_class) if _numeric(f)}
    assert numeric - declared == set(), "numeric config fields without a bound"
    assert declared - {f.name for f in fields(cls.config_class)} == set(), "bounds of no field"
    meta = check_restorer_config(cls, None, name)  # the released model's config
    assert next(meta.parameters()).device.type == "meta"


@pytest.mark.parametrize("width", [200_000, 12_000])
def test_huge_width_is_refused_before_building(tiny_folder, real_builds, width) -> None:
    _with_config(tiny_folder, width=width)
    with pytest.raises(ModelConfigError, match=rf"width={width} is out of bounds: an integer in \[1, 1024\]"):
        load_restorer(str(tiny_folder))
    assert real_builds == []  # refused on the field, not even built on the meta device
    with pytest.raises(ModelConfigError, match=f"width={width}"):
        build_restorer("nafnet", width=width)


def test_a_too_large_model_within_field_bounds_is_counted_on_meta(tiny_folder, real_builds) -> None:
    _with_config(tiny_folder, width=1024, middle_blk_num=12, enc_blk_nums=[2, 2, 4, 8], dec_blk_nums=[2] * 4)
    with pytest.raises(ModelConfigError, match=f"over the {MAX_MODEL_ELEMENTS:,} limit"):
        load_restorer(str(tiny_folder))
    assert real_builds == ["meta"]


def test_wrong_types_and_lists_are_refused_without_quoting_text(tiny_folder, real_builds) -> None:
    for changes, shown in (
        ({"enc_blk_nums": [1] * 40}, r"enc_blk_nums=\[1, 1"),
        ({"width": "<script>"}, "width=<a str>"),
        ({"width": True}, "width=True"),
        ({"middle_blk_num": 1.5}, "middle_blk_num=1.5"),
    ):
        with pytest.raises(ModelConfigError, match=shown) as info:
            load_restorer(str(_with_config(tiny_folder, **changes)))
        assert "<script>" not in str(info.value)
        _with_config(tiny_folder, **TINY_NAFNET)


def test_a_normal_config_loads(tiny_folder) -> None:
    model = load_restorer(str(tiny_folder))
    assert model.config.width == 4


def test_leaderboard_submission_check_bounds_dimensions(tiny_folder) -> None:
    from ggt_hf.leaderboard.model_repo import check_config
    from ggt_hf.leaderboard.submission import InvalidSubmissionError

    assert check_config("alice/tiny", (tiny_folder / "config.json").read_text()) == "nafnet"
    _with_config(tiny_folder, width=200_000)
    with pytest.raises(InvalidSubmissionError, match="width=200000 is out of bounds"):
        check_config("eve/wide", (tiny_folder / "config.json").read_text())


def _header_file(path: Path, header: dict, data: bytes = b"") -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)


def test_huge_declared_shape_is_an_input_error_at_the_cli(tiny_folder, tmp_path, monkeypatch, capsys) -> None:
    key = next(iter(build_restorer("nafnet", **TINY_NAFNET).state_dict()))
    _header_file(
        tiny_folder / "model.safetensors",
        {key: {"dtype": "F32", "shape": [10**14], "data_offsets": [0, 4 * 10**14]}},
        b"\0" * 16,
    )
    Image.new("RGB", (16, 16), (10, 80, 160)).save(tmp_path / "a.png")
    monkeypatch.chdir(tmp_path)
    assert main(["restore", "--model", "tiny", "a.png", "out"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "tiny/model.safetensors" in err and repr(key) in err and "[100000000000000]" in err
    assert "--debug" not in err  # an input error, not reported as a bug


@pytest.mark.parametrize(
    "header, data, reason",
    [
        ({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}, b"\0" * 8, "holds 8 bytes"),
        ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 8, "offsets span 4"),
        ({"w": {"dtype": "X9", "shape": [1], "data_offsets": [0, 1]}}, b"\0", "unknown dtype"),
        ({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4, "not a list of sizes"),
        ([1, 2], b"", "not a JSON object"),
    ],
)
def test_malformed_headers_name_the_file(tmp_path, header, data, reason) -> None:
    from ggt_hf.restorers.weights_file import check_weights_file

    path = tmp_path / "model.safetensors"
    _header_file(path, header, data)
    with pytest.raises(BadWeightsError, match=reason) as info:
        check_weights_file(path)
    assert info.value.item == str(path)
    path.write_bytes(struct.pack("<Q", 10**12) + b"{}")
    with pytest.raises(BadWeightsError, match="past the end of the file"):
        check_weights_file(path)


def test_weights_of_another_config_are_refused_before_building(tiny_folder, tmp_path, real_builds) -> None:
    """The config says width 8, the weights are width 4: named tensor and shapes, no real build."""
    _with_config(tiny_folder, width=8)
    with pytest.raises(BadWeightsError, match=r"tensor '[a-z0-9._]+' has shape \[.+\], the model's is \["):
        load_restorer(str(tiny_folder))
    assert real_builds == ["meta"]
