"""Shared data fixtures for training tests: real-photo pairs as a pair folder, a packed dataset and a
clean-image folder (session-scoped: built once, read-only for tests).

* ``training_pairs_dir`` — ``lq/<category>/<id>.png`` + ``hq/...``: 12 pairs cut from the bundled
  photos (sizes 96×96 to 128×80, so crops, non-square images and padding are all exercised), LQ made
  by ``ggt_hf.degrade`` for the pair's category.
* ``packed_pairs`` — the same pairs packed with ``ggt_hf.hub.pack`` (``load_dataset`` works on it).
* ``clean_images_dir`` — 6 HQ photos (no LQ), for on-the-fly degradation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ggt_hf.constants import CATEGORIES
from ggt_hf.degrade import degrade
from ggt_hf.hub.pack import PackConfig, pack
from ggt_hf.hub.pairs import pairs_from_dir

TRAINING_PAIRS = 12
_SIZES = ((96, 96), (128, 96), (112, 112), (128, 80))


def photo_crop(photo: Image.Image, index: int, size: tuple[int, int]) -> np.ndarray:
    """A seeded crop of a real photo resized to ``size`` (w, h), as uint8 HWC."""
    rng = np.random.default_rng(index)
    w, h = photo.size
    side = int(min(w, h) * rng.uniform(0.5, 0.9))
    left, top = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
    crop = photo.crop((left, top, left + side, top + side)).resize(size, Image.Resampling.BICUBIC)
    return np.asarray(crop.convert("RGB"))


@pytest.fixture(scope="session")
def training_pairs_dir(tmp_path_factory, photos) -> Path:
    root = tmp_path_factory.mktemp("training_pairs")
    for i in range(TRAINING_PAIRS):
        category = CATEGORIES[i % len(CATEGORIES)]
        hq = photo_crop(photos[i % len(photos)], i, _SIZES[i % len(_SIZES)])
        lq = degrade(hq, category, seed=i).image
        for side, arr in (("lq", lq), ("hq", hq)):
            folder = root / side / category
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(folder / f"t{i:02d}.png")
    return root


@pytest.fixture(scope="session")
def packed_pairs(tmp_path_factory, training_pairs_dir) -> Path:
    out = tmp_path_factory.mktemp("packed") / "ds"
    records, problems = pairs_from_dir(training_pairs_dir, split="train")
    assert not problems
    pack(records, out, PackConfig(workers=1), progress=False)
    return out


@pytest.fixture(scope="session")
def clean_images_dir(tmp_path_factory, photos) -> Path:
    root = tmp_path_factory.mktemp("clean")
    for i in range(6):
        Image.fromarray(photo_crop(photos[i % len(photos)], 100 + i, (96, 96))).save(root / f"c{i}.png")
    return root
