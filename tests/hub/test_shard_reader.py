"""Readers of packed shards check the parquet footer before reading (issue 21 point 11, attack 3):
a 100 KB shard whose one cell decompresses to hundreds of MB is refused, not read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ggt_hf.constants import Col
from ggt_hf.errors import DatasetValidationError
from ggt_hf.hub import shard_reader
from ggt_hf.hub.card import list_shards, provenance_summary, sample_tiles
from ggt_hf.hub.pack import PackConfig, pack
from ggt_hf.hub.pairs import pairs_from_dir
from ggt_hf.hub.validate import validate_folder

CELL = 64 << 20  # a zero-filled cell: zstd makes it a few KB on disk


def _bomb_dataset(make_pairs_dir, tmp_path: Path) -> tuple[Path, str]:
    """A packed dataset whose first shard's row 0 LQ is ``CELL`` zero bytes, zstd-compressed."""
    out = tmp_path / "ds"
    records, problems = pairs_from_dir(make_pairs_dir(n=2), split="train")
    pack(records, out, PackConfig(), problems=problems, progress=False)
    rel = list_shards(out)[0].path
    table = pq.read_table(out / rel)
    lq = table.column(Col.LQ).to_pylist()
    lq[0] = {"bytes": b"\0" * CELL, "path": lq[0]["path"]}
    table = table.set_column(table.schema.get_field_index(Col.LQ), table.schema.field(Col.LQ), [lq])
    pq.write_table(table, out / rel, compression="zstd")
    assert (out / rel).stat().st_size < 1 << 20
    return out, rel


@pytest.fixture
def small_caps(monkeypatch):
    monkeypatch.setattr(shard_reader, "MAX_COLUMN_CHUNK_BYTES", CELL // 4)
    monkeypatch.setattr(shard_reader, "MAX_ROW_GROUP_BYTES", CELL // 2)


def test_every_reader_refuses_the_shard_from_its_footer(make_pairs_dir, tmp_path, small_caps):
    out, rel = _bomb_dataset(make_pairs_dir, tmp_path)
    problems = [p for p in validate_folder(out, progress=False) if p.item == rel]
    assert len(problems) == 1 and "row group 0: column 'lq.bytes'" in problems[0].reason, problems
    shards = list_shards(out)
    with pytest.raises(DatasetValidationError, match="row group 0"):
        sample_tiles(out, shards)
    provenance_summary(out, shards)  # reads only small columns: the LQ cell is never touched
    records, _ = pairs_from_dir(make_pairs_dir(n=1, name="more", offset=5), split="test")
    with pytest.raises(DatasetValidationError, match=rel):  # pack reads the kept rows' HQ
        pack(records, out, PackConfig(), progress=False)


_MEASURE = """
import json, sys
from pathlib import Path
from ggt_hf.hub import shard_reader
from ggt_hf.hub.validate import validate_folder
def peak_kb():  # this process's high-water mark (ru_maxrss would include the parent's, kept across exec)
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1])
shard_reader.MAX_COLUMN_CHUNK_BYTES, shard_reader.MAX_ROW_GROUP_BYTES = {caps}
before = peak_kb()
problems = validate_folder(sys.argv[1], progress=False, workers=1)
print(json.dumps({{"grew_kb": peak_kb() - before, "problems": [str(p) for p in problems]}}))
"""


@pytest.mark.slow  # a subprocess importing datasets: ~6 s
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_validate_peak_memory_stays_below_the_cell(make_pairs_dir, tmp_path):
    out, rel = _bomb_dataset(make_pairs_dir, tmp_path)
    code = _MEASURE.format(caps=(CELL // 4, CELL // 2))
    result = subprocess.run(
        [sys.executable, "-c", code, str(out)], capture_output=True, text=True, check=True
    )
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert any(rel in p and "row group 0" in p for p in measured["problems"]), measured
    assert measured["grew_kb"] * 1024 < CELL // 2, measured  # the 64 MB cell was never materialised


def test_eval_and_training_readers_check_a_local_folder_first(make_pairs_dir, tmp_path, small_caps):
    from ggt_hf.evaluation.references import PackedReference, load_packed_split
    from ggt_hf.training.data.sources import PackedSource, SourceSpec

    out, rel = _bomb_dataset(make_pairs_dir, tmp_path)
    for load in (
        lambda: PackedReference(str(out), "train", None),
        lambda: load_packed_split(str(out), "train"),
        lambda: PackedSource(SourceSpec(str(out), kind="packed"), "ggt"),
    ):
        with pytest.raises(DatasetValidationError, match=f"{rel}: row group 0"):
            load()
