"""Automatic geometry/colour QC on real photos with known, exactly constructed transforms.

LQ and HQ are both rendered from a larger "world" photo (``skimage.data`` astronaut, coffee,
chelsea) by an exact similarity (PIL affine sampling), so the ground truth is known to sub-pixel
precision and no border fill enters the views. The LQ is mildly degraded (blur + noise) like a real
input; the HQ is the clean, transformed view, as an MFM would return it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageFilter

from ggt_hf.judging.geometry import (
    ColorShift,
    GeometryTolerances,
    Registration,
    check_geometry,
    color_shift,
    estimate_similarity,
)

skdata = pytest.importorskip("skimage.data")

NAMES = ("astronaut", "coffee", "chelsea")
LQ_SIDE = 384  # long side of the LQ views (the worlds are 1.25× bigger)


@pytest.fixture(scope="module")
def worlds() -> dict[str, Image.Image]:
    out = {}
    for name in NAMES:
        img = Image.fromarray(getattr(skdata, name)())
        f = LQ_SIDE * 1.25 / max(img.size)
        out[name] = img.resize((round(img.size[0] * f), round(img.size[1] * f)), Image.Resampling.LANCZOS)
    return out


def lq_size(world: Image.Image) -> tuple[int, int]:
    return round(world.size[0] / 1.25), round(world.size[1] / 1.25)


def view(
    world: Image.Image,
    size: tuple[int, int],
    *,
    scale: float = 1.0,
    rotation: float = 0.0,
    shift: tuple[float, float] = (0.0, 0.0),
) -> Image.Image:
    """The centred ``size`` view of ``world`` with its content moved by the similarity
    ``x' = scale · R(rotation) · x + shift`` (x from the view centre, y down, rotation in degrees
    counter-clockwise as displayed) — the geometric model of ``estimate_similarity``."""
    w, h = size
    th = math.radians(rotation)
    c, s = math.cos(th), math.sin(th)
    inv = np.array([[c, -s], [s, c]]) / scale  # (scale · R(θ))⁻¹ in (x, y-down)
    origin = np.array([w / 2 + shift[0], h / 2 + shift[1]])
    const = np.array(world.size) / 2 - inv @ origin
    data = (inv[0, 0], inv[0, 1], const[0], inv[1, 0], inv[1, 1], const[1])
    return world.transform(size, Image.Transform.AFFINE, data, resample=Image.Resampling.BICUBIC)


def degrade(img: Image.Image, seed: int = 0, sigma: float = 8.0) -> Image.Image:
    """A mild real-world-like LQ: slight blur plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    arr = np.asarray(img.filter(ImageFilter.GaussianBlur(1.0)), dtype=np.float64)
    return Image.fromarray(np.clip(arr + rng.normal(0, sigma, arr.shape), 0, 255).astype(np.uint8))


def pair(world: Image.Image, **motion) -> tuple[Image.Image, Image.Image]:
    size = lq_size(world)
    return degrade(view(world, size)), view(world, size, **motion)


def by_name(checks) -> dict:
    return {c.name: c for c in checks}


def arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.float64)


