"""Contract of ggt_hf.degrade: shapes, determinism, replay, JSON round trip, validation."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from PIL import Image
from skimage import data

from ggt_hf.constants import CATEGORIES
from ggt_hf.degrade import (
    DEGRADATIONS,
    PARAMS_VERSION,
    Degradation,
    Degraded,
    degrade,
    get_degradation,
    replay,
)

PHOTOS = ("astronaut", "coffee", "chelsea")


def _crop(name: str, size: int = 256) -> np.ndarray:
    img = getattr(data, name)()
    h, w = img.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return np.ascontiguousarray(img[top : top + size, left : left + size])


@pytest.fixture(scope="module")
def crops() -> dict[str, np.ndarray]:
    return {name: _crop(name) for name in PHOTOS}


@pytest.fixture(scope="module")
def big() -> np.ndarray:
    return np.asarray(Image.fromarray(data.astronaut()).resize((1024, 1024), Image.BICUBIC))


def test_registry_matches_categories() -> None:
    assert tuple(DEGRADATIONS) == CATEGORIES
    names = [deg.name for deg in DEGRADATIONS.values()]
    assert len(set(names)) == len(names)
    for category, deg in DEGRADATIONS.items():
        assert isinstance(deg, Degradation)
        assert deg.category == category
    assert get_degradation("Low-Light") is DEGRADATIONS["low_light"]
    with pytest.raises(TypeError):
        DEGRADATIONS["rain"] = DEGRADATIONS["snow"]  # type: ignore[index]


@pytest.mark.parametrize("category", CATEGORIES)
@pytest.mark.parametrize("photo", PHOTOS)
def test_shape_dtype_and_replay_after_json(crops, category: str, photo: str) -> None:
    img = crops[photo]
    before = img.copy()
    out = degrade(img, category, seed=11)
    assert isinstance(out, Degraded)
    assert out.image.shape == img.shape and out.image.dtype == np.uint8
    assert not np.array_equal(out.image, img)
    np.testing.assert_array_equal(img, before)  # the input is not modified

    restored = json.loads(json.dumps(out.params))
    assert restored == out.params
    np.testing.assert_array_equal(replay(img, restored), out.image)
    np.testing.assert_array_equal(replay(img, out.params), out.image)


@pytest.mark.parametrize("category", CATEGORIES)
def test_params_header(crops, category: str) -> None:
    params = degrade(crops["coffee"], category, seed=5).params
    deg = DEGRADATIONS[category]
    assert params["name"] == deg.name
    assert params["category"] == category
    assert params["seed"] == 5
    assert params["version"] == PARAMS_VERSION
    assert (params["height"], params["width"]) == (256, 256)


@pytest.mark.parametrize("category", CATEGORIES)
def test_same_seed_same_output_different_seed_different_params(crops, category: str) -> None:
    img = crops["astronaut"]
    a, b = degrade(img, category, seed=3), degrade(img, category, seed=3)
    np.testing.assert_array_equal(a.image, b.image)
    assert a.params == b.params
    c = degrade(img, category, seed=4)
    strip = {k: v for k, v in c.params.items() if k != "seed"}
    assert strip != {k: v for k, v in a.params.items() if k != "seed"}
    assert not np.array_equal(a.image, c.image)


@pytest.mark.parametrize("category", CATEGORIES)
def test_replay_does_not_depend_on_global_rng_or_memory_layout(category: str) -> None:
    img = _crop("chelsea", 200)
    out = degrade(img, category, seed=21)
    np.random.seed(0)  # legacy global state must not matter
    view = data.chelsea()[50:250, 125:325]  # same pixels, non-contiguous view
    assert not view.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(replay(view, out.params), out.image)
    np.testing.assert_array_equal(degrade(view, category, seed=21).image, out.image)


def test_aliases_and_numpy_seed(crops) -> None:
    img = crops["coffee"]
    ref = degrade(img, "haze", seed=9)
    fog = degrade(img, "Fog", seed=np.int64(9))
    np.testing.assert_array_equal(ref.image, fog.image)
    assert fog.params == ref.params and isinstance(fog.params["seed"], int)


@pytest.mark.parametrize("category", CATEGORIES)
def test_full_size_run(big, category: str) -> None:
    out = degrade(big, category, seed=2024)
    assert out.image.shape == (1024, 1024, 3) and out.image.dtype == np.uint8
    params = json.loads(json.dumps(out.params))
    np.testing.assert_array_equal(replay(big, params), out.image)


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (np.zeros((64, 64, 3), dtype=np.float32), "uint8"),
        (np.zeros((64, 64), dtype=np.uint8), "H x W x 3"),
        (np.zeros((64, 64, 4), dtype=np.uint8), "H x W x 3"),
        (np.zeros((3, 64, 64), dtype=np.uint8), "H x W x 3"),
        (np.zeros((8, 64, 3), dtype=np.uint8), "at least"),
        ([[[0, 0, 0]]], "numpy array"),
    ],
)
def test_bad_images_raise(image, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        degrade(image, "rain", seed=0)
    with pytest.raises(ValueError, match=match):
        replay(image, {"category": "rain"})


@pytest.mark.parametrize("category", ["", "sunny", "blur", None])
def test_unknown_category_raises(crops, category) -> None:
    with pytest.raises(ValueError, match="unknown category"):
        degrade(crops["coffee"], category, seed=0)


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True, None])
def test_bad_seed_raises(crops, seed) -> None:
    with pytest.raises(ValueError, match="seed"):
        degrade(crops["coffee"], "snow", seed=seed)


def test_replay_rejects_mismatched_params(crops) -> None:
    img = crops["astronaut"]
    params = degrade(img, "old_photo", seed=1).params
    with pytest.raises(ValueError, match="drawn for 256x256"):
        replay(_crop("astronaut", 128), params)
    with pytest.raises(ValueError, match="mapping"):
        replay(img, [params])
    for key in ("name", "category", "seed", "version", "height", "width"):
        broken = {k: v for k, v in params.items() if k != key}
        with pytest.raises(ValueError, match=key):
            replay(img, broken)
    with pytest.raises(ValueError, match="does not match"):
        replay(img, {**params, "name": "rain_streaks"})
    with pytest.raises(ValueError, match="unknown category"):
        replay(img, {**params, "category": "tornado"})
    with pytest.raises(ValueError, match="version"):
        replay(img, {**params, "version": PARAMS_VERSION + 1})
    gutted = copy.deepcopy(params)
    del gutted["grain"]
    with pytest.raises(ValueError, match="grain"):
        replay(img, gutted)
