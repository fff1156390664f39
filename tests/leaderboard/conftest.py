"""Leaderboard fixtures: a tiny packed test split of real photos, prediction zips, a tiny restorer."""

from __future__ import annotations

import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from ggt_hf.hub.pack import pack
from ggt_hf.hub.pairs import pairs_from_dir
from ggt_hf.restorers import RESTORERS
from ggt_hf.restorers.base import Restorer

SIZE = 48


@dataclass
class TinyConfig:
    model_type: str = "tiny_lb"
    gain: float = 1.0


class TinyRestorer(Restorer):
    """A 1×1 convolution initialised to ``gain``·identity: a real Restorer, saved as safetensors."""

    config_class = TinyConfig

    def __init__(self, config=None) -> None:
        super().__init__(config)
        self.conv = torch.nn.Conv2d(3, 3, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(3).view(3, 3, 1, 1) * self.config.gain)
            self.conv.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


@pytest.fixture
def tiny_registry(monkeypatch):
    """Registers :class:`TinyRestorer` as ``tiny_lb`` in the restorer registry for one test."""
    module = TinyRestorer.__module__
    sys.modules.setdefault(module, sys.modules[__name__])
    monkeypatch.setitem(RESTORERS, "tiny_lb", f"{module}:TinyRestorer")
    return TinyRestorer


@pytest.fixture
def test_split(make_pairs_dir, tmp_path) -> tuple[Path, Path]:
    """(packed dataset folder with a 4-image test split, the pairs folder it came from)."""
    pairs = make_pairs_dir(n=4, size=SIZE, name="lb_pairs")
    records, _ = pairs_from_dir(pairs, split="test")
    pack(records, tmp_path / "lb_ds", progress=False)
    return tmp_path / "lb_ds", pairs


@pytest.fixture
def expected(test_split) -> dict[str, tuple[int, int]]:
    from ggt_hf.leaderboard.submission import expected_images

    return expected_images(str(test_split[0]))


@pytest.fixture
def make_zip(tmp_path) -> Callable[..., Path]:
    """``make_zip(members: dict[name, bytes], name="sub.zip", symlinks=())`` → zip path."""

    def make(members: dict[str, bytes], name: str = "sub.zip", symlinks: tuple[str, ...] = ()) -> Path:
        path = tmp_path / name
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for member, data in members.items():
                archive.writestr(member, data)
            for member in symlinks:
                info = zipfile.ZipInfo(member)
                info.create_system = 3
                info.external_attr = (0o120777 << 16) & 0xFFFF0000
                archive.writestr(info, "/etc/passwd")
        return path

    return make


@pytest.fixture
def hq_members(test_split) -> dict[str, bytes]:
    """A valid submission: the HQ images themselves, named ``<id>.png``."""
    _, pairs = test_split
    return {p.name: p.read_bytes() for p in sorted((pairs / "hq").rglob("*.png"))}
