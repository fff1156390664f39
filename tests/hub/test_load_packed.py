"""Re-packing into the same folder and loading again gives the new rows, not the cached old ones.

``datasets`` keys its cache of a local folder whose card lists ``configs:`` on the card alone, so a
plain ``load_dataset(folder)`` after a re-pack returns the previous pack's rows (this test shows it,
so it notices the day ``datasets`` changes). Every ggt reader goes through ``load_packed``.
"""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import load_dataset

from ggt_hf.evaluation.references import load_packed_split
from ggt_hf.hub.pack import pack
from ggt_hf.hub.pairs import pairs_from_dir
from ggt_hf.hub.shard_reader import load_packed
from ggt_hf.training.data import SourceSpec, open_source


@pytest.fixture
def repacked(tmp_path, make_pairs_dir, monkeypatch):
    """A folder packed from pairs p0..p3, loaded once (filling the cache), then re-packed from p6..p9
    (the same four category groups, so every shard is rewritten) into the same folder. Returns
    (folder, first ids, second ids)."""
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    first = make_pairs_dir(n=4, size=64, name="first")
    second = make_pairs_dir(n=4, size=64, name="second", offset=6)
    ds = tmp_path / "ds"
    pack(pairs_from_dir(first, split="test")[0], ds, progress=False)
    before = sorted(load_packed(ds, None, "test")["id"])
    assert sorted(load_dataset(str(ds), split="test")["id"]) == before  # the plain cache is filled too
    pack(pairs_from_dir(second, split="test")[0], ds, progress=False)
    return ds, before, ["p6", "p7", "p8", "p9"]


def test_a_repacked_folder_loads_its_new_rows(repacked):
    ds, before, after = repacked
    assert before == ["p0", "p1", "p2", "p3"]
    assert sorted(load_packed(ds, None, "test")["id"]) == after
    assert sorted(load_packed_split(str(ds), "test")["id"]) == after
    assert sorted(load_packed(ds, "default", "test")["id"]) == after


def test_the_training_source_reads_the_new_rows(repacked):
    ds, _, after = repacked
    source = open_source(SourceSpec(str(ds), kind="packed", split="test"))
    assert sorted(source.item_id(i) for i in range(len(source))) == after


def _write_ids(path, ids):
    tmp = path.with_suffix(".tmp")
    pq.write_table(pa.table({"id": ids}), tmp)
    os.replace(tmp, path)  # as pack swaps a shard in: new file, same name


def test_rows_are_fresh_when_the_card_did_not_change(tmp_path, monkeypatch):
    """The case a card cannot tell apart: a re-pack whose card text is the same (same configs, same
    sizes — e.g. only a review verdict changed). A plain ``load_dataset(folder)`` then serves the
    cached rows; ``load_packed`` reads the files. If the plain assertion starts failing, ``datasets``
    keys local folders on their files and ``load_packed`` can become a plain ``load_dataset``."""
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "ds"
    (folder / "unfiltered").mkdir(parents=True)
    (folder / "README.md").write_text(
        "---\nconfigs:\n- config_name: unfiltered\n  data_files:\n  - split: test\n"
        "    path: unfiltered/test-*.parquet\n---\n"
    )
    shard = folder / "unfiltered" / "test-00000-of-00001.parquet"
    _write_ids(shard, ["a", "b"])
    assert load_packed(folder, "unfiltered", "test")["id"] == ["a", "b"]
    assert load_dataset(str(folder), "unfiltered", split="test")["id"] == ["a", "b"]
    _write_ids(shard, ["c", "d"])
    assert load_packed(folder, "unfiltered", "test")["id"] == ["c", "d"]
    assert load_dataset(str(folder), "unfiltered", split="test")["id"] == ["a", "b"]  # stale


def test_a_missing_split_is_named(repacked):
    ds, _, _ = repacked
    from ggt_hf.errors import DatasetValidationError

    with pytest.raises(DatasetValidationError, match="no 'train' split"):
        load_packed(ds, None, "train")
