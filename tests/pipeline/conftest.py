"""Shared fixtures of the build pipeline tests: degraded real photos and a small build config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ggt_hf.constants import CATEGORIES
from ggt_hf.degrade import degrade
from ggt_hf.pipeline.config import BuildConfig


@pytest.fixture
def photo_dir(tmp_path, photos) -> Path:
    """Real photos, synthetically degraded, in category folders: stand-ins for real LQ photos."""
    root = tmp_path / "photos"
    for i in range(8):
        category = CATEGORIES[i % len(CATEGORIES)]
        img = photos[i % len(photos)].resize((288, 288))
        if i >= len(photos):
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        lq = degrade(np.asarray(img), category, seed=i).image
        (root / category).mkdir(parents=True, exist_ok=True)
        Image.fromarray(lq).save(root / category / f"photo{i}.png")
    return root


def build_config(photo_dir: Path, out: Path, **overrides) -> BuildConfig:
    data = {
        "name": "test-build",
        "output": str(out),
        "sources": [{"path": str(photo_dir), "license": "cc0-1.0"}],
        "backend": {"name": "classical", "concurrency": 2, "base_delay": 0.0},
        "prompt": "adaptive:heuristic",
        "vlm": {"name": "heuristic"},
        "qc": {"metric_thresholds": {"piqe": -100.0}, "max_attempts": 3},
        "image_size": 256,
        "min_side": 64,
        "workers": 2,
    }
    for key, value in overrides.items():
        target = data
        *parents, leaf = key.split("__")
        for p in parents:
            target = target[p]
        target[leaf] = value
    return BuildConfig.from_dict(data)


@pytest.fixture
def make_config():
    """:func:`build_config` as a fixture, for tests that build configs."""
    return build_config
