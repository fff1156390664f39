"""Issue 21 point 4: hostile or unlucky release archives and folders are per-item problems.

Release pack used to crash on a tar symlink member (KeyError), read a 2 GB zip member whole (4.4 GB
peak) and leave a 0-row shard that ``ggt card`` could not read (StopIteration). Caps here are small
(kilobytes), so nothing large is ever allocated.
"""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ggt_hf.hub.card import finalize_folder, list_shards
from ggt_hf.hub.layout import ReleaseSource, detect_layout
from ggt_hf.hub.mirror import StreamConfig, pack_release
from ggt_hf.hub.pack import write_shard
from ggt_hf.hub.schema import dataset_features
from ggt_hf.hub.validate import validate_folder

from .release_fixtures import image_bytes, tar_bytes, zip_bytes

CONFIG = {"workers": 1}


def _pairs(n: int, seed: int) -> dict[str, bytes]:
    return {
        f"{role}/{i:04d}.png": image_bytes(seed + 2 * i + (role == "GT"))
        for i in range(n)
        for role in ("LQ", "GT")
    }


def _pack(root: Path, out: Path, max_bytes: int | None = None):
    source = ReleaseSource(str(root)) if max_bytes is None else ReleaseSource(str(root), max_bytes=max_bytes)
    plan = detect_layout(source)
    return pack_release(plan, source, out, StreamConfig(**CONFIG), progress=False)


def test_tar_link_members_are_refused_and_the_rest_packs(tmp_path: Path) -> None:
    root = tmp_path / "release" / "train"
    root.mkdir(parents=True)
    links = {"LQ/0009.png": (tarfile.SYMTYPE, "/etc/passwd"), "GT/0009.png": (tarfile.LNKTYPE, "GT/0000.png")}
    members = {**_pairs(3, 0), os.fsdecode(b"LQ/bad\xff.png"): image_bytes(7)}  # a name that is not UTF-8
    (root / "Rain.tar").write_bytes(tar_bytes(members, links))
    report = _pack(tmp_path / "release", tmp_path / "out")
    assert dict(report.written) == {("data", "rain", "train"): 3}
    reasons = {p.item: p.reason for p in report.problems}
    assert reasons == {
        "train/Rain/LQ/0009.png": "symlink member in the archive (to '/etc/passwd'): refused, never followed",
        "train/Rain/GT/0009.png": "hard link member in the archive (to 'GT/0000.png'): refused, never followed",
        "train/Rain/LQ/bad\\xff.png": "member name is not valid UTF-8",
    }


def test_zip_member_over_the_cap_is_refused_unread(tmp_path: Path) -> None:
    root = tmp_path / "release" / "train"
    root.mkdir(parents=True)
    big = _pairs(1, 50)
    big["LQ/0000.png"] = b"\0" * 200_000  # compresses to a few hundred bytes: a small zip bomb
    (root / "Haze.zip").write_bytes(zip_bytes(_pairs(2, 0)))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in big.items():
            z.writestr(name, data)
    (root / "Snow.zip").write_bytes(buf.getvalue())
    assert len(buf.getvalue()) < 5_000
    report = _pack(tmp_path / "release", tmp_path / "out", max_bytes=64_000)
    assert dict(report.written) == {("data", "haze", "train"): 2}
    assert [(p.item, p.reason) for p in report.problems] == [
        (
            "train/Snow/LQ/0000.png",
            "file too large: 200,000 bytes, over the limit of 64,000 bytes for one image",
        )
    ]
    # Every pair of the snow group failed: no shard for it, not a 0-row one.
    assert [s.path for s in list_shards(tmp_path / "out")] == ["data/haze/train-00000-of-00001.parquet"]
    assert validate_folder(tmp_path / "out", progress=False) == []


def test_local_release_with_a_link_loop_and_a_bad_name_packs_the_rest(tmp_path: Path) -> None:
    root = tmp_path / "release" / "train" / "Rain"
    for rel, data in _pairs(2, 0).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "LQ" / "loop.png").symlink_to("loop.png")
    (root / "GT" / os.fsdecode(b"bad\xff.png")).write_bytes(image_bytes(9))
    report = _pack(tmp_path / "release", tmp_path / "out")
    assert dict(report.written) == {("data", "rain", "train"): 2}
    assert {p.item: p.reason for p in report.problems} == {
        "train/Rain/LQ/loop.png": "symlink loop (points to 'loop.png')",
        "train/Rain/GT/bad\\xff.png": "file name is not valid UTF-8; rename it",
    }


def test_write_shard_never_leaves_a_shard_without_rows(tmp_path: Path) -> None:
    path = tmp_path / "train-00000-of-00001.parquet"
    assert write_shard(path, [], rows_per_group=4) == 0
    assert not path.exists()


def test_card_repairs_and_validate_names_a_zero_row_shard(tmp_path: Path) -> None:
    root = tmp_path / "release" / "train"
    root.mkdir(parents=True)
    (root / "Haze.zip").write_bytes(zip_bytes(_pairs(2, 0)))
    out = tmp_path / "out"
    _pack(tmp_path / "release", out)
    empty = out / "data" / "rain" / "train-00000-of-00001.parquet"  # as older ggt versions left them
    schema = dataset_features().arrow_schema
    empty.parent.mkdir()
    pq.write_table(pa.Table.from_pylist([], schema=schema), empty)
    finalize_folder(out)  # used to raise StopIteration reading the preview rows
    problems = validate_folder(out, progress=False)
    assert [(p.item, p.reason) for p in problems] == [
        (
            "data/rain/train-00000-of-00001.parquet",
            "shard has no rows (left by an older ggt); delete it, then run `ggt card FOLDER`",
        )
    ]
    empty.unlink()
    finalize_folder(out)
    assert validate_folder(out, progress=False) == []
