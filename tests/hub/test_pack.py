"""ggt pack: pairs in, Hub-ready folder out, checked through `datasets.load_dataset`."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from datasets import load_dataset
from PIL import Image

from ggt_hf.constants import CATEGORIES, HubLayout
from ggt_hf.errors import LeakageError, PairingError
from ggt_hf.hub.card import list_shards
from ggt_hf.hub.pack import PackConfig, pack
from ggt_hf.hub.pairs import pairs_from_dir, pairs_from_records, pairs_from_templates
from ggt_hf.records import PairRecord, Provenance, QCCheck, QCResult


def _pack_dir(pairs: Path, out: Path, split: str = "train", **config) -> object:
    records, problems = pairs_from_dir(pairs, split=split)
    return pack(records, out, PackConfig(**config), problems=problems, progress=False)


def test_load_dataset_default_config_category_and_streaming(make_pairs_dir, tmp_path):
    pairs = make_pairs_dir(n=12)
    out = tmp_path / "ds"
    report = _pack_dir(pairs, out)
    assert sum(report.written.values()) == 12 and not report.problems

    ds = load_dataset(str(out))
    assert set(ds) == {"train"} and ds["train"].num_rows == 12
    names = ds["train"].features["category"].names
    assert names == list(CATEGORIES)
    row = ds["train"][0]
    assert row["lq"].size == row["hq"].size == (128, 128)
    assert row["lq"].mode == "RGB"
    # the stored bytes are the original files, not a re-encoding
    category = names[row["category"]]
    original = (pairs / "lq" / category / f"{row['id']}.png").read_bytes()
    table = pq.read_table(out / f"data/{category}/train-00000-of-00001.parquet")
    stored = {r["id"]: r["lq"]["bytes"] for r in table.to_pylist()}
    assert stored[row["id"]] == original

    rain = load_dataset(str(out), "rain")["train"]
    assert rain.num_rows == 2 and {names[c] for c in rain["category"]} == {"rain"}

    stream = load_dataset(str(out), split="train", streaming=True)
    streamed = [(r["id"], r["lq"].size) for r in stream]
    assert sorted(i for i, _ in streamed) == sorted(ds["train"]["id"])
    assert {s for _, s in streamed} == {(128, 128)}


def test_flat_pairs_with_category_flag_and_problems(tmp_path, make_pairs_dir):
    pairs = make_pairs_dir(n=4, nested=False)
    (pairs / "lq" / "p0.png").unlink()  # HQ without LQ
    Image.new("RGB", (64, 64)).save(pairs / "lq" / "orphan.png")  # LQ without HQ
    Image.new("RGB", (100, 100)).save(pairs / "hq" / "p1.png")  # size mismatch with lq/p1.png
    records, problems = pairs_from_dir(pairs, split="train", category="haze")
    reasons = {Path(p.item).name: p.reason for p in problems}
    assert reasons == {"p0.png": "missing LQ partner", "orphan.png": "missing HQ partner"}
    report = pack(records, tmp_path / "ds", PackConfig(), problems=problems, progress=False)
    assert report.written == {("haze", "train"): 2}
    assert any("size mismatch: LQ is 128×128 but HQ is 100×100" in p.reason for p in report.problems)
    assert load_dataset(str(tmp_path / "ds"), "haze")["train"].num_rows == 2


def test_no_category_and_unknown_folder_are_reported(tmp_path, make_pairs_dir):
    pairs = make_pairs_dir(n=2, nested=False)
    for side in ("lq", "hq"):
        (pairs / side / "misc").mkdir()
        Image.new("RGB", (32, 32)).save(pairs / side / "misc" / "m.png")
    records, problems = pairs_from_dir(pairs, split="train")
    assert not records
    reasons = sorted(p.reason for p in problems)
    assert reasons[0].startswith("no category") and len(reasons) == 3
    assert any("unknown category 'misc'" in r for r in reasons)


def test_duplicate_ids_and_pixel_changing_inputs_are_refused(tmp_path, photos):
    root = tmp_path / "pairs"
    for cat in ("rain", "snow"):
        for side in ("lq", "hq"):
            (root / side / cat).mkdir(parents=True)
            photos[0].resize((64, 64)).save(root / side / cat / "same.png")
    rgba = photos[1].resize((64, 64)).convert("RGBA")
    for side in ("lq", "hq"):
        rgba.save(root / side / "rain" / "alpha.png")
    records, problems = pairs_from_dir(root, split="train")
    report = pack(records, tmp_path / "ds", PackConfig(), problems=problems, progress=False)
    reasons = [p.reason for p in report.problems]
    assert any(r.startswith("duplicate id 'same'") for r in reasons)
    assert any("pack never changes pixels" in r and "stored as RGBA" in r for r in reasons)
    assert sum(report.written.values()) == 1


def test_strict_refuses_and_writes_nothing(tmp_path, make_pairs_dir):
    pairs = make_pairs_dir(n=3)
    (pairs / "hq" / "general" / "p0.png").unlink()
    records, problems = pairs_from_dir(pairs, split="train")
    with pytest.raises(PairingError, match="--strict"):
        pack(records, tmp_path / "ds", PackConfig(strict=True), problems=problems, progress=False)
    assert not list((tmp_path / "ds").rglob("*.parquet"))


def test_leakage_refused_unless_forced(tmp_path, make_pairs_dir):
    train = make_pairs_dir(n=6, name="train")
    out = tmp_path / "ds"
    _pack_dir(train, out, "train")
    # the test split reuses one train photo (re-encoded as JPEG: not byte-identical, same content)
    test = tmp_path / "test"
    for side in ("lq", "hq"):
        (test / side / "rain").mkdir(parents=True)
        Image.open(train / side / "rain" / "p1.png").save(test / side / "rain" / "t1.jpg", quality=92)
    with pytest.raises(LeakageError, match="near-duplicate of train pair p1"):
        _pack_dir(test, out, "test")
    assert not list(out.glob("data/*/test-*.parquet"))
    report = _pack_dir(test, out, "test", force=True)
    assert [p.item for p in report.leaks] == ["t1"]
    assert load_dataset(str(out))["test"].num_rows == 1


def test_deterministic_and_incremental(tmp_path, make_pairs_dir):
    pairs = make_pairs_dir(n=6)
    _pack_dir(pairs, tmp_path / "a")
    _pack_dir(pairs, tmp_path / "b")
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel

    before = {s.path: (tmp_path / "a" / s.path).read_bytes() for s in list_shards(tmp_path / "a")}
    test_pairs = make_pairs_dir(n=2, name="test", offset=100)
    _pack_dir(test_pairs, tmp_path / "a", "test")
    after = {
        s.path: (tmp_path / "a" / s.path).read_bytes()
        for s in list_shards(tmp_path / "a")
        if "/train-" in s.path
    }
    assert after == before  # train shards untouched by packing the test split
    manifest = json.loads((tmp_path / "a" / HubLayout.MANIFEST).read_text())
    assert sum(c["test"] for c in manifest["counts"].values()) == 2
    assert sum(c["train"] for c in manifest["counts"].values()) == 6


def test_records_read_once_from_a_lazy_iterable_pack_like_a_list(tmp_path, make_pairs_dir):
    records, _ = pairs_from_dir(make_pairs_dir(n=6), split="train")
    config = PackConfig(max_shard_bytes=1, max_row_group_rows=2)  # several shards and row groups
    pack(records, tmp_path / "a", config, progress=False)
    pack((r for r in reversed(records)), tmp_path / "b", config, progress=False)  # one pass only
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert len(list_shards(tmp_path / "a")) > 1
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_shards_and_row_groups_are_bounded(tmp_path, make_pairs_dir):
    pairs = make_pairs_dir(n=12, nested=False, size=96)
    records, _ = pairs_from_dir(pairs, split="train", category="general")
    per_pair = sum(Path(r.lq_path).stat().st_size + Path(r.hq_path).stat().st_size for r in records) / 12
    config = PackConfig(max_shard_bytes=int(per_pair * 5), row_group_bytes=int(per_pair * 2))
    report = pack(records, tmp_path / "ds", config, progress=False)
    shards = list_shards(tmp_path / "ds")
    assert len(shards) >= 3 and sum(s.num_rows for s in shards) == 12
    assert report.files == [s.path for s in shards]
    assert all(s.path.endswith(f"-of-{len(shards):05d}.parquet") for s in shards)
    for shard in shards:
        meta = pq.ParquetFile(tmp_path / "ds" / shard.path).metadata
        assert all(meta.row_group(i).num_rows <= 2 for i in range(meta.num_row_groups))
    assert load_dataset(str(tmp_path / "ds"))["train"].num_rows == 12


def test_records_jsonl_keeps_provenance_and_qc(tmp_path, make_pairs_dir):
    pairs = make_pairs_dir(n=2, nested=False)
    record = PairRecord(
        id="r0",
        category="Low-Light",
        split="train",
        lq_path="pairs/lq/p0.png",
        hq_path="pairs/hq/p0.png",
        prompt="Remove the noise; keep every object.",
        provenance=Provenance(
            backend="gemini", model_id="gemini-3-pro-image", seed=7, attempt=2, extra={"cost_usd": 0.04}
        ),
        qc=QCResult(
            verdict="accepted",
            attempts=2,
            checks=[QCCheck("judge", "geometry_alignment", True, 0.9, "aligned")],
        ),
    )
    path = tmp_path / "records.jsonl"
    path.write_text(json.dumps(record.to_json()) + "\n" + '{"id": "bad", "category": "rain"}\n')
    records, problems = pairs_from_records(path)
    assert len(records) == 1 and "invalid pair record" in problems[0].reason
    assert Path(records[0].lq_path) == pairs / "lq" / "p0.png"
    pack(records, tmp_path / "ds", progress=False)
    row = load_dataset(str(tmp_path / "ds"), "low_light")["train"][0]
    assert row["prompt"] == "Remove the noise; keep every object."
    assert row["provenance"]["backend"] == "gemini" and row["provenance"]["attempt"] == 2
    assert json.loads(row["provenance"]["extra"]) == {"cost_usd": 0.04}
    assert row["qc"]["verdict"] == "accepted"
    assert row["qc"]["checks"] == [
        {"stage": "judge", "name": "geometry_alignment", "passed": True, "value": 0.9, "reason": "aligned"}
    ]


def test_release_templates_and_tiff_reencoded_losslessly(tmp_path, photos):
    root = tmp_path / "GGT-100K"
    arrays = {}
    for split, cat, ident in (
        ("train", "LowLight", "a1"),
        ("train", "OldPhoto", "a2"),
        ("test", "Rain", "a3"),
    ):
        for side, folder in (("lq", "LQ"), ("hq", "GT")):
            d = root / split / cat / folder
            d.mkdir(parents=True, exist_ok=True)
            img = photos[len(arrays) % len(photos)].resize((80, 80))
            arrays[(ident, side)] = np.asarray(img)
            img.save(d / f"{ident}.tif" if ident == "a2" else d / f"{ident}.png")
    records, problems = pairs_from_templates(
        root, "{split}/{category}/LQ/{id}.{ext}", "{split}/{category}/GT/{id}.{ext}"
    )
    assert not problems and sorted((r.id, r.category, r.split) for r in records) == [
        ("a1", "low_light", "train"),
        ("a2", "old_photo", "train"),
        ("a3", "rain", "test"),
    ]
    pack(records, tmp_path / "ds", progress=False)
    old = load_dataset(str(tmp_path / "ds"), "old_photo")["train"][0]
    assert np.array_equal(np.asarray(old["lq"]), arrays[("a2", "lq")])  # TIFF → PNG, same pixels
    raw = pq.read_table(tmp_path / "ds" / "data/old_photo/train-00000-of-00001.parquet").to_pylist()[0]
    assert raw["lq"]["path"] == "a2.png" and Image.open(io.BytesIO(raw["lq"]["bytes"])).format == "PNG"


def test_negatives_config_is_separate(tmp_path, make_pairs_dir):
    from ggt_hf.hub.validate import validate_folder

    good = make_pairs_dir(n=6, name="good")
    bad = make_pairs_dir(n=3, name="bad", offset=20)
    out = tmp_path / "ds"
    _pack_dir(good, out)
    records, _ = pairs_from_dir(bad, split="train")
    for r in records:
        r.qc = QCResult(
            verdict="rejected", attempts=3, checks=[QCCheck("auto", "shift", False, 31.0, "shifted")]
        )
    report = pack(records, out, PackConfig(), subset="negatives", progress=False)
    assert all(f.startswith("negatives/") for f in report.files)
    assert load_dataset(str(out))["train"].num_rows == 6  # default config: positives only
    negatives = load_dataset(str(out), "negatives")["train"]
    assert negatives.num_rows == 3 and {row["verdict"] for row in negatives["qc"]} == {"rejected"}
    assert validate_folder(out, progress=False) == []
    card = (out / "README.md").read_text()
    assert "config_name: negatives" in card and "Plus 3 rejected candidates" in card
    _pack_dir(good, out)  # repacking positives leaves the negatives alone
    assert load_dataset(str(out), "negatives")["train"].num_rows == 3
