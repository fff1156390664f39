"""Aligned augmentation: LQ and HQ get the same crop, flip and rotation."""

from __future__ import annotations

import numpy as np

from ggt_hf.training.data.augment import CropPlan, apply_crop, augment_pair, plan_crop


def _dihedral(window: np.ndarray) -> list[np.ndarray]:
    return [np.rot90(w, k) for w in (window, window[:, ::-1]) for k in range(4)]


def test_crops_stay_aligned_under_every_flip_and_rotation(photos):
    hq = np.asarray(photos[0].convert("RGB"))[:200, :240].copy()
    lq = 255 - hq  # a known pixel-wise function of HQ
    seen = set()
    for g in range(64):
        plan = plan_crop(*hq.shape[:2], 48, np.random.default_rng((0, g)))
        seen.add((plan.flip, plan.rot))
        lq_c, hq_c = augment_pair(f"s{g}", lq, hq, plan)
        assert lq_c.shape == hq_c.shape == (48, 48, 3)
        np.testing.assert_array_equal(lq_c, 255 - hq_c)
        window = hq[plan.top : plan.top + 48, plan.left : plan.left + 48]
        variants = _dihedral(window)
        expected = np.rot90(window[:, ::-1] if plan.flip else window, plan.rot)
        np.testing.assert_array_equal(hq_c, expected)
        assert any(np.array_equal(hq_c, v) for v in variants)
    assert len(seen) == 8  # every orientation was exercised


def test_flags_disable_flip_and_rotation_without_moving_crops():
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    on = [plan_crop(100, 100, 32, rng_a) for _ in range(20)]
    off = [plan_crop(100, 100, 32, rng_b, flips=False, rot90=False) for _ in range(20)]
    assert [(p.top, p.left) for p in on] == [(p.top, p.left) for p in off]
    assert all(not p.flip and p.rot == 0 for p in off) and any(p.flip or p.rot for p in on)


def test_small_images_are_reflect_padded_identically():
    hq = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    plan = plan_crop(20, 30, 64, np.random.default_rng(1), flips=False, rot90=False)
    assert plan.pad == (44, 34) and (plan.top, plan.left) == (0, 0)
    lq_c, hq_c = augment_pair("small", hq // 2, hq, plan)
    assert hq_c.shape == (64, 64, 3)
    np.testing.assert_array_equal(lq_c, hq_c // 2)
    np.testing.assert_array_equal(hq_c[:20, :30], hq)
    np.testing.assert_array_equal(hq_c[20, :30], hq[18])  # mirrored about the last row


def test_apply_crop_matches_numpy_reference():
    img = np.arange(10 * 12 * 3, dtype=np.uint8).reshape(10, 12, 3)
    out = apply_crop(img, CropPlan(top=2, left=3, size=5, flip=True, rot=1))
    np.testing.assert_array_equal(out, np.rot90(img[2:7, 3:8][:, ::-1], 1))
    assert out.flags["C_CONTIGUOUS"]
