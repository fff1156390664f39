"""The pack's check cache: unchanged files are not decoded again, changed ones are, output unchanged."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import ggt_hf.hub.pack as pack_module
from ggt_hf.hub.check_cache import CheckCache, CheckedFile
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
    os.utime(victim, ns=(1, 1))
    calls.clear()
    report = pack(records, tmp_path / "c", PackConfig(check_cache=cache), progress=False)
    assert calls == [victim] and not report.problems


def test_a_damaged_cache_file_is_replaced(tmp_path, caplog):
    path = tmp_path / "checks.sqlite"
    path.write_bytes(b"not a database" * 100)
    cache = CheckCache(path)
    st = os.stat(path)
    cache.put("x.png", st, CheckedFile(4, 4, "png", None, None))
    assert cache.get("x.png", st) == CheckedFile(4, 4, "png", None, None)
    cache.close()
    assert "unreadable" in caplog.text
