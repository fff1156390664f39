"""ggt validate finds every kind of damage, each with its file and row."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ggt_hf.constants import HubLayout
from ggt_hf.hub.card import list_shards
from ggt_hf.hub.pack import pack
from ggt_hf.hub.pairs import pairs_from_dir
from ggt_hf.hub.validate import validate_folder


@pytest.fixture
def packed(make_pairs_dir, tmp_path):
    records, _ = pairs_from_dir(make_pairs_dir(n=6), split="train")
    out = tmp_path / "ds"
    pack(records, out, progress=False)
    return out


def test_fresh_pack_is_valid(packed):
    assert validate_folder(packed, progress=False) == []


def _rewrite_shard(path, mutate):
    table = pq.read_table(path)
    rows = table.to_pylist()
    mutate(rows)
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), path)


def test_corrupt_image_wrong_size_and_category_are_reported(packed):
    shard = packed / list_shards(packed)[0].path

    def damage(rows):
        rows[0]["hq"]["bytes"] = rows[0]["hq"]["bytes"][:200]  # truncated PNG
        rows[0]["width"] = 99
        rows[0]["category"] = 5

    _rewrite_shard(shard, damage)
    problems = validate_folder(packed, progress=False)
    text = [str(p) for p in problems]
    rel = shard.relative_to(packed).as_posix()
    assert any(t.startswith(f"{rel} row 0") and "hq: truncated or corrupt" in t for t in text), text
    assert any("lq: is 128×128 but width/height say 99×128" in t for t in text)
    assert any("does not match shard folder 'general'" in t for t in text)


def test_duplicate_ids_stray_files_and_wrong_counts(packed):
    shards = list_shards(packed)
    first = pq.read_table(packed / shards[0].path).to_pylist()[0]["id"]
    _rewrite_shard(packed / shards[1].path, lambda rows: rows[0].update(id=first))
    (packed / "data" / "rain" / "extra.parquet").write_bytes(b"x")
    manifest = json.loads((packed / HubLayout.MANIFEST).read_text())
    manifest["counts"]["rain"]["train"] = 42
    (packed / HubLayout.MANIFEST).write_text(json.dumps(manifest))
    text = [str(p) for p in validate_folder(packed, progress=False)]
    assert any(f"duplicate id, also in {shards[0].path}" in t for t in text)
    assert any(t.startswith("data/rain/extra.parquet: parquet file outside the layout") for t in text)
    assert any(t.startswith("ggt_dataset.json: counts disagree") for t in text)


def test_card_problems_and_removed_shard(packed):
    card = packed / HubLayout.CARD
    (packed / "data/old_photo/train-00000-of-00001.parquet").unlink()
    text = [str(p) for p in validate_folder(packed, progress=False)]
    assert any("pattern 'data/old_photo/train-*.parquet' matches no file" in t for t in text)
    assert any("dataset_info default/train says 6 rows, shards hold 5" in t for t in text)
    card.write_text("---\nconfigs: [unclosed\n---\n")
    assert any("card YAML does not parse" in str(p) for p in validate_folder(packed, progress=False))
    card.unlink()
    assert any(str(p) == "README.md: missing dataset card" for p in validate_folder(packed, progress=False))


def test_schema_mismatch(packed):
    shard = packed / list_shards(packed)[0].path
    table = pq.read_table(shard).drop_columns(["lq_phash"])
    pq.write_table(table, shard)
    assert any("schema differs from GGT schema" in str(p) for p in validate_folder(packed, progress=False))
