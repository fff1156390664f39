"""Geometric normalisation: the ``crop``/``pad`` policies and the replayable :class:`Transform`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import skimage.data as skdata
from PIL import Image

from ggt_hf.ingest.normalize import NormalizePolicy, Transform


def _arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img).astype(int)


def _photo(w: int, h: int) -> Image.Image:
    """A real photo of exactly ``w``×``h`` (the coffee cup, resized)."""
    return Image.fromarray(skdata.coffee()).resize((w, h), Image.Resampling.LANCZOS)


# -------------------------------------------------------------------------------- hand-worked example


def test_hand_worked_crop_example() -> None:
    t = NormalizePolicy(size=200).plan((600, 400))
    assert t.scale == (0.5, 0.5)
    assert t.resized_size == (300, 200)
    assert t.offset == (-50, 0)
    assert t.out_size == (200, 200)
    assert t.crop_box == (50, 0, 250, 200)
    assert t.source_box == (100.0, 0.0, 500.0, 400.0)


def test_hand_worked_pad_example() -> None:
    t = NormalizePolicy(size=200, mode="pad").plan((600, 400))
    assert t.resized_size == (200, 133)  # 400 · 200/600 = 133.3
    assert t.offset == (0, 33)
    assert t.crop_box == (0, 0, 200, 133)
    assert t.source_box == pytest.approx((0.0, 0.0, 600.0, 400.0))


# ----------------------------------------------------------------------------------- policy on sizes


@pytest.mark.parametrize(
    ("src", "resized", "offset"),
    [
        ((600, 400), (384, 256), (-64, 0)),  # landscape
        ((400, 600), (256, 384), (0, -64)),  # portrait
        ((500, 500), (256, 256), (0, 0)),  # square
        ((256, 256), (256, 256), (0, 0)),  # already the target size
        ((100, 60), (427, 256), (-86, 0)),  # smaller than the target: upscaled; offset floor(-171/2)
        ((601, 399), (386, 256), (-65, 0)),  # odd sizes
    ],
)
def test_crop_policy(src, resized, offset) -> None:
    t = NormalizePolicy(size=256).plan(src)
    assert (t.resized_size, t.offset, t.out_size) == (resized, offset, (256, 256))
    img = _photo(*src)
    out = t.apply(img)
    assert out.size == (256, 256) and out.mode == "RGB"
    # Crop mode never shows padding: the output is exactly the crop box of the resized photo.
    expected = img.resize(resized, Image.Resampling.LANCZOS).crop(t.crop_box)
    assert (_arr(out) == _arr(expected)).all()
    left, top, right, bottom = t.crop_box
    assert (right - left, bottom - top) == (256, 256)


@pytest.mark.parametrize(
    ("src", "resized", "offset"),
    [
        ((600, 400), (256, 171), (0, 42)),
        ((400, 600), (171, 256), (42, 0)),
        ((500, 500), (256, 256), (0, 0)),
        ((100, 60), (256, 154), (0, 51)),  # upscaled
    ],
)
def test_pad_policy(src, resized, offset) -> None:
    colour = (10, 200, 30)
    t = NormalizePolicy(size=256, mode="pad", pad_color=colour).plan(src)
    assert (t.resized_size, t.offset) == (resized, offset)
    assert t.crop_box == (0, 0, *resized)  # nothing is cut away
    assert t.source_box == pytest.approx((0, 0, *src))
    img = _photo(*src)
    out = _arr(t.apply(img))
    x, y = offset
    w, h = resized
    inside = out[y : y + h, x : x + w]
    assert (inside == _arr(img.resize(resized, Image.Resampling.LANCZOS))).all()
    border = np.ones(out.shape[:2], bool)
    border[y : y + h, x : x + w] = False
    assert (out[border] == colour).all()
    assert border.sum() == 256 * 256 - w * h


@pytest.mark.parametrize("resample", ["lanczos", "bicubic", "bilinear", "nearest"])
def test_resample_filter_is_used(resample: str) -> None:
    img = _photo(512, 512)
    out = NormalizePolicy(size=256, resample=resample).plan(img.size).apply(img)
    filt = {
        "lanczos": Image.Resampling.LANCZOS,
        "bicubic": Image.Resampling.BICUBIC,
        "bilinear": Image.Resampling.BILINEAR,
        "nearest": Image.Resampling.NEAREST,
    }[resample]
    assert (_arr(out) == _arr(img.resize((256, 256), filt))).all()


def test_invalid_policies() -> None:
    with pytest.raises(ValueError, match="'crop' or 'pad'"):
        NormalizePolicy(mode="stretch")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="resample must be one of"):
        NormalizePolicy(resample="box")
    with pytest.raises(ValueError, match="size must be at least 8"):
        NormalizePolicy(size=4)


# ---------------------------------------------------------------------------------------- transform


def test_apply_replays_exactly() -> None:
    img = _photo(450, 300)
    t = NormalizePolicy(size=128).plan(img.size)
    first, second = t.apply(img), t.apply(img.copy())
    assert (_arr(first) == _arr(second)).all()
    # Replaying the deserialised transform gives the same pixels too.
    again = Transform.from_dict(json.loads(json.dumps(t.to_dict()))).apply(img)
    assert (_arr(again) == _arr(first)).all()
    # A different image of the same source size (e.g. a restored version) is accepted.
    other = Image.fromarray(255 - np.asarray(img))
    assert np.abs(_arr(t.apply(other)) - (255 - _arr(first))).max() <= 1  # rounding only


@pytest.mark.parametrize("size", [(449, 300), (300, 450), (450, 301)])
def test_apply_refuses_wrong_size(size) -> None:
    t = NormalizePolicy(size=128).plan((450, 300))
    with pytest.raises(ValueError, match=r"transform expects a 450×300 image, got \d+×\d+"):
        t.apply(Image.new("RGB", size))


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16", "F"])
def test_apply_on_other_modes(mode: str) -> None:
    """Masks, depth maps, ... can be replayed too (the RGB ``pad_color`` is converted to the mode)."""
    img = _photo(300, 200).convert(mode)
    for policy in (NormalizePolicy(size=64), NormalizePolicy(size=64, mode="pad", pad_color=(255, 255, 255))):
        out = policy.plan(img.size).apply(img)
        assert out.mode == mode and out.size == (64, 64)
    padded = NormalizePolicy(size=64, mode="pad", pad_color=(255, 255, 255)).plan(img.size).apply(img)
    corner = padded.getpixel((0, 0))
    assert (corner[:3] if isinstance(corner, tuple) else corner) in {255, (255, 255, 255)}


def test_to_dict_from_dict_round_trip() -> None:
    t = NormalizePolicy(size=96, mode="pad", resample="bicubic", pad_color=(1, 2, 3)).plan((333, 517))
    data = t.to_dict()
    assert data == {
        "src_size": [333, 517],
        "resized_size": [62, 96],
        "offset": [17, 0],
        "out_size": [96, 96],
        "resample": "bicubic",
        "pad_color": [1, 2, 3],
    }
    back = Transform.from_dict(json.loads(json.dumps(data)))
    assert back == t
    assert isinstance(back.src_size, tuple) and isinstance(back.pad_color, tuple)
    assert hash(back) == hash(t)


# ------------------------------------------------------------------------------------------- invert


def test_invert_crop_recovers_the_central_square() -> None:
    src = Image.fromarray(skdata.coffee())  # 600×400 real photo
    t = NormalizePolicy(size=200).plan(src.size)
    region, box = t.invert(t.apply(src))
    assert box == (100, 0, 500, 400)  # the central 400×400 square
    assert region.size == (400, 400)
    mad = np.abs(_arr(region) - _arr(src.crop(box))).mean()
    assert mad < 6, mad
    # The wrong region would be far off: the check above is not trivially true.
    assert np.abs(_arr(region) - _arr(src.crop((0, 0, 400, 400)))).mean() > 3 * mad


def test_invert_crop_portrait_real_photo() -> None:
    src = Image.fromarray(skdata.astronaut()).crop((56, 0, 456, 512))  # 400×512
    t = NormalizePolicy(size=256).plan(src.size)
    region, box = t.invert(t.apply(src))
    assert box == (0, 56, 400, 456)
    assert np.abs(_arr(region) - _arr(src.crop(box))).mean() < 6


def test_invert_pad_recovers_the_whole_source() -> None:
    src = Image.fromarray(skdata.chelsea())  # 451×300
    t = NormalizePolicy(size=256, mode="pad").plan(src.size)
    region, box = t.invert(t.apply(src))
    assert box == (0, 0, 451, 300) and region.size == (451, 300)
    assert np.abs(_arr(region) - _arr(src)).mean() < 6


def test_invert_refuses_wrong_size() -> None:
    t = NormalizePolicy(size=64).plan((300, 200))
    with pytest.raises(ValueError, match="invert expects"):
        t.invert(Image.new("RGB", (65, 64)))
