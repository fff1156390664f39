"""Bucketing, the resumable batch schedule, bucketed pair batches and the tensor caches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ggt_hf.generative.buckets import BucketSchedule, bucket_sizes, fit_to_bucket, nearest_bucket
from ggt_hf.generative.caching import TensorCache, cache_key


def test_bucket_sizes_area_multiple_and_aspect():
    buckets = bucket_sizes(1024, 16)
    assert (1024, 1024) in buckets
    for w, h in buckets:
        assert w % 16 == 0 and h % 16 == 0
        assert 0.5 <= w / h <= 2.0
        assert abs(w * h - 1024**2) / 1024**2 < 0.05
    assert nearest_bucket(4000, 3000, buckets) == min(
        buckets, key=lambda b: abs(np.log(b[0] / b[1] / (4 / 3)))
    )
    assert nearest_bucket(100, 100, buckets) == (1024, 1024)
    with pytest.raises(ValueError):
        bucket_sizes(8, 16)


def test_fit_to_bucket_covers_and_centre_crops(photos):
    arr = np.asarray(photos[0].convert("RGB"))
    out = fit_to_bucket(arr, (96, 48))
    assert out.shape == (48, 96, 3) and out.dtype == np.uint8
    # LQ and HQ get the same geometry: a pixel-wise function commutes with the fit (up to rounding
    # and Lanczos overshoot clipped at 255 before halving); a 1-pixel shift would be far off
    lq = (arr // 2).astype(np.uint8)
    diff = np.abs(fit_to_bucket(lq, (96, 48)).astype(int) - fit_to_bucket(arr, (96, 48)).astype(int) // 2)
    assert diff.mean() < 0.6 and np.percentile(diff, 99) <= 2
    shifted = np.abs(
        fit_to_bucket(lq, (96, 48))[:, 1:].astype(int) - fit_to_bucket(arr, (96, 48))[:, :-1].astype(int) // 2
    )
    assert shifted.mean() > 2 * diff.mean() + 0.5


def test_schedule_is_deterministic_homogeneous_and_mixes():
    groups = {"ggt": [(64, 64)] * 7 + [(96, 48)] * 5, "baseline": [(64, 64)] * 4}
    a = BucketSchedule(groups, batch_size=2, ratio=1.0, seed=3)
    b = BucketSchedule(groups, batch_size=2, ratio=1.0, seed=3)
    batches = [a.batch(k) for k in range(200)]
    assert batches == [b.batch(k) for k in range(200)]
    assert [r.group for r in batches[:4]] == ["baseline", "ggt", "baseline", "ggt"]
    for ref in batches:
        assert all(groups[ref.group][i] == ref.bucket for i in ref.indices)  # one bucket per batch
    # every GGT pair once per GGT epoch
    per_epoch = a._num_batches["ggt"]
    seen = sorted(i for r in [a._epoch("ggt", 0)[j] for j in range(per_epoch)] for i in r.indices)
    assert seen == list(range(12))
    three = BucketSchedule(groups, batch_size=2, ratio=3.0)
    assert sum(three.batch(k).group == "ggt" for k in range(400)) == 300
    only = BucketSchedule({"ggt": groups["ggt"], "baseline": []}, batch_size=2, ratio=1.0)
    assert {only.batch(k).group for k in range(50)} == {"ggt"}


def test_ranks_and_resume():
    groups = {"ggt": [(64, 64)] * 10}
    sched = BucketSchedule(groups, batch_size=1)
    r0 = [next(iter([r])) for r, _ in zip(sched.for_rank(0, 0, 2), range(5), strict=False)]
    r1 = [r for r, _ in zip(sched.for_rank(0, 1, 2), range(5), strict=False)]
    assert {i for r in r0 for i in r.indices}.isdisjoint({i for r in r1 for i in r.indices})
    resumed = [r for r, _ in zip(sched.for_rank(3, 0, 2), range(2), strict=False)]
    assert resumed == r0[3:5]


def test_bucketed_pairs_batches(gen_pairs):
    from ggt_hf.generative.data import BucketDataConfig, BucketedPairs, make_bucket_loader
    from ggt_hf.training.data import SourceSpec

    cfg = BucketDataConfig(
        ggt=[SourceSpec(path=str(gen_pairs))], resolution=64, batch_size=2, num_workers=0, prompt="fixed"
    )
    ds = BucketedPairs(cfg, 16, bucket_file=gen_pairs.parent / "b" / "buckets.json")
    batch = ds[0]
    w, h = batch["bucket"]
    assert batch["lq"].shape == batch["hq"].shape == (2, h, w, 3) and batch["lq"].dtype == torch.uint8
    assert (w, h) == (80, 48)  # 96×64 photos (3:2) → the nearest 64²-area bucket
    assert len(set(batch["prompt"])) == 1 and batch["source"] == ["ggt", "ggt"]
    loader = iter(make_bucket_loader(ds, start_batch=1))
    assert next(loader)["id"] == ds[1]["id"]
    assert (gen_pairs.parent / "b" / "buckets.json").is_file()


def test_tensor_cache_memory_and_disk(tmp_path):
    for cache in (TensorCache(), TensorCache(tmp_path / "c")):
        key = cache_key("model", "p0", (64, 64), "hq")
        assert key not in cache and cache.get(key) is None
        calls: list[int] = []

        def compute(value, calls=calls):
            calls.append(1)
            return {"z": value}

        value = cache.get_or_compute(key, lambda: compute(torch.arange(6.0).view(2, 3)))
        again = cache.get_or_compute(key, lambda: compute(torch.zeros(1)))
        assert calls == [1] and key in cache and len(cache) == 1
        torch.testing.assert_close(again["z"], value["z"])
        assert (cache.hits, cache.misses) == (1, 2)
    assert cache_key("a", 1) != cache_key("a", 2)
    assert list((tmp_path / "c").glob("*/*.safetensors"))
