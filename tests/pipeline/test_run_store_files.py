"""The run store without a build: the run folder's layout, schema checks, corrupt records moved
aside (never deleted, never crashing the run), re-opening being safe, and which folders are runs.

These are the fast tests that mutation testing of ``ggt_hf/files/run_store.py`` runs (issue 26);
tests/pipeline/test_run_store.py covers the same store through whole builds."""

from __future__ import annotations

import json
import logging
import os
import random
from pathlib import Path

import pytest

from ggt_hf import __version__
from ggt_hf.files.output_folders import MARKER, OutputFolderError, read_marker
from ggt_hf.files.run_store import (
    CorruptRecordError,
    IncompatibleRunError,
    RunLayout,
    RunStore,
    claim_run_folder,
    is_run_folder,
    quarantine_file,
)
from ggt_hf.records import RUN_SCHEMA_VERSION, AttemptRecord, ItemRecord, QCCheck


def _record(item_id: str, state: str = "ingested", **kw) -> ItemRecord:
    return ItemRecord(item_id, "rain", "train", f"ingest/0/{item_id}.png", state, **kw)


def _accepted(item_id: str) -> ItemRecord:
    attempt = AttemptRecord(
        1, "fix", 7, RunLayout.candidate(item_id, 1), [QCCheck("auto", "shift", True, 0.1)], accepted=True
    )
    return _record(item_id, "accepted", prompt="fix", attempts=[attempt], final_attempt=1)


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "run", create=True)


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


# -- the layout: old runs on disk must keep being found --------------------------------------------


def test_layout_names_every_path_of_the_documented_run_folder(tmp_path):
    """The file names are a contract with every run folder already on disk (and with the module
    docstring's tree): renaming one would make ggt lose the runs it wrote before."""
    layout = RunLayout(str(tmp_path))  # a str is accepted and becomes a Path
    assert isinstance(layout.root, Path) and layout.root == tmp_path
    expected = [
        (layout.items_dir, "items"),
        (layout.item("a1"), "items/a1.json"),
        (layout.ingest_dir(3), "ingest/3"),
        (layout.cache_dir, "cache"),
        (layout.quarantine_dir, "quarantine"),
        (layout.dataset_dir, "dataset"),
        (layout.config_file, "build_config.json"),
        (layout.review_file, "review.jsonl"),
        (layout.review_index, "review_index.json"),
        (layout.pack_checks, "pack_checks.sqlite"),
        (layout.run_info, "run.json"),
        (layout.lock_file(), "locks/run.lock"),
        (layout.lock_file("rank-0-of-2"), "locks/rank-0-of-2.lock"),
        (layout.resolve("candidates/a1/attempt2.png"), "candidates/a1/attempt2.png"),
    ]
    assert [p.relative_to(tmp_path).as_posix() for p, _ in expected] == [rel for _, rel in expected]
    assert RunLayout.candidate("a1", 2) == "candidates/a1/attempt2.png"  # relative, as records store it
    import ggt_hf.files.run_store as module

    for _, rel in expected:
        assert f"  {rel.split('/')[0]}" in module.__doc__


def test_is_run_means_an_items_folder(tmp_path):
    layout = RunLayout(tmp_path / "run")
    assert not layout.is_run()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "items").write_text("a file, not a folder")
    assert not layout.is_run()
    (tmp_path / "run" / "items").unlink()
    (tmp_path / "run" / "items").mkdir()
    assert layout.is_run()


# -- opening a run: run.json and its schema -------------------------------------------------------


