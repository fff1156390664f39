"""Shared fixtures: real photos (the ones bundled in ggt_hf/sample_data) and small pair folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ggt_hf.constants import CATEGORIES
from ggt_hf.demo import sample_dir
from ggt_hf.images import load_image

SAMPLE_PHOTOS = [
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "hubble_deep_field.jpg",
    "camera.png",
]


@pytest.fixture(scope="session")
def photos() -> list[Image.Image]:
    """The bundled real photos, decoded to sRGB by ggt-hf (ICC converted, metadata dropped)."""
    return [load_image(sample_dir() / name).image for name in SAMPLE_PHOTOS]


def _crop_square(img: Image.Image, size: int, index: int) -> Image.Image:
    """A distinct square crop per index: the whole photo for the first round, then quadrants."""
    w, h = img.size
    block = index // len(SAMPLE_PHOTOS)
    if block == 0:
        side, left, top = min(w, h), (w - min(w, h)) // 2, (h - min(w, h)) // 2
    else:
        side = min(w, h) // 2
        quadrant = block % 4
        left = (w - side) * (quadrant % 2)
        top = (h - side) * (quadrant // 2)
    return img.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)


def _degrade_simple(img: Image.Image, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    arr = np.asarray(img).astype(np.float32)
    arr = arr * 0.7 + rng.normal(0, 12, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


@pytest.fixture
def make_pairs_dir(tmp_path: Path, photos: list[Image.Image]) -> Callable[..., Path]:
    """Factory: ``make_pairs_dir(n=6, size=128, nested=True, name="pairs", offset=0)``.

    Writes ``lq/<category>/<id>.png`` and ``hq/<category>/<id>.png`` (or flat ``lq/<id>.png`` when
    ``nested`` is false) from real photo crops; categories round-robin; ids ``p<offset+i>``.
    """

    def make(n: int = 6, size: int = 128, nested: bool = True, name: str = "pairs", offset: int = 0) -> Path:
        root = tmp_path / name
        for i in range(offset, offset + n):
            hq = _crop_square(photos[i % len(photos)], size, i)
            lq = _degrade_simple(hq, i)
            category = CATEGORIES[i % len(CATEGORIES)]
            for side, img in (("lq", lq), ("hq", hq)):
                folder = root / side / category if nested else root / side
                folder.mkdir(parents=True, exist_ok=True)
                img.save(folder / f"p{i}.png")
        return root

    return make
