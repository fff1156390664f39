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


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("configs: [[1]]", "README.md: card YAML configs[0]: expected a mapping, got list [1]"),
        ("configs: {a: 1}", "README.md: card YAML configs: expected a list, got dict"),
        (
            "configs: [{config_name: default, data_files: [{split: train, path: [x]}]}]",
            "README.md: card YAML configs[0].data_files[0].path: expected a text, got ['x']",
        ),
        ("dataset_info: [7]", "README.md: card YAML dataset_info[0]: expected a mapping, got int 7"),
        (
            "dataset_info: {splits: [{}]}",
            "README.md: card YAML dataset_info[0].splits[0].name: expected a text",
        ),
        ("a: " + "[" * 100 + "]" * 100, "README.md: card nested more than 64 levels deep"),
        (
            "a: &a [x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: ["
            + ", ".join(["*b"] * 10_000)
            + "]",
            "aliases expand",
        ),
    ],
    ids=["list-in-configs", "configs-mapping", "path-list", "info-int", "split-no-name", "deep", "laughs"],
)
def test_hostile_card_yaml_is_a_named_problem_not_a_crash(packed, yaml_text, expected):
    """ATTACK 10: ``configs: [[1]]`` made ``ggt validate`` print "error: AttributeError" (exit 1)."""
    (packed / HubLayout.CARD).write_text(f"---\n{yaml_text}\n---\n# card\n")
    problems = [str(p) for p in validate_folder(packed, progress=False)]
    assert any(p.startswith(expected) or expected in p for p in problems), problems


def test_a_card_pattern_outside_the_folder_is_a_problem(packed):
    card = packed / HubLayout.CARD
    card.write_text(card.read_text().replace("path: data/old_photo/train-*.parquet", "path: /etc/*"))
    problems = [str(p) for p in validate_folder(packed, progress=False)]
    assert any("pattern '/etc/*' is not a path inside the dataset folder" in p for p in problems), problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[" * 200_000, "ggt_dataset.json: nested too deeply to read"),
        ("[1, 2]", "ggt_dataset.json: expected a mapping (a JSON object) at the top level, got a list"),
        ('{"counts": ' * 100 + "1" + "}" * 100, "ggt_dataset.json: nested more than 64 levels deep"),
    ],
    ids=["200k-brackets", "a-list", "100-deep"],
)
def test_hostile_manifest_is_a_named_problem_in_validate_and_refused_by_pack(
    packed, make_pairs_dir, text, expected, capsys
):
    """ATTACK 10: 200k nested ``[`` gave "error: RecursionError" in ``ggt validate`` and ``ggt pack``."""
    from ggt_hf.cli import main

    (packed / HubLayout.MANIFEST).write_text(text)
    assert any(str(p).startswith(expected) for p in validate_folder(packed, progress=False))
    assert main(["validate", str(packed)]) == 1
    assert expected in capsys.readouterr().err
    assert main(["pack", str(make_pairs_dir(n=2)), str(packed), "--split", "test"]) == 1
    err = capsys.readouterr().err
    assert f"error: {packed / expected}" in err, err
    assert "RecursionError" not in err
    assert not list(packed.glob("data/*/test-*.parquet"))  # refused before any work


def test_a_hostile_output_marker_is_not_an_internal_error(packed, make_pairs_dir, capsys):
    """200k nested ``[`` in ``.ggt-output.json`` gave "error: RecursionError" in ``ggt pack``; the
    marker is then unreadable (as if absent) and the folder is recognised by its manifest."""
    from ggt_hf.cli import main
    from ggt_hf.files.output_folders import MARKER, read_marker

    (packed / MARKER).write_text("[" * 200_000)
    assert read_marker(packed) is None
    code = main(["pack", str(make_pairs_dir(n=2)), str(packed), "--split", "test"])
    err = capsys.readouterr().err
    assert "RecursionError" not in err
    assert code == 0 and "id already used in data/" in err, err  # the same pairs: pack ran to the end
    assert read_marker(packed) is not None


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        (b"[" * 200_000, "`huggingface` schema metadata: nested too deeply to read"),
        (b'{"info": [1]}', "missing or wrong `huggingface` features metadata"),
    ],
    ids=["200k-brackets", "info-list"],
)
def test_hostile_shard_metadata_is_a_named_problem(packed, metadata, expected):
    """A shard whose ``huggingface`` schema metadata is 200k nested ``[`` gave "error: RecursionError"."""
    shard = list_shards(packed)[0]
    path = packed / shard.path
    table = pq.read_table(path)
    pq.write_table(table.replace_schema_metadata({b"huggingface": metadata}), path)
    problems = [str(p) for p in validate_folder(packed, progress=False)]
    assert f"{shard.path}: {expected}" in "\n".join(problems), problems
