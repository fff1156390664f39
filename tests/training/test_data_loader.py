"""make_train_loader: deterministic, resumable, sharded, mixed, robust to bad items."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest
import torch

from ggt_hf.training.data import DataConfig, MixCounter, SourceSpec, build_train_dataset, make_train_loader


def _batches(cfg: DataConfig, n: int, **kwargs) -> list[dict]:
    return list(itertools.islice(iter(make_train_loader(cfg, **kwargs)), n))


def _same(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x["id"] == y["id"] and x["source"] == y["source"] and x["category"] == y["category"]
        assert torch.equal(x["lq"], y["lq"]) and torch.equal(x["hq"], y["hq"])


@pytest.fixture
def mixed_cfg(packed_pairs, clean_images_dir):
    return DataConfig(
        ggt=[SourceSpec(str(packed_pairs))],
        baseline=[SourceSpec(str(clean_images_dir), degrade="general")],
        crop_size=32,
        batch_size=4,
        num_workers=0,
        seed=3,
    )


def test_batch_format(mixed_cfg):
    (batch,) = _batches(mixed_cfg, 1)
    assert batch["lq"].shape == batch["hq"].shape == (4, 3, 32, 32)
    assert batch["lq"].dtype == torch.float32 and batch["lq"].min() >= 0 and batch["hq"].max() <= 1
    assert len(batch["id"]) == len(batch["source"]) == len(batch["category"]) == 4
    assert set(batch["source"]) == {"ggt", "baseline"} and batch["skipped"] == []
    clean = [i for i, s in enumerate(batch["source"]) if s == "baseline"]
    assert all(batch["category"][i] == "general" for i in clean)
    assert not torch.equal(batch["lq"][clean[0]], batch["hq"][clean[0]])  # LQ synthesised


def test_deterministic_across_instances_and_worker_counts(mixed_cfg):
    first = _batches(mixed_cfg, 4)
    _same(first, _batches(mixed_cfg, 4))
    mixed_cfg.num_workers = 2
    _same(first, _batches(mixed_cfg, 4))
    mixed_cfg.seed = 4
    assert [b["id"] for b in _batches(mixed_cfg, 4)] != [b["id"] for b in first]


def test_resume_from_start_sample_equals_uninterrupted(mixed_cfg):
    full = _batches(mixed_cfg, 6)
    k = 4
    _same(full[k:], _batches(mixed_cfg, 2, start_sample=k * mixed_cfg.batch_size))


def test_two_ranks_are_disjoint_and_cover_an_epoch(packed_pairs):
    cfg = DataConfig(ggt=[SourceSpec(str(packed_pairs))], crop_size=16, batch_size=3, num_workers=0)
    ranks = [_batches(cfg, 4, rank=r, world_size=2) for r in (0, 1)]
    for epoch in range(2):  # 12 pairs = 2 steps of 2 ranks × 3
        ids = [set(itertools.chain(*(b["id"] for b in ranks[r][2 * epoch : 2 * epoch + 2]))) for r in (0, 1)]
        assert not ids[0] & ids[1]
        assert len(ids[0] | ids[1]) == 12
    for step in range(4):
        assert not set(ranks[0][step]["id"]) & set(ranks[1][step]["id"])
    assert [b["id"] for b in ranks[0][:2]] != [b["id"] for b in ranks[0][2:]]  # re-shuffled per epoch


def test_realised_ratio_through_the_loader(packed_pairs, training_pairs_dir):
    cfg = DataConfig(
        ggt=[SourceSpec(str(packed_pairs))],
        baseline=[SourceSpec(str(training_pairs_dir))],
        ratio=1.0,
        crop_size=8,
        batch_size=100,
        num_workers=0,
        crops_per_decode=50,
    )
    counter = MixCounter()
    for batch in _batches(cfg, 20):
        counter.update(batch)
    assert counter.total == 2000 and abs(counter.fractions()["ggt"] - 0.5) <= 0.03
    cfg.baseline = []
    counter = MixCounter()
    for batch in _batches(cfg, 2):
        counter.update(batch)
    assert counter.fractions() == {"ggt": 1.0}


def test_aligned_crops_through_the_loader(tmp_path, photos):
    from PIL import Image

    for side in ("lq", "hq"):
        (tmp_path / "p" / side).mkdir(parents=True)
    for i in range(3):
        hq = np.asarray(photos[i].convert("RGB").resize((90, 70)))
        Image.fromarray(hq).save(tmp_path / "p" / "hq" / f"a{i}.png")
        Image.fromarray(255 - hq).save(tmp_path / "p" / "lq" / f"a{i}.png")
    cfg = DataConfig(ggt=[SourceSpec(str(tmp_path / "p"))], crop_size=40, batch_size=6, num_workers=0)
    for batch in _batches(cfg, 3):
        torch.testing.assert_close(batch["lq"], 1 - batch["hq"], atol=1e-6, rtol=0)


def test_bad_image_is_skipped_and_reported(make_pairs_dir, caplog):
    root = make_pairs_dir(n=6, size=48, nested=False)
    (root / "hq" / "p2.png").write_bytes(b"<html>not an image</html>")
    cfg = DataConfig(ggt=[SourceSpec(str(root))], crop_size=32, batch_size=6, num_workers=0)
    counter = MixCounter()
    with caplog.at_level(logging.WARNING, logger="ggt_hf.training.data"):
        batches = _batches(cfg, 2)
    for batch in batches:
        counter.update(batch)
        assert len(batch["id"]) == 6 and "p2" not in batch["id"]
    assert len(counter.skipped) == 2 and all("p2.png" in s and "not an image" in s for s in counter.skipped)
    assert "p2.png" in caplog.text


def test_size_mismatch_is_skipped_naming_the_id(make_pairs_dir):
    from PIL import Image

    root = make_pairs_dir(n=4, size=48, nested=False)
    Image.new("RGB", (40, 40)).save(root / "hq" / "p1.png")
    cfg = DataConfig(ggt=[SourceSpec(str(root))], crop_size=16, batch_size=4, num_workers=0)
    (batch,) = _batches(cfg, 1)
    assert "p1" not in batch["id"]
    assert any(s.startswith("p1:") and "size mismatch" in s for s in batch["skipped"])


def test_decoded_cache_and_crops_per_decode(mixed_cfg, tmp_path):
    plain = _batches(mixed_cfg, 3)
    mixed_cfg.cache_dir = str(tmp_path / "cache")
    _same(plain, _batches(mixed_cfg, 3))  # cold: fills the cache
    assert len(list((tmp_path / "cache").rglob("*.npy"))) > 0
    _same(plain, _batches(mixed_cfg, 3))  # warm: memory-mapped reads, same batches
    mixed_cfg.crops_per_decode = 4
    many = _batches(mixed_cfg, 2)
    ggt_ids = [i for b in many for i, s in zip(b["id"], b["source"], strict=True) if s == "ggt"]
    assert len(set(ggt_ids)) == 1 and len(ggt_ids) == 4  # four crops of one decoded pair
    crops = [b["hq"][j] for b in many for j, s in enumerate(b["source"]) if s == "ggt"]
    assert not torch.equal(crops[0], crops[1])


def test_map_style_dataset_is_a_pure_function(mixed_cfg):
    a, b = build_train_dataset(mixed_cfg), build_train_dataset(mixed_cfg)
    assert len(a) == 18 and len(build_train_dataset(mixed_cfg, rank=1, world_size=2)) == 9  # 12 + 6 pairs
    for s in (7, 0, 123):
        x, y = a[s], b[s]
        assert x["id"] == y["id"] and torch.equal(x["lq"], y["lq"]) and x["lq"].shape == (3, 32, 32)


def test_config_from_a_recipe_mapping(packed_pairs):
    from ggt_hf.files.yaml_config import from_dict

    cfg = from_dict(DataConfig, {"ggt": [{"path": str(packed_pairs), "weight": 2}], "ratio": 1.0})
    assert isinstance(cfg.ggt[0], SourceSpec) and cfg.ggt[0].weight == 2 and cfg.baseline == []
    with pytest.raises(ValueError, match="weight must be > 0"):
        DataConfig(ggt=[{"path": "x", "weight": 0}])
