"""The offline degradation analyser on real photos (skimage.data) degraded per category.

Seeds are fixed and chosen where the synthetic degradation actually shows the property under test:
``general`` seeds 2, 3, 6, 7 keep visible noise (seeds 1 and 5 are blur-dominated), rain seed 2 is
a single faint layer, and old-photo seed 0 is a light sepia that keeps most of coffee's
saturation, so those are left out of the "flagged present" checks.
"""

from __future__ import annotations

import json
from functools import cache
from io import BytesIO

import numpy as np
import pytest
from PIL import Image

from ggt_hf.backends.analysis import (
    MEASUREMENTS,
    STRONG,
    THRESHOLDS,
    Analysis,
    analyse,
    blockiness,
    blur_metric,
    noise_level,
)
from ggt_hf.constants import CATEGORIES
from ggt_hf.degrade import degrade

skdata = pytest.importorskip("skimage.data")

PHOTOS = ("astronaut", "coffee", "chelsea")


@cache
def photo(name: str, side: int = 512) -> np.ndarray:
    """A real photo as uint8 RGB, longest side at most ``side``."""
    img = Image.fromarray(getattr(skdata, name)())
    scale = side / max(img.size)
    if scale < 1:
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
    return np.asarray(img.convert("RGB"))


@cache
def degraded(name: str, category: str, seed: int) -> np.ndarray:
    return degrade(photo(name), category, seed).image


@cache
def analysed(name: str, category: str | None = None, seed: int = 0) -> Analysis:
    arr = photo(name) if category is None else degraded(name, category, seed)
    return analyse(Image.fromarray(arr))


#: category → (the measurement that must flag it, seeds where the degradation shows it)
MATCHING = {
    "general": ("noise", (2, 3, 6, 7)),
    "haze": ("haze", (0, 1, 2)),
    "low_light": ("exposure", (0, 1, 2)),
    "rain": ("streaks", (0, 1, 3)),
    "old_photo": ("fading", (1, 2, 3)),
}


@pytest.mark.parametrize("name", PHOTOS)
@pytest.mark.parametrize("category", sorted(MATCHING))
def test_matching_degradation_is_flagged_and_scores_above_clean(name, category):
    measurement, seeds = MATCHING[category]
    clean = analysed(name)[measurement]
    for seed in seeds:
        found = analysed(name, category, seed)[measurement]
        assert found.present, (name, category, seed, found)
        assert found.score > clean.score, (name, category, seed, found, clean)


@pytest.mark.parametrize("name", PHOTOS)
def test_old_photo_colour_scores_above_clean_for_every_seed(name):
    clean = analysed(name)
    for seed in range(4):
        aged = analysed(name, "old_photo", seed)
        assert aged["fading"].score > clean["fading"].score + 0.3
        assert aged["fading"].values["saturation"] < clean["fading"].values["saturation"]


@pytest.mark.parametrize("name", PHOTOS)
@pytest.mark.parametrize("side", [256, 512])
def test_clean_photos_flag_few(name, side):
    result = analyse(Image.fromarray(photo(name, side)))
    assert len(result.present) <= 1, result.present
    assert result.dominant_category == "general"


@pytest.mark.parametrize("name", PHOTOS)
def test_dominant_category(name):
    expected = {"haze": (0, 1, 2), "low_light": (0, 1, 2), "rain": (0, 1, 3), "old_photo": (1, 2, 3)}
    for category, seeds in expected.items():
        for seed in seeds:
            assert analysed(name, category, seed).dominant_category == category, (category, seed)
    for seed in (2, 3, 7):
        assert analysed(name, "general", seed).dominant_category == "general", seed


def test_json_round_trip():
    for category in (None, "haze", "rain"):
        result = analysed("astronaut", category, 1)
        data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
        assert data["present"] == result.present
        assert data["dominant_category"] in CATEGORIES
        assert set(data["measurements"]) == set(MEASUREMENTS)
        again = Analysis.from_dict(data)
        assert again == result
        assert again.to_dict() == result.to_dict()


def test_measurement_fields_and_strength():
    result = analysed("chelsea", "low_light", 1)
    for name, m in result.measurements.items():
        assert m.threshold == THRESHOLDS[name] and m.strong == STRONG[name]
        assert m.present == (m.score >= m.threshold) or name in ("haze", "color_cast")
        assert m.strength in ("mild", "moderate", "strong")
    assert result["exposure"].strength == "strong"
    assert set(result.evidence) == set(CATEGORIES)


def test_noise_estimator_on_pure_noise():
    rng = np.random.default_rng(0)
    for sigma in (5.0, 10.0, 20.0):
        grey = 128 + rng.normal(0, sigma, (256, 256))
        assert noise_level(grey) == pytest.approx(sigma, rel=0.2)


def test_blur_and_blockiness_estimators():
    grey = np.asarray(Image.fromarray(photo("astronaut")).convert("L"), dtype=np.float32)
    blurred = np.asarray(
        Image.fromarray(grey.astype(np.uint8)).resize((128, 128)).resize((512, 512)), np.float32
    )
    assert blur_metric(blurred / 255) > blur_metric(grey / 255) + 0.2
    buf = BytesIO()
    Image.fromarray(grey.astype(np.uint8)).save(buf, format="JPEG", quality=15)
    jpeg = np.asarray(Image.open(buf), dtype=np.float32)
    assert blockiness(jpeg) > THRESHOLDS["jpeg"] > blockiness(grey)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16"])
def test_other_modes_and_tiny_images(mode):
    rgb = Image.fromarray(photo("coffee"))
    img = rgb.convert("L").convert("I;16") if mode == "I;16" else rgb.convert(mode)
    result = analyse(img)
    assert (result.width, result.height) == img.size
    if mode in ("L", "I;16"):
        assert not result["haze"].present  # the dark channel prior needs colour
    tiny = analyse(img.resize((12, 9)))
    assert tiny.dominant_category in CATEGORIES
    json.dumps(tiny.to_dict(), allow_nan=False)
