"""The pack swap-in is atomic from a reader's view, and killed runs leave nothing behind for long."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from datasets import load_dataset

from ggt_hf.hub import pack as pack_module
from ggt_hf.hub.card import list_shards
from ggt_hf.hub.pack import RUN_MARKER, PackConfig, clean_stale_staging, pack
from ggt_hf.hub.pairs import pairs_from_dir


class _Killed(BaseException):
    """The process dying mid-swap."""


def _shards(out: Path) -> dict[str, bytes]:
    """The shards a reader sees (hidden folders are not part of the dataset)."""
    return {s.path: (out / s.path).read_bytes() for s in list_shards(out)}


def test_kill_during_swap_leaves_old_or_new_generation_never_a_mix(make_pairs_dir, tmp_path, monkeypatch):
    first, second = make_pairs_dir(n=12), make_pairs_dir(n=18, name="more")
    out = tmp_path / "ds"
    small = PackConfig(max_shard_bytes=40_000)  # several shards per group, so a partial swap would show
    pack(*pairs_from_dir(first, split="train")[:1], out, small, progress=False)
    before = _shards(out)
    assert len(before) > 6

    real_replace = os.replace
    moved = []

    def dying_replace(src, dst):  # dies after moving two new shards into the new generation
        if str(src).endswith(".parquet"):
            moved.append(dst)
            if len(moved) == 3:
                raise _Killed()
        return real_replace(src, dst)

    monkeypatch.setattr(pack_module.os, "replace", dying_replace)
    with pytest.raises(_Killed):
        pack(*pairs_from_dir(second, split="train")[:1], out, small, progress=False)
    monkeypatch.undo()
    assert _shards(out) == before  # the live folder is the old generation, complete
    assert load_dataset(str(out), split="train").num_rows == 12
    leftovers = [p for p in out.glob("data/.*") if ".gen-" in p.name]
    assert leftovers  # the half-built generation, hidden from readers

    pack(*pairs_from_dir(second, split="train")[:1], out, small, progress=False)  # the re-run cleans up
    assert not [p for p in out.rglob(".*") if ".gen-" in p.name or ".staging-" in p.name]
    assert load_dataset(str(out), split="train").num_rows == 18
    assert sum(s.num_rows for s in list_shards(out)) == 18


def test_stale_staging_of_dead_runs_is_removed_live_ones_kept(tmp_path):
    """Only folders a pack run created (its pid in the name and its run marker inside) are removed,
    and only when that process is gone; a user's look-alike folder beside the output is never
    touched (ATTACK 6a: `.ds.staging-backup/thesis.tex` was deleted)."""
    out = tmp_path / "ds"
    (out / "data").mkdir(parents=True)
    dead = tmp_path / ".ds.staging-999999999-abcd"
    alive = tmp_path / f".ds.staging-{os.getppid()}-efgh"
    generation = out / "data" / ".rain.gen-999999999-0000"
    users = [tmp_path / ".ds.staging-backup", tmp_path / ".ds.staging-999999998-mine"]
    users.append(out / "data" / ".rain.gen-999999997-keep")
    for folder in (dead, alive, generation, *users):
        folder.mkdir()
        (folder / "x.parquet").write_bytes(b"partial")
    for folder, pid in ((dead, 999999999), (alive, os.getppid()), (generation, 999999999)):
        # what pack writes into a folder it creates
        (folder / RUN_MARKER).write_text(json.dumps({"pid": pid, "shards": []}))
    (users[1] / RUN_MARKER).write_text(json.dumps({"pid": 1, "shards": []}))  # another pid: not its marker
    removed = clean_stale_staging(out)
    assert sorted(removed) == sorted([dead, generation]) and alive.exists()
    assert all((folder / "x.parquet").read_bytes() == b"partial" for folder in users)


def test_disk_full_while_the_card_is_written_is_reported_and_repairable(
    make_pairs_dir, tmp_path, monkeypatch
):
    """Shards in place but no card (ENOSPC): a one-line error says how to finish, validate flags the
    folder, and `ggt card` (or the same pack again) completes it."""
    import errno

    from ggt_hf.cli import main
    from ggt_hf.errors import DatasetValidationError
    from ggt_hf.hub import card as card_module
    from ggt_hf.hub.validate import validate_folder

    out = tmp_path / "ds"
    records = pairs_from_dir(make_pairs_dir(n=6), split="train")[0]

    def disk_full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(card_module, "atomic_write_json", disk_full)
    with pytest.raises(DatasetValidationError, match=r"No space left on device.*ggt card"):
        pack(records, out, PackConfig(), progress=False)
    monkeypatch.undo()
    assert list_shards(out) and not (out / "README.md").exists()
    assert validate_folder(out, progress=False)  # an incomplete folder is never reported valid

    assert main(["card", str(out)]) == 0
    assert validate_folder(out, progress=False) == []
    assert load_dataset(str(out), split="train").num_rows == 6
