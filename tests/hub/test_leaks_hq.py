"""Train/test leaks through the HQ: a test pair that reuses a train HQ with a fresh degradation
(the usual GGT case) leaks the target even though its LQ is new (issue 21 point 2, attack 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ggt_hf.errors import LeakageError
from ggt_hf.hub.pack import PackConfig, pack
from ggt_hf.hub.pairs import pairs_from_dir
from ggt_hf.hub.validate import validate_folder


def _pack(pairs: Path, out: Path, split: str, **config):
    records, problems = pairs_from_dir(pairs, split=split)
    return pack(records, out, PackConfig(**config), problems=problems, progress=False)


def _reuse_train_hq(train: Path, dest: Path, nudge: bool = False) -> Path:
    """Test pairs t<i> with train pair p<i>'s HQ and a fresh LQ = (0.35*hq+130) mirrored; with
    ``nudge`` one HQ pixel is changed by 1 (no longer byte- or pixel-identical)."""
    for hq_path in sorted(train.glob("hq/*/*.png")):
        category, name = hq_path.parent.name, "t" + hq_path.stem[1:]
        hq = np.asarray(Image.open(hq_path).convert("RGB")).copy()
        if nudge:
            hq[0, 0, 0] ^= 1
        lq = np.clip(0.35 * hq.astype(np.float32) + 130, 0, 255).astype(np.uint8)[:, ::-1]
        for side, pixels in (("hq", hq), ("lq", lq)):
            (dest / side / category).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.ascontiguousarray(pixels)).save(dest / side / category / f"{name}.png")
    return dest


def test_pack_refuses_test_pairs_that_reuse_a_train_hq(make_pairs_dir, tmp_path):
    train = make_pairs_dir(n=4)
    out = tmp_path / "ds"
    _pack(train, out, "train")
    test = _reuse_train_hq(train, tmp_path / "test")
    with pytest.raises(LeakageError, match="4 test pair") as caught:
        _pack(test, out, "test")
    assert "test HQ identical to train pair p0" in caught.value.reason
    assert "test LQ" not in caught.value.reason  # the LQs are fresh: the message names the HQ
    assert not list(out.glob("data/*/test-*.parquet"))


def test_pack_refuses_a_nudged_train_hq_as_a_near_duplicate(make_pairs_dir, tmp_path):
    train = make_pairs_dir(n=4)
    out = tmp_path / "ds"
    _pack(train, out, "train")
    test = _reuse_train_hq(train, tmp_path / "test", nudge=True)
    with pytest.raises(LeakageError, match="test HQ near-duplicate of train pair p0"):
        _pack(test, out, "test")


def test_validate_flags_a_reused_hq_after_one_pixel_changed(make_pairs_dir, tmp_path):
    train = make_pairs_dir(n=4)
    out = tmp_path / "ds"
    _pack(train, out, "train")
    _pack(_reuse_train_hq(train, tmp_path / "test", nudge=True), out, "test", force=True)
    problems = validate_folder(out, progress=False)
    leaked = sorted(p.item.split("id ")[1] for p in problems if "test HQ near-duplicate" in p.reason)
    assert leaked == ["'t0')", "'t1')", "'t2')", "'t3')"], problems
    assert not any("test LQ" in p.reason for p in problems)


def test_distinct_photos_are_not_flagged(make_pairs_dir, tmp_path):
    out = tmp_path / "ds"
    _pack(make_pairs_dir(n=8, name="train"), out, "train")
    report = _pack(make_pairs_dir(n=8, name="test", offset=8), out, "test")
    assert not report.leaks
    assert validate_folder(out, progress=False) == []


def test_release_pack_refuses_a_test_pair_that_reuses_a_train_gt(tmp_path, capsys):
    from ggt_hf.cli import main
    from tests.hub.release_fixtures import image_bytes

    release = tmp_path / "rel"
    for split, pair_id, lq_seed, gt_seed in (
        ("train", "a1", 1, 1001),
        ("train", "a2", 2, 1002),
        ("test", "b1", 9, 1002),
    ):
        for role, seed in (("LQ", lq_seed), ("GT", gt_seed)):
            path = release / split / "rain" / role / f"{pair_id}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(image_bytes(seed, size=32))
    assert main(["pack", str(release), str(tmp_path / "ds")]) != 0  # b1's GT is a2's, its LQ is new
    err = capsys.readouterr().err
    assert "b1: test HQ identical to train pair a2" in err, err


def test_pack_of_train_refuses_when_kept_test_rows_reuse_its_hq(make_pairs_dir, tmp_path):
    train = make_pairs_dir(n=2)
    out = tmp_path / "ds"
    _pack(_reuse_train_hq(train, tmp_path / "test"), out, "test")  # the test split is packed first
    with pytest.raises(LeakageError, match="t0: test HQ identical to train pair p0"):
        _pack(train, out, "train")
