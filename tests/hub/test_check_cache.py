"""The pack's check cache: unchanged files are not decoded again, changed ones are, output unchanged.

No test here depends on the mount's atime option or on the clock: file times are set explicitly
(``os.utime(ns=...)``) and a moving access time is simulated with a stat that reports it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import ggt_hf.hub.pack as pack_module
from ggt_hf.hub.check_cache import CheckCache, CheckedFile, unchanged
from ggt_hf.hub.pack import PackConfig, pack
from ggt_hf.hub.pairs import pairs_from_dir


def _shards(out):
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in out.rglob("*.parquet")
    }


def _counting(monkeypatch):
    calls = []
    real = pack_module.check_image

    def counted(data, path, max_pixels):
        calls.append(str(path))
        return real(data, path, max_pixels)

    monkeypatch.setattr(pack_module, "check_image", counted)
    return calls


_T0 = 1_600_000_000_000_000_000  # a fixed file time (ns), far from "now"
_SEQUENCE_INDEX = {
    "st_mode": 0,
    "st_ino": 1,
    "st_dev": 2,
    "st_nlink": 3,
    "st_uid": 4,
    "st_gid": 5,
    "st_size": 6,
}
_HIDDEN = ("st_atime", "st_mtime", "st_ctime", "st_atime_ns", "st_mtime_ns", "st_ctime_ns")
_HIDDEN += ("st_blksize", "st_blocks", "st_rdev")


def _restat(st: os.stat_result, **changes: int) -> os.stat_result:
    """``st`` with some fields changed (a fake ``stat``: no file, no clock involved)."""
    seq = list(st)
    extra = {name: getattr(st, name) for name in _HIDDEN if hasattr(st, name)}
    for name, value in changes.items():
        if name in _SEQUENCE_INDEX:
            seq[_SEQUENCE_INDEX[name]] = value
        else:
            extra[name] = value
    return os.stat_result(seq, extra)


def _pin_times(root: Path) -> None:
    for path in root.rglob("*.png"):
        os.utime(path, ns=(_T0, _T0))


def test_second_pack_decodes_nothing_and_writes_the_same_bytes(make_pairs_dir, tmp_path, monkeypatch):
    pairs = make_pairs_dir(n=8)
    records, _ = pairs_from_dir(pairs, split="train")
    calls = _counting(monkeypatch)
    cache = tmp_path / "checks.sqlite"

    pack(records, tmp_path / "plain", PackConfig(), progress=False)
    assert len(calls) == 16  # no cache: both images of every pair
    calls.clear()
    pack(records, tmp_path / "first", PackConfig(check_cache=cache), progress=False)
    assert len(calls) == 16 and cache.is_file()
    calls.clear()
    report = pack(records, tmp_path / "second", PackConfig(check_cache=cache), progress=False)
    assert calls == [] and sum(report.written.values()) == 8
    assert _shards(tmp_path / "second") == _shards(tmp_path / "first") == _shards(tmp_path / "plain")


def test_a_changed_file_is_checked_again(make_pairs_dir, tmp_path, monkeypatch):
    pairs = make_pairs_dir(n=4)
    _pin_times(pairs)
    records, _ = pairs_from_dir(pairs, split="train")
    cache = tmp_path / "checks.sqlite"
    pack(records, tmp_path / "a", PackConfig(check_cache=cache), progress=False)
    calls = _counting(monkeypatch)

    victim = records[0].hq_path
    data = Path(victim).read_bytes()
    with open(victim, "wb") as fh:  # truncated in place: same inode, new size
        fh.write(data[: len(data) // 2])
    report = pack(records, tmp_path / "b", PackConfig(check_cache=cache), progress=False)
    assert calls == [victim]
    assert [p.item for p in report.problems] == [victim] and sum(report.written.values()) == 3

    with open(victim, "wb") as fh:  # restored bytes, new mtime: checked (and remembered) again
        fh.write(data)
    os.utime(victim, ns=(_T0, _T0 + 1))
    calls.clear()
    report = pack(records, tmp_path / "c", PackConfig(check_cache=cache), progress=False)
    assert calls == [victim] and not report.problems

    other = Path(records[1].hq_path)  # replaced by a copy with the same size and times: new inode
    copy = other.with_suffix(".tmp")
    copy.write_bytes(other.read_bytes())
    os.utime(copy, ns=(_T0, _T0))
    os.replace(copy, other)
    calls.clear()
    report = pack(records, tmp_path / "d", PackConfig(check_cache=cache), progress=False)
    assert calls == [str(other)] and not report.problems


@pytest.mark.parametrize("field", ["st_dev", "st_ino", "st_size", "st_mtime_ns", "st_ctime_ns"])
def test_each_field_of_the_content_stamp_counts_and_the_access_time_does_not(tmp_path, field):
    path = tmp_path / "x.png"
    path.write_bytes(b"x")
    st = os.stat(path)
    moved_atime = _restat(st, st_atime_ns=st.st_atime_ns + 10**9, st_atime=st.st_atime + 1)
    assert unchanged(st, moved_atime)
    changed = _restat(st, **{field: getattr(st, field) + 1})
    assert not unchanged(st, changed)

    cache = CheckCache(tmp_path / "checks.sqlite")
    cache.put(path, st, CheckedFile(1, 1, "png", None, None))
    assert cache.get(path, moved_atime) == CheckedFile(1, 1, "png", None, None)
    assert cache.get(path, changed) is None
    cache.close()


def test_a_first_pack_remembers_every_file_even_when_reading_moves_the_access_time(
    make_pairs_dir, tmp_path, monkeypatch
):
    """relatime (the Linux default) moves a file's atime on its first read after a write: every
    ``stat`` taken after a read sees a later atime (simulated, so the mount option does not matter)."""
    pairs = make_pairs_dir(n=8)
    records, _ = pairs_from_dir(pairs, split="train")
    reads: dict[str, int] = {}
    real_read, real_stat = pack_module.read_file_bytes, pack_module._stat

    def read(path, *args, **kwargs):
        reads[str(path)] = reads.get(str(path), 0) + 1
        return real_read(path, *args, **kwargs)

    def stat(path):
        st = real_stat(path)
        moved = reads.get(str(path), 0) * 10**9
        return _restat(st, st_atime_ns=st.st_atime_ns + moved, st_atime=st.st_atime + moved / 1e9)

    monkeypatch.setattr(pack_module, "read_file_bytes", read)
    monkeypatch.setattr(pack_module, "_stat", stat)
    cache = tmp_path / "checks.sqlite"
    pack(records, tmp_path / "first", PackConfig(check_cache=cache), progress=False)
    assert len(reads) == 16
    with_cache = CheckCache(cache)
    assert len(with_cache) == 16  # both sides of all 8 pairs, after the first pack
    with_cache.close()
    calls = _counting(monkeypatch)
    pack(records, tmp_path / "second", PackConfig(check_cache=cache), progress=False)
    assert calls == []


def test_a_damaged_cache_file_is_replaced(tmp_path, caplog):
    path = tmp_path / "checks.sqlite"
    path.write_bytes(b"not a database" * 100)
    cache = CheckCache(path)
    st = os.stat(path)
    cache.put("x.png", st, CheckedFile(4, 4, "png", None, None))
    assert cache.get("x.png", st) == CheckedFile(4, 4, "png", None, None)
    cache.close()
    assert "unreadable" in caplog.text