def test_create_records_the_schema_once_and_reopening_changes_nothing(tmp_path):
    root = tmp_path / "run"
    RunStore(root)  # opening without create makes nothing
    assert not root.exists()
    store = RunStore(root, create=True)
    assert store.layout.items_dir.is_dir()
    info = json.loads(store.layout.run_info.read_text())
    assert info == {"run_schema": RUN_SCHEMA_VERSION, "ggt_hf_version": __version__}
    # a run started by an older ggt-hf keeps its run.json: re-running is safe and says who made it
    store.layout.run_info.write_text(json.dumps({"run_schema": 1, "ggt_hf_version": "0.1"}))
    store.write(_record("a"))
    before = {name: (root / name).read_bytes() for name in _files(root)}
    RunStore(root, create=True)
    RunStore(root)
    assert {name: (root / name).read_bytes() for name in _files(root)} == before


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "[2]",
        '{"ggt_hf_version": "1.0"}',
        '{"run_schema": "two"}',
        '{"run_schema": null}',
        "\xff",
    ],
)
def test_unreadable_run_info_is_refused_naming_the_file(tmp_path, text):
    root = tmp_path / "run"
    (root / "items").mkdir(parents=True)
    (root / "run.json").write_bytes(text.encode("latin-1"))
    with pytest.raises(IncompatibleRunError, match="unreadable run info") as caught:
        RunStore(root)
    assert caught.value.item == str(root / "run.json")


def test_a_newer_run_schema_is_refused_an_equal_or_older_one_is_read(tmp_path):
    root = tmp_path / "run"
    RunStore(root, create=True).write(_record("a"))
    for version in (1, RUN_SCHEMA_VERSION):
        (root / "run.json").write_text(json.dumps({"run_schema": version}))
        assert RunStore(root).read("a") == _record("a")
    (root / "run.json").write_text(
        json.dumps({"run_schema": RUN_SCHEMA_VERSION + 1, "ggt_hf_version": "9.1"})
    )
    with pytest.raises(IncompatibleRunError) as caught:
        RunStore(root)
    assert caught.value.item == str(root)
    assert caught.value.reason == (
        f"written by ggt-hf 9.1 with run schema {RUN_SCHEMA_VERSION + 1}; this version reads schema ≤ "
        f"{RUN_SCHEMA_VERSION}. Use that ggt-hf version or a new output folder"
    )
    (root / "run.json").write_text(json.dumps({"run_schema": RUN_SCHEMA_VERSION + 1}))
    with pytest.raises(IncompatibleRunError, match=r"written by ggt-hf \? with run schema"):
        RunStore(root)


# -- records: ids, reading, writing ---------------------------------------------------------------


def test_item_ids_are_the_record_files_only_sorted(store):
    for item_id in ("b", "a", "c.d"):
        store.write(_record(item_id))
    items = store.layout.items_dir
    (items / ".a.json.x1.tmp").write_text("{")  # an atomic write interrupted by a kill
    (items / ".hidden.json").write_text("{}")  # a dotfile (macOS ._ files and the like)
    (items / "notes.txt").write_text("mine")
    (items / "b.json.bak").write_text("{}")
    assert store.item_ids() == ["a", "b", "c.d"]
    assert sorted(store.scan_item_ids()) == ["a", "b", "c.d"]
    assert store.exists("a") and not store.exists("hidden") and not store.exists("zz")


def test_a_run_without_items_has_no_ids(tmp_path):
    store = RunStore(tmp_path / "nothing")
    assert store.item_ids() == [] and store.records() == [] and list(store.iter_records(ordered=False)) == []


def test_write_then_read_round_trips_and_replaces(store):
    record = _accepted("a")
    store.write(record)
    assert store.read("a") == record
    written = json.loads(store.layout.item("a").read_text())
    assert written["schema"] == RUN_SCHEMA_VERSION and written["id"] == "a"
    store.write(_record("a", "failed"))
    assert store.read("a").state == "failed"
    assert [p.name for p in store.layout.items_dir.iterdir()] == ["a.json"]  # no temp file left


def test_a_record_without_a_schema_is_version_1_and_a_newer_one_is_refused(store):
    path = store.layout.item("old")
    data = {k: v for k, v in _record("old").to_json().items() if k != "schema"}
    path.write_text(json.dumps(data))
    assert store.read("old").schema == 1
    path.write_text(json.dumps({**data, "schema": RUN_SCHEMA_VERSION}))
    assert store.read("old").schema == RUN_SCHEMA_VERSION
    path.write_text(json.dumps({**data, "schema": RUN_SCHEMA_VERSION + 1}))
    with pytest.raises(IncompatibleRunError) as caught:
        store.read("old")
    assert caught.value.item == str(path)
    assert caught.value.reason == (
        f"record schema {RUN_SCHEMA_VERSION + 1}; this ggt-hf reads schema ≤ {RUN_SCHEMA_VERSION}"
    )
    with pytest.raises(IncompatibleRunError):  # not quarantined: a newer ggt-hf can still read it
        store.read_or_quarantine("old")
    assert path.exists()


