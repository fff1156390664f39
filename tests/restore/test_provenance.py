"""The sidecar of ``ggt restore`` (ggt_hf.restore.provenance): which restorer made each output.

Unit tests of :class:`RestoreProvenance` on its own: the round trip through ``.ggt_restore.jsonl``,
torn or foreign lines, and what :meth:`RestoreProvenance.mismatches` reports.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ggt_hf.restore.provenance import SIDECAR, UNRECORDED, RestoreProvenance


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"png")
    return path


def test_the_sidecar_is_read_back_by_a_new_instance(tmp_path):
    out = tmp_path / "runs" / "out"
    first = RestoreProvenance(out)
    assert first.path == out / SIDECAR == out / ".ggt_restore.jsonl"
    assert first.made_by == {} and not out.exists()  # reading creates nothing
    first.record(out / "rain" / "a.png", 'nafnet {"tile": 64}')  # the folder is made on first record
    first.record(out / "b.png", "classical")
    lines = [json.loads(line) for line in (out / SIDECAR).read_text(encoding="utf-8").splitlines()]
    assert lines == [
        {"output": "rain/a.png", "restorer": 'nafnet {"tile": 64}'},
        {"output": "b.png", "restorer": "classical"},
    ]
    assert first.made_by == {"rain/a.png": 'nafnet {"tile": 64}', "b.png": "classical"}
    assert RestoreProvenance(out).made_by == first.made_by
    assert RestoreProvenance(str(out)).made_by == first.made_by  # a str folder too


def test_the_last_record_of_an_output_wins(tmp_path):
    provenance = RestoreProvenance(tmp_path)
    provenance.record(tmp_path / "a.png", "classical")
    provenance.record(tmp_path / "a.png", "classical:haze")
    assert provenance.made_by == {"a.png": "classical:haze"}
    assert RestoreProvenance(tmp_path).made_by == {"a.png": "classical:haze"}
    assert len((tmp_path / SIDECAR).read_text().splitlines()) == 2  # appended, never rewritten


def test_torn_and_foreign_lines_are_skipped_and_the_rest_kept(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="ggt_hf.restore.provenance")
    good = [json.dumps({"output": f"{n}.png", "restorer": "classical"}) for n in "abc"]
    lines = [
        good[0],
        '{"output": "x.png"',  # torn: not JSON (ValueError)
        '{"output": "y.png"}',  # no restorer (KeyError)
        "[1, 2]",  # not an object (TypeError)
        '"text"',  # a string (TypeError)
        good[1],
        "",
        good[2],
        '{"output": "torn',
    ]
    (tmp_path / SIDECAR).write_bytes("\n".join(lines).encode() + b"\n\xff\xfe not utf-8\n")
    assert RestoreProvenance(tmp_path).made_by == {
        "a.png": "classical",
        "b.png": "classical",
        "c.png": "classical",
    }
    skipped = [r.getMessage() for r in caplog.records]
    assert skipped == [f"{tmp_path / SIDECAR}: ignoring an unreadable line"] * 7


def test_mismatches_name_who_made_each_other_output(tmp_path):
    provenance = RestoreProvenance(tmp_path)
    mine, theirs, users = (_touch(tmp_path / name) for name in ("mine.png", "sub/theirs.png", "users.png"))
    missing = tmp_path / "missing.png"
    provenance.record(mine, "nafnet")
    provenance.record(theirs, "classical")
    provenance.record(missing, "classical")  # recorded, but not on disk any more: nothing to keep
    found = RestoreProvenance(tmp_path).mismatches([mine, theirs, users, missing], "nafnet")
    assert found == {theirs: "classical", users: UNRECORDED}
    assert UNRECORDED == "unknown (no record)"
    assert provenance.mismatches([mine, missing], "nafnet") == {}
    assert provenance.mismatches([], "nafnet") == {}


def test_outputs_are_keyed_relative_to_the_folder_whatever_path_names_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    provenance = RestoreProvenance("out")
    provenance.record(tmp_path / "out" / "rain" / "a.png", "classical")  # absolute path
    assert provenance.made_by == {"rain/a.png": "classical"}
    _touch(tmp_path / "out" / "rain" / "a.png")
    assert provenance.mismatches([Path("out/rain/a.png")], "classical") == {}  # relative path
    assert provenance.mismatches([Path("out/rain/a.png")], "other") == {Path("out/rain/a.png"): "classical"}


def test_names_and_prompts_beyond_ascii_round_trip(tmp_path):
    """The sidecar is ASCII JSON (escapes), so it reads back the same under any locale."""
    identity = 'gemini {"prompt": "enlève la brume ☁", "seed": 0}'
    RestoreProvenance(tmp_path).record(tmp_path / "photos d'été" / "café.png", identity)
    assert (tmp_path / SIDECAR).read_bytes().isascii()
    assert RestoreProvenance(tmp_path).made_by == {"photos d'été/café.png": identity}
