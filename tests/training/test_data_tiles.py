"""The tiled training layout: crops decoded from tiles are the full image's crops, anywhere in it."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import stats

from ggt_hf.files.output_folders import OutputFolderError
from ggt_hf.training.data import DataConfig, SourceSpec, TrainPairs, make_train_loader, open_source
from ggt_hf.training.data.tiles import TileView, build_tile_view


def _batches(cfg: DataConfig, n: int) -> list[dict]:
    return list(itertools.islice(iter(make_train_loader(cfg)), n))


def _noise_pairs(root: Path, shapes: list[tuple[int, int]], seed: int = 0) -> Path:
    """A flat pair folder of random-noise pairs (incompressible, so every tile byte matters)."""
    rng = np.random.default_rng(seed)
    for i, (h, w) in enumerate(shapes):
        for side in ("lq", "hq"):
            (root / side).mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / side / f"n{i}.png")
    return root


def _coordinate_pairs(root: Path, size: int = 256) -> Path:
    """One pair whose pixel (y, x) is (y, x, 0) in HQ and (x, y, 1) in LQ: a crop names its box."""
    y, x = np.mgrid[0:size, 0:size].astype(np.uint8)
    for side, image in (
        ("hq", np.dstack([y, x, np.zeros_like(y)])),
        ("lq", np.dstack([x, y, np.ones_like(y)])),
    ):
        (root / side).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / side / "grid.png")
    return root


def test_tiled_layout_gives_the_full_layouts_batches(packed_pairs, clean_images_dir, tmp_path):
    """Same seed, same crops, bit for bit: packed and clean sources, padded (crop > image) and
    unpadded crops, tiles smaller than the crop, crops_per_decode, DataLoader workers."""
    for crop, per_decode, workers in ((32, 1, 0), (128, 2, 0), (48, 1, 2)):
        cfg = DataConfig(
            ggt=[SourceSpec(str(packed_pairs))],
            baseline=[SourceSpec(str(clean_images_dir), degrade="general")],
            crop_size=crop,
            batch_size=4,
            num_workers=workers,
            seed=5,
            crops_per_decode=per_decode,
        )
        full = _batches(cfg, 3)
        cfg.layout, cfg.tile_dir, cfg.tile_size = "tiles", str(tmp_path / "tiles"), 24
        for tiled in (_batches(cfg, 3), _batches(cfg, 3)):  # built on first use, then read back
            for a, b in zip(full, tiled, strict=True):
                assert a["id"] == b["id"] and a["source"] == b["source"]
                assert torch.equal(a["lq"], b["lq"]) and torch.equal(a["hq"], b["hq"])
    assert list((tmp_path / "tiles").rglob("*.tiles"))


def test_every_box_is_bit_identical_to_the_full_image(tmp_path):
    source = open_source(SourceSpec(str(_noise_pairs(tmp_path / "noise", [(256, 256), (190, 250)]))))
    view = TileView(tmp_path / "view", source, tile=64)
    rng = np.random.default_rng(0)
    for index in range(len(source)):
        full, item = source.read(index), view.item(index)
        h, w = item.shape
        boxes = [(0, 0, h, w), (h - 1, w - 1, 1, 1), (64, 64, 64, 64), (63, 63, 2, 2)]
        boxes += [
            (int(t), int(le), int(bh), int(bw))
            for bh, bw in rng.integers(1, 120, (40, 2))
            for t, le in [(rng.integers(0, h - bh + 1), rng.integers(0, w - bw + 1))]
        ]
        for top, left, bh, bw in boxes:
            crop = item.region(top, left, bh, bw)
            assert crop.id == full.id
            assert np.array_equal(crop.hq, full.hq[top : top + bh, left : left + bw])
            assert np.array_equal(crop.lq, full.lq[top : top + bh, left : left + bw])
    # stored compressed, not as the decoded arrays (incompressible noise: about the raw size)
    assert view.disk_bytes() < 1.1 * sum(s.read(i).hq.nbytes * 2 for s in [source] for i in range(2))


def test_crop_positions_are_uniform_over_the_whole_image(tmp_path):
    """Chi-square and KS over 2000 seeded draws: every top/left in [0, 256-64] is equally likely,
    including positions that straddle tile borders and the last one (a tile-aligned or sub-image
    scheme fails this)."""
    root = _coordinate_pairs(tmp_path / "grid")
    cfg = DataConfig(
        ggt=[SourceSpec(str(root))],
        crop_size=64,
        batch_size=8,
        num_workers=0,
        flips=False,
        rot90=False,
        layout="tiles",
        tile_dir=str(tmp_path / "tiles"),
        tile_size=64,
    )
    pairs = TrainPairs(cfg)
    tops, lefts = [], []
    for s in range(2000):
        sample = pairs.sample(s)
        top, left = int(sample.hq[0, 0, 0]), int(sample.hq[0, 0, 1])
        y, x = np.mgrid[top : top + 64, left : left + 64]
        assert np.array_equal(sample.hq[..., 0], y) and np.array_equal(sample.hq[..., 1], x)
        assert np.array_equal(sample.lq[..., 0], x) and np.array_equal(sample.lq[..., 1], y)
        tops.append(top)
        lefts.append(left)
    positions = 256 - 64 + 1
    for values in (np.array(tops), np.array(lefts)):
        assert values.min() == 0 and values.max() == positions - 1
        counts = np.bincount(values * 8 // positions, minlength=8)  # 8 equal-width bins
        assert stats.chisquare(counts).pvalue > 0.001
        assert stats.kstest((values + 0.5) / positions, "uniform").pvalue > 0.001
        assert np.mean(values % 64 != 0) > 0.9  # not tile-aligned


def test_a_changed_dataset_rebuilds_its_view(tmp_path):
    root = _noise_pairs(tmp_path / "noise", [(128, 128)])
    view = TileView(tmp_path / "view", open_source(SourceSpec(str(root))), tile=64)
    view.item(0)
    old_folder = view.folder
    changed = np.full((128, 128, 3), 7, np.uint8)
    Image.fromarray(changed).save(root / "hq" / "n0.png")
    os.utime(root / "hq" / "n0.png", ns=(0, 10**18))  # whatever the clock's resolution
    view = TileView(tmp_path / "view", open_source(SourceSpec(str(root))), tile=64)
    assert view.folder != old_folder and not old_folder.exists()
    assert np.array_equal(view.item(0).region(10, 20, 30, 40).hq, changed[10:40, 20:60])


def test_a_cut_short_or_foreign_item_file_is_rebuilt(tmp_path):
    root = _noise_pairs(tmp_path / "noise", [(128, 128), (128, 128)])
    source = open_source(SourceSpec(str(root)))
    view = TileView(tmp_path / "view", source, tile=64)
    path0, path1 = view.item(0).path, view.item(1).path
    whole = path0.read_bytes()
    path1.write_bytes(whole)  # a whole file, of another item
    path0.write_bytes(whole[:-10])  # cut short (e.g. copied by hand and interrupted)
    for index in (0, 1):
        expected = source.read(index)
        got = view.item(index).region(0, 0, 128, 128)
        assert got.id == expected.id and np.array_equal(got.hq, expected.hq)


def test_the_view_never_writes_into_the_dataset_or_a_users_folder(tmp_path):
    root = _noise_pairs(tmp_path / "noise", [(64, 64)])
    source = open_source(SourceSpec(str(root)))
    with pytest.raises(OutputFolderError, match=r"must not\s+overlap"):
        TileView(root / "tiles", source)
    users = tmp_path / "mine"
    users.mkdir()
    (users / "notes.txt").write_text("keep")
    with pytest.raises(OutputFolderError, match=r"notes\.txt"):
        TileView(users, source)
    assert sorted(p.name for p in users.iterdir()) == ["notes.txt"] and not (root / "tiles").exists()


def test_build_tile_view_counts_items_bytes_and_bad_items(tmp_path):
    root = _noise_pairs(tmp_path / "noise", [(64, 64), (64, 64), (64, 64)])
    (root / "hq" / "n1.png").write_bytes(b"not a png")
    cfg = DataConfig(ggt=[SourceSpec(str(root))], layout="tiles", tile_dir=str(tmp_path / "t"), tile_size=32)
    (summary,) = build_tile_view(cfg).values()
    assert summary["items"] == 3 and summary["skipped"] == 1
    assert summary["bytes"] == sum(
        p.stat().st_size for p in (tmp_path / "t").rglob("*") if p.is_file()
    ) - sum(p.stat().st_size for p in (tmp_path / "t").glob(".ggt-output*"))
    assert len(list((tmp_path / "t").rglob("*.tiles"))) == 2


def test_layout_options_are_checked():
    with pytest.raises(ValueError, match="needs tile_dir"):
        DataConfig(ggt=[SourceSpec("x")], layout="tiles")
    with pytest.raises(ValueError, match="choose one"):
        DataConfig(ggt=[SourceSpec("x")], layout="tiles", tile_dir="t", cache_dir="c")
    with pytest.raises(ValueError, match="layout must be one of"):
        DataConfig(ggt=[SourceSpec("x")], layout="lmdb")


def test_ggt_train_tiles_builds_the_view_a_recipe_trains_from(tmp_path, capsys, monkeypatch):
    from ggt_hf.cli import main

    recipe = Path(__file__).parents[2] / "training" / "recipes" / "nafnet" / "tiny_cpu.yaml"
    _noise_pairs(tmp_path / "pairs", [(128, 128), (96, 160)])
    monkeypatch.chdir(tmp_path)
    assert main(["train-tiles", "--config", str(recipe), "data.tile_dir=tiles"]) == 0
    assert "pairs: 2 items, 0 skipped (bad)" in capsys.readouterr().out
    built = {p: p.stat().st_mtime_ns for p in Path("tiles").rglob("*.tiles")}
    assert len(built) == 2
    cfg = DataConfig(
        ggt=[SourceSpec("pairs", kind="pairs")],
        crop_size=64,
        batch_size=2,
        num_workers=0,
        layout="tiles",
        tile_dir="tiles",
    )
    _batches(cfg, 2)  # the loader finds the view the command built: nothing rewritten
    assert {p: p.stat().st_mtime_ns for p in Path("tiles").rglob("*.tiles")} == built
    assert main(["train-tiles", "--config", str(recipe)]) == 2
    assert "no data.tile_dir" in capsys.readouterr().err