#: Record files a dying disk, a bad copy or a hand edit can leave, and the reason each is refused with.
CORRUPT = {
    "truncated": (b'{"id": "x", "categ', "corrupt item record (Unterminated string"),
    "empty": (b"", "corrupt item record (Expecting value"),
    "binary": (b"\xff\xfe\x00garbage", "corrupt item record ("),
    "a list": (b"[1, 2]", "corrupt item record (not a JSON object)"),
    "a string": (b'"x"', "corrupt item record (not a JSON object)"),
    "unknown field": (b'{"id": "x", "colour": 1}', "corrupt item record (item 'x': unknown field(s) colour)"),
    "unknown state": (
        b'{"id": "x", "category": "c", "split": "s", "lq_path": "p", "state": "zombie"}',
        "corrupt item record (item 'x': unknown state 'zombie')",
    ),
    "missing field": (b'{"id": "x", "state": "ingested"}', "corrupt item record (item 'x': "),
    "bad attempt": (
        b'{"id": "x", "category": "c", "split": "s", "lq_path": "p", "attempts": [1]}',
        "corrupt item record (",
    ),
    "schema not a number": (b'{"id": "x", "schema": "two"}', "corrupt item record (schema 'two'"),
    "schema null": (b'{"id": "x", "schema": null}', "corrupt item record (schema None"),
    "schema a list": (b'{"id": "x", "schema": [2]}', "corrupt item record (schema [2]"),
    "nested too deep": (b"[" * 100_000, "corrupt item record ("),
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_a_corrupt_record_is_refused_naming_the_file_and_why(store, name):
    content, reason = CORRUPT[name]
    path = store.layout.item("x")
    path.write_bytes(content)
    with pytest.raises(CorruptRecordError) as caught:
        store.read("x")
    assert caught.value.item == str(path) and caught.value.reason.startswith(reason)


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_a_corrupt_record_is_moved_aside_and_nothing_else_is_lost(store, name, caplog):
    """One corrupt record (whatever its content) costs that item only: it is moved, byte for byte,
    to quarantine/ with a warning naming it, every other record is still read, and reading again
    is safe."""
    content, reason = CORRUPT[name]
    good = [_accepted("a"), _record("c", "failed")]
    for record in good:
        store.write(record)
    store.layout.item("b").write_bytes(content)
    caplog.set_level(logging.WARNING, logger="ggt_hf.files.run_store")
    assert store.records() == good
    assert not store.exists("b")
    (moved,) = (store.layout.quarantine_dir / "items").iterdir()
    assert moved.name.startswith("b.json.") and moved.read_bytes() == content
    (warning,) = caplog.records
    assert warning.getMessage() == (
        f"{store.layout.item('b')}: {warning.args[1]}; moved to {moved}, the item will be redone"
    )
    assert warning.args[1].startswith(reason)
    assert store.records() == good and list(store.iter_records()) == good
    assert _files(store.layout.quarantine_dir) == [f"items/{moved.name}"]


def test_unordered_iteration_streams_the_same_records_in_directory_order(store):
    """``ordered=False`` (the pack and the report over 100K items) reads in directory order
    without listing and sorting every id first; the same records, corrupt ones quarantined."""
    ids = [f"item{k:02d}" for k in range(40)]
    for item_id in random.Random(26).sample(ids, len(ids)):  # created out of order (any file system)
        store.write(_record(item_id))
    store.layout.item("item40").write_text("{")
    on_disk = [e.name[:-5] for e in os.scandir(store.layout.items_dir) if e.name != "item40.json"]
    assert on_disk != sorted(on_disk)  # the check below means something on this file system
    assert [r.id for r in store.iter_records(ordered=False)] == on_disk
    assert [r.id for r in store.iter_records()] == ids == sorted(on_disk)


def test_read_or_quarantine_returns_a_good_record(store):
    store.write(_accepted("a"))
    assert store.read_or_quarantine("a") == _accepted("a")
    assert not store.layout.quarantine_dir.exists()


# -- quarantine ------------------------------------------------------------------------------------


def test_quarantine_keeps_the_path_inside_the_run_and_never_deletes(store, tmp_path, caplog):
    layout = store.layout
    png = layout.resolve("candidates/a/attempt1.png")
    png.parent.mkdir(parents=True)
    png.write_bytes(b"half a png")
    caplog.set_level(logging.WARNING, logger="ggt_hf.files.run_store")
    target = store.quarantine(png, "truncated PNG")
    assert target.parent == layout.quarantine_dir / "candidates" / "a"
    assert target.name.startswith("attempt1.png.") and target.name.rsplit(".", 1)[1].isdigit()
    assert target.read_bytes() == b"half a png" and not png.exists()
    assert (
        caplog.records[-1].getMessage() == f"{png}: truncated PNG; moved to {target}, the item will be redone"
    )
    # a file outside the run folder is quarantined under its name
    outside = tmp_path / "elsewhere" / "x.json"
    outside.parent.mkdir()
    outside.write_text("{")
    moved = quarantine_file(layout, outside, "bad")
    assert moved.parent == layout.quarantine_dir and moved.name.startswith("x.json.")
    assert moved.read_text() == "{"


def test_quarantining_a_file_already_gone_is_quiet(store, caplog):
    """Two readers racing over the same corrupt file: the second finds it moved, says nothing."""
    caplog.set_level(logging.WARNING)
    target = quarantine_file(store.layout, store.layout.item("gone"), "corrupt")
    assert target.parent == store.layout.quarantine_dir / "items" and target.name.startswith("gone.json.")
    assert not target.exists() and not caplog.records


# -- which folders are runs ------------------------------------------------------------------------


def test_is_run_folder(tmp_path):
    folder = tmp_path / "f"
    assert not is_run_folder(folder)  # missing
    folder.mkdir()
    assert not is_run_folder(folder)  # empty
    (folder / "run.json").write_text(json.dumps({"run_schema": 2}))
    assert is_run_folder(folder)  # run.json alone is enough
    for text in ('{"other": 1}', "[]", '"run_schema"', "{", "[" * 100_000):
        (folder / "run.json").write_text(text)
        assert not is_run_folder(folder), text
    (folder / "build_config.json").write_text("{}")
    assert not is_run_folder(folder)  # a config without items/
    (folder / "items").mkdir()
    assert is_run_folder(folder)  # written before run.json existed
    (folder / "build_config.json").unlink()
    assert not is_run_folder(folder)  # items/ alone: someone else's folder
    (folder / "build_config.json").mkdir()
    assert not is_run_folder(folder)  # a folder named like the config


def test_claim_run_folder_takes_a_run_and_refuses_a_users_folder(tmp_path):
    assert claim_run_folder(tmp_path / "new") == tmp_path / "new" and (tmp_path / "new").is_dir()
    old = tmp_path / "old"
    (old / "items").mkdir(parents=True)
    (old / "run.json").write_text(json.dumps({"run_schema": 1}))
    assert claim_run_folder(str(old)) == old
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.md").write_text("mine")
    with pytest.raises(OutputFolderError, match=r"notes\.md.*ggt build only writes into"):
        claim_run_folder(mine)
    assert _files(mine) == ["notes.md"]


def test_a_folder_claimed_by_an_earlier_build_is_resumed_another_kind_is_refused(tmp_path):
    """ggt build marks the folder as a build run before it writes anything, so a build killed
    right after (its log or the user's notes beside it, no run.json yet) is resumed; a folder
    another ggt command claimed (a packed dataset) is not taken over."""
    killed = tmp_path / "killed"
    claim_run_folder(killed)
    assert read_marker(killed) == {"kind": "build-run", "created_by": "ggt build"}
    (killed / "build.log").write_text("started")
    assert claim_run_folder(killed) == killed
    packed = tmp_path / "packed"
    packed.mkdir()
    (packed / MARKER).write_text(json.dumps({"kind": "pack", "created_by": "ggt pack"}))
    with pytest.raises(
        OutputFolderError, match="holds another kind of ggt output \\('pack', not 'build-run'\\)"
    ):
        claim_run_folder(packed)
