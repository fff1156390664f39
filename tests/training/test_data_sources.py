"""Pair sources over real photos: pair folders, packed folders and clean images with on-the-fly LQ."""

from __future__ import annotations

import io

import numpy as np
import pytest

from ggt_hf.constants import CATEGORIES, GGT100K_MIRROR_DIR
from ggt_hf.errors import PairingError
from ggt_hf.imaging.images import load_image
from ggt_hf.training.data import PairSample, SourceSpec, open_source
from ggt_hf.training.data.augment import check_pair
from ggt_hf.training.data.sources import resolve_kind


def test_auto_kind_resolution(training_pairs_dir, packed_pairs, clean_images_dir, tmp_path):
    assert resolve_kind(SourceSpec(str(training_pairs_dir))) == "pairs"
    assert resolve_kind(SourceSpec(str(packed_pairs))) == "packed"
    assert resolve_kind(SourceSpec(str(clean_images_dir))) == "clean"
    assert resolve_kind(SourceSpec("you/ggt-100k")) == "packed"  # a Hub id (not opened here)
    with pytest.raises(
        FileNotFoundError, match=r"ggt-100k: no such folder .*ggt pack hf://datasets/VCLab-PolyU"
    ):
        resolve_kind(
            SourceSpec(str(tmp_path / GGT100K_MIRROR_DIR))
        )  # the recipes' mirror folder, not made yet
    with pytest.raises(FileNotFoundError, match="no such folder"):
        resolve_kind(SourceSpec(str(tmp_path / "missing")))
    with pytest.raises(ValueError, match="kind must be one of"):
        SourceSpec("x", kind="zip")


def test_a_missing_path_in_a_local_folder_is_not_a_hub_dataset(tmp_path, monkeypatch):
    """``data.ggt=[{path: demo_out/dataset}]`` where demo_out/ is a folder here (the dataset is
    demo_out/build/dataset) was a Hub id, as for ``ggt eval --dataset``: the one rule says a
    missing folder, naming the one that exists."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo_out" / "build" / "dataset").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"no such folder .*did you mean demo_out/build/dataset\?"):
        resolve_kind(SourceSpec("demo_out/dataset"))
    with pytest.raises(FileNotFoundError, match="not a Hub repo id"):
        resolve_kind(SourceSpec("me/bad--id"))  # the model card never listed it as a Hub dataset either


def test_pair_folder_source_matches_files(make_pairs_dir):
    root = make_pairs_dir(n=6, size=64)
    src = open_source(SourceSpec(str(root)), label="baseline")
    assert len(src) == 6
    sample = src[0]
    assert isinstance(sample, PairSample) and sample.source == "baseline"
    path = next((root / "hq").glob(f"*/{sample.id}.png"))
    assert sample.category == path.parent.name
    np.testing.assert_array_equal(sample.hq, np.asarray(load_image(path).image))
    assert sample.lq.shape == sample.hq.shape == (64, 64, 3) and sample.lq.dtype == np.uint8
    assert not np.array_equal(sample.lq, sample.hq)


def test_flat_pair_folder_has_no_category(make_pairs_dir):
    src = open_source(SourceSpec(str(make_pairs_dir(n=3, nested=False))))
    assert len(src) == 3 and {src[i].category for i in range(3)} == {None}


def test_packed_source_equals_the_pair_files(packed_pairs, training_pairs_dir):
    src = open_source(SourceSpec(str(packed_pairs)))
    assert len(src) == 12
    by_id = {src.item_id(i): i for i in range(len(src))}
    for item in ("t00", "t05", "t07"):
        sample = src[by_id[item]]
        category = CATEGORIES[int(item[1:]) % len(CATEGORIES)]
        assert sample.category == category
        for side in ("lq", "hq"):
            expected = np.asarray(load_image(training_pairs_dir / side / category / f"{item}.png").image)
            np.testing.assert_array_equal(getattr(sample, side), expected)
    rain = open_source(SourceSpec(str(packed_pairs), config="rain"))
    assert {rain[i].category for i in range(len(rain))} == {"rain"} and len(rain) == 2


def test_clean_source_degrades_on_the_fly_seeded(clean_images_dir):
    with pytest.raises(ValueError, match="needs `degrade`"):
        open_source(SourceSpec(str(clean_images_dir)))
    src = open_source(SourceSpec(str(clean_images_dir), degrade="haze"), label="baseline")
    assert len(src) == 6
    a, b = src[1], src[1]
    assert a.category == "haze" and a.source == "baseline"
    np.testing.assert_array_equal(a.lq, b.lq)  # seeded per sample
    assert a.lq.shape == a.hq.shape and np.abs(a.lq.astype(int) - a.hq).mean() > 2  # really degraded
    other = src.synthesize(a.hq, seed=999)
    assert not np.array_equal(other, a.lq)


def test_streaming_spec_has_no_random_access(packed_pairs):
    with pytest.raises(ValueError, match="no random access"):
        open_source(SourceSpec(str(packed_pairs), streaming=True))


def test_size_mismatch_names_the_item():
    with pytest.raises(PairingError, match=r"pair42.*LQ is 8×6 but HQ is 8×8"):
        check_pair("pair42", np.zeros((6, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8))


def test_decode_rgb_is_pixel_identical_to_the_policy(photos, training_pairs_dir):
    from PIL import Image

    from ggt_hf.errors import BadImageError
    from ggt_hf.imaging.images import decode_image, encode_image
    from ggt_hf.training.data.sources import _plain_rgb8_png, decode_rgb

    files = sorted(training_pairs_dir.rglob("*.png"))[:4]
    for data in [p.read_bytes() for p in files] + [encode_image(photos[1], "png", compress_level=1)]:
        assert _plain_rgb8_png(data)
        np.testing.assert_array_equal(decode_rgb(data, "x"), np.asarray(decode_image(data).image))
    rgba = photos[0].convert("RGBA")
    rgba.putpixel((0, 0), (10, 20, 30, 0))
    buf = io.BytesIO()
    rgba.save(buf, format="PNG")
    assert not _plain_rgb8_png(buf.getvalue())  # alpha: the policy composites onto white
    np.testing.assert_array_equal(
        decode_rgb(buf.getvalue(), "a"), np.asarray(decode_image(buf.getvalue()).image)
    )
    with_icc = io.BytesIO()
    Image.fromarray(np.asarray(photos[0])).save(with_icc, format="PNG", icc_profile=b"not a profile")
    assert not _plain_rgb8_png(with_icc.getvalue())
    truncated = files[0].read_bytes()[:5000]
    with pytest.raises(BadImageError, match=r"bad\.png"):
        decode_rgb(truncated, "bad.png")