def img(a: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


# ------------------------------------------------------------------------------------ geometry


@pytest.mark.parametrize("name", NAMES)
def test_identity_all_checks_pass(worlds, name):
    lq, hq = pair(worlds[name])
    reg = estimate_similarity(lq, hq)
    assert isinstance(reg, Registration)
    assert abs(reg.dx) < 0.2 and abs(reg.dy) < 0.2
    assert reg.scale == pytest.approx(1.0, abs=0.003)
    assert reg.rotation_deg == pytest.approx(0.0, abs=0.05)
    assert reg.size_ratio == 1.0 and reg.confidence > 30
    checks = check_geometry(lq, hq)
    assert [c.name for c in checks] == ["shift", "scale", "rotation", "color_shift"]
    assert all(c.stage == "auto" and c.passed for c in checks), checks
    assert all(c.value is not None and c.reason for c in checks)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shift", [(7.0, -4.0), (-3.5, 2.25), (20.0, 12.0)])
def test_translation_recovered_within_half_a_pixel(worlds, name, shift):
    lq, hq = pair(worlds[name], shift=shift)
    reg = estimate_similarity(lq, hq)
    assert math.hypot(reg.dx - shift[0], reg.dy - shift[1]) < 0.5, reg
    assert reg.scale == pytest.approx(1.0, abs=0.005)
    assert reg.rotation_deg == pytest.approx(0.0, abs=0.1)


def test_np_roll_translation_and_shift_check(worlds):
    lq = view(worlds["astronaut"], lq_size(worlds["astronaut"]))
    hq = img(np.roll(arr(lq), (-4, 7), axis=(0, 1)))  # content 7 px right, 4 px up (wrapped)
    reg = estimate_similarity(degrade(lq), hq)
    assert reg.dx == pytest.approx(7.0, abs=0.5) and reg.dy == pytest.approx(-4.0, abs=0.5)
    checks = by_name(check_geometry(degrade(lq), hq))
    max_shift = 0.01 * math.hypot(*lq.size)  # 5.4 px at 384²
    assert not checks["shift"].passed
    assert checks["shift"].value == pytest.approx(math.hypot(7, 4), abs=0.5)
    assert (
        checks["shift"].reason.startswith("content shifted by 8.")
        and f"max {max_shift:.1f}" in checks["shift"].reason
    )
    assert checks["scale"].passed and checks["rotation"].passed and checks["color_shift"].passed
    # a looser tolerance accepts it
    loose = by_name(check_geometry(degrade(lq), hq, GeometryTolerances(max_shift_frac=0.02)))
    assert loose["shift"].passed


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("scale", [1.05, 0.95])
def test_centre_zoom_recovered_within_001(worlds, name, scale):
    lq, hq = pair(worlds[name], scale=scale)
    reg = estimate_similarity(lq, hq)
    assert reg.scale == pytest.approx(scale, abs=0.01), reg
    assert math.hypot(reg.dx, reg.dy) < 0.5
    checks = by_name(check_geometry(lq, hq))
    assert not checks["scale"].passed and checks["shift"].passed and checks["rotation"].passed
    assert checks["scale"].reason.startswith(f"content scaled ×{reg.scale:.3f}")
    assert ("zoomed in" in checks["scale"].reason) == (scale > 1)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("rotation", [3.0, -3.0])
def test_rotation_recovered_within_03_degrees(worlds, name, rotation):
    lq, hq = pair(worlds[name], rotation=rotation)
    reg = estimate_similarity(lq, hq)
    assert reg.rotation_deg == pytest.approx(rotation, abs=0.3), reg
    assert reg.scale == pytest.approx(1.0, abs=0.01)
    checks = by_name(check_geometry(lq, hq))
    assert not checks["rotation"].passed and checks["shift"].passed and checks["scale"].passed
    assert ("counter-clockwise" in checks["rotation"].reason) == (rotation > 0)


def test_rotation_sign_matches_pil_rotate(worlds):
    world = worlds["coffee"]
    w, h = lq_size(world)
    box = ((world.size[0] - w) // 2, (world.size[1] - h) // 2)
    box = (*box, box[0] + w, box[1] + h)
    lq = degrade(world.crop(box))
    hq = world.rotate(2.0, resample=Image.Resampling.BICUBIC).crop(box)  # counter-clockwise
    assert estimate_similarity(lq, hq).rotation_deg == pytest.approx(2.0, abs=0.3)


@pytest.mark.parametrize("name", NAMES)
def test_combined_similarity(worlds, name):
    lq, hq = pair(worlds[name], scale=1.03, rotation=2.0, shift=(5.0, 3.0))
    reg = estimate_similarity(lq, hq)
    assert reg.scale == pytest.approx(1.03, abs=0.01)
    assert reg.rotation_deg == pytest.approx(2.0, abs=0.3)
    assert math.hypot(reg.dx - 5, reg.dy - 3) < 0.5
    failed = [c.name for c in check_geometry(lq, hq) if not c.passed]
    assert failed == ["shift", "scale", "rotation"]  # 5.8 px > 1 % of the diagonal, too


def test_large_motions_and_half_turn(worlds):
    world = worlds["astronaut"]
    for motion in ({"scale": 1.3}, {"rotation": 15.0}, {"rotation": 180.0}):
        lq, hq = pair(world, **motion)
        reg = estimate_similarity(lq, hq)
        assert reg.scale == pytest.approx(motion.get("scale", 1.0), abs=0.01), motion
        assert abs((reg.rotation_deg - motion.get("rotation", 0.0) + 180) % 360 - 180) < 0.3, motion


def test_upscaled_output_with_same_framing_passes(worlds):
    lq, clean = pair(worlds["chelsea"])
    hq = clean.resize((clean.width * 2, clean.height * 2), Image.Resampling.LANCZOS)
    reg = estimate_similarity(lq, hq)
    assert reg.size_ratio == pytest.approx(2.0) and reg.aspect_change == pytest.approx(1.0, abs=0.01)
    assert reg.scale == pytest.approx(1.0, abs=0.005) and math.hypot(reg.dx, reg.dy) < 0.5
    checks = check_geometry(lq, hq)
    assert all(c.passed for c in checks), checks
    assert "×2.00 the input size" in by_name(checks)["scale"].reason
    # ... but a 2× output that also zooms in is caught
    zoomed = view(worlds["chelsea"], lq.size, scale=1.05).resize(hq.size, Image.Resampling.LANCZOS)
    reg = estimate_similarity(lq, zoomed)
    assert reg.size_ratio == pytest.approx(2.0) and reg.scale == pytest.approx(1.05, abs=0.01)
    assert not by_name(check_geometry(lq, zoomed))["scale"].passed


def test_changed_aspect_ratio_fails_scale(worlds):
    lq, clean = pair(worlds["coffee"])
    hq = clean.resize((clean.width, clean.width), Image.Resampling.LANCZOS)  # squashed to a square
    scale = by_name(check_geometry(lq, hq))["scale"]
    assert not scale.passed and "aspect ratio changed" in scale.reason


@pytest.mark.parametrize("name", NAMES)
def test_legitimate_restoration_passes_everything(worlds, name):
    clean = view(worlds[name], lq_size(worlds[name]))
    lq = degrade(clean, sigma=15)
    for hq in (
        lq.filter(ImageFilter.GaussianBlur(1.5)),  # a Gaussian denoiser
        lq.filter(ImageFilter.MedianFilter(5)),
        clean.filter(ImageFilter.UnsharpMask(2, 80)),  # clean and sharpened
    ):
        checks = check_geometry(lq, hq)
        assert all(c.passed for c in checks), checks
        reg = estimate_similarity(lq, hq)
        assert math.hypot(reg.dx, reg.dy) < 0.5 and abs(reg.scale - 1) < 0.005 and abs(reg.rotation_deg) < 0.1


def test_flat_image_is_inconclusive_and_passes_geometry():
    flat = Image.new("RGB", (320, 240), (128, 128, 128))
    rng = np.random.default_rng(0)
    noisy_flat = img(128 + rng.normal(0, 2, (240, 320, 3)))
    for lq, hq in ((flat, flat), (flat, Image.new("RGB", (320, 240), (131, 131, 131))), (noisy_flat, flat)):
        reg = estimate_similarity(lq, hq)
        checks = by_name(check_geometry(lq, hq))
        assert reg.confidence < GeometryTolerances().min_confidence
        for name in ("shift", "scale", "rotation"):
            assert checks[name].passed and checks[name].value is None
            assert checks[name].reason.startswith("registration inconclusive")
        assert checks["color_shift"].passed


# -------------------------------------------------------------------------------------- colour


@pytest.mark.parametrize("name", NAMES)
def test_colour_cast_fails_but_brightness_contrast_gain_passes(worlds, name):
    lq = view(worlds[name], lq_size(worlds[name]))
    identical = color_shift(lq, lq)
    assert isinstance(identical, ColorShift)
    assert identical.delta_e < 1e-9 and identical.chroma_shift < 1e-9

    cast = img(arr(lq) + np.array([25, 0, 0]))
    shift = color_shift(lq, cast)
    assert shift.delta_a > 5 and shift.chroma_shift > 8
    checks = by_name(check_geometry(lq, cast))
    assert not checks["color_shift"].passed and "towards red" in checks["color_shift"].reason
    assert checks["shift"].passed and checks["scale"].passed and checks["rotation"].passed

    gain = img(arr(lq) * 1.2 + 10)
    shift = color_shift(lq, gain)
    assert shift.brightness_ratio > 1.2 and shift.chroma_shift < 4 and shift.delta_e < 4
    assert all(c.passed for c in check_geometry(lq, gain))

    darker = img(arr(lq) * 0.8)
    assert all(c.passed for c in check_geometry(lq, darker))


def test_blue_cast_direction(worlds):
    lq = view(worlds["astronaut"], lq_size(worlds["astronaut"]))
    shift = color_shift(lq, img(arr(lq) + np.array([0, 0, 30])))
    assert (
        shift.delta_b < -8
        and not by_name(check_geometry(lq, img(arr(lq) + np.array([0, 0, 30]))))["color_shift"].passed
    )


# ---------------------------------------------------------------------------------- robustness


def test_odd_inputs_do_not_crash(worlds):
    photo = view(worlds["coffee"], lq_size(worlds["coffee"]))
    for lq, hq in (
        (photo.convert("L"), photo.convert("L")),
        (photo.convert("RGBA"), photo),
        (photo.convert("P"), photo),
        (photo.resize((1, 1)), photo.resize((1, 1))),
        (photo.resize((12, 9)), photo.resize((12, 9))),
        (photo.resize((600, 40)), photo.resize((600, 40))),
    ):
        checks = check_geometry(lq, hq)
        assert len(checks) == 4 and all(c.passed for c in checks), (lq.size, lq.mode, checks)


def test_full_size_1024_pair_is_registered(worlds):
    """The QC runs on 1024² pairs: registration there recovers the shift (speed: benchmarks/)."""
    world = worlds["astronaut"]
    big = world.resize((1280, 1280), Image.Resampling.BICUBIC)
    lq = degrade(view(big, (1024, 1024)))
    hq = view(big, (1024, 1024), shift=(10, -6))
    reg = estimate_similarity(lq, hq)
    assert math.hypot(reg.dx - 10, reg.dy + 6) < 1.0, reg
    shift = next(c for c in check_geometry(lq, hq) if c.name == "shift")
    assert shift.value is not None and abs(shift.value - math.hypot(10, 6)) < 1.0, shift
