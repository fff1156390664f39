"""JSONL files: what a crash or a damaged line leaves, and what readers make of it."""

from __future__ import annotations

import json

import pytest

from ggt_hf.files.io_utils import append_jsonl, read_jsonl


def write(path, *lines: str) -> None:
    path.write_text("".join(lines), encoding="utf-8")


def test_a_missing_file_yields_nothing(tmp_path):
    assert list(read_jsonl(tmp_path / "absent.jsonl")) == []


def test_records_come_back_in_order_and_blank_lines_are_passed_over(tmp_path):
    path = tmp_path / "r.jsonl"
    write(path, '{"a": 1}\n', "\n", "   \n", '{"a": 2}\n')
    assert list(read_jsonl(path)) == [{"a": 1}, {"a": 2}]


def test_a_torn_final_line_is_skipped_silently(tmp_path):
    path = tmp_path / "r.jsonl"
    write(path, '{"a": 1}\n', '{"a": 2}\n', '{"a": ')
    calls: list[str] = []
    assert list(read_jsonl(path)) == [{"a": 1}, {"a": 2}]
    assert list(read_jsonl(path, on_corrupt=calls.append)) == [{"a": 1}, {"a": 2}]
    assert calls == []


def test_a_corrupt_line_in_the_middle_raises_naming_file_and_line(tmp_path):
    path = tmp_path / "r.jsonl"
    write(path, '{"a": 1}\n', "{oops\n", '{"a": 3}\n')
    with pytest.raises(ValueError) as caught:
        list(read_jsonl(path))
    assert str(caught.value).startswith(f"{path}:2: corrupt JSON line (")


def test_on_corrupt_hears_of_each_bad_line_and_the_rest_is_read(tmp_path):
    path = tmp_path / "r.jsonl"
    write(path, "{oops\n", '{"a": 2}\n', "nope\n", '{"a": 4}\n', '{"a": 5')
    calls: list[str] = []
    assert list(read_jsonl(path, on_corrupt=calls.append)) == [{"a": 2}, {"a": 4}]
    assert [c.split(": corrupt JSON line (")[0] for c in calls] == [f"{path}:1", f"{path}:3"]
    assert all(c.endswith(")") for c in calls)


def test_a_line_separator_inside_a_text_is_not_a_line_break(tmp_path):
    path = tmp_path / "r.jsonl"
    record = {"text": "one\u2028two\u0085three\rfour"}
    append_jsonl(path, record)
    append_jsonl(path, {"b": 1})
    assert list(read_jsonl(path)) == [record, {"b": 1}]


def test_append_repairs_a_torn_tail_before_writing(tmp_path):
    path = tmp_path / "r.jsonl"
    write(path, '{"a": 1}\n', '{"a": ')
    append_jsonl(path, {"a": 2})
    assert path.read_text(encoding="utf-8").endswith("\n")
    assert [json.loads(line) for line in path.read_text().splitlines()] == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (b"{oops", "Expecting property name enclosed in double quotes"),
        (b'{"a": "\xff\xfe"}', "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deep"),
    ],
)
def test_each_kind_of_damage_is_named(tmp_path, damage, reason):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"a": 1}\n' + damage + b'\n{"a": 3}\n')
    with pytest.raises(ValueError) as caught:
        list(read_jsonl(path))
    assert str(caught.value) == f"{path}:2: corrupt JSON line ({reason})"
    calls: list[str] = []
    assert list(read_jsonl(path, on_corrupt=calls.append)) == [{"a": 1}, {"a": 3}]
    assert calls == [str(caught.value)]


def test_windows_line_endings_read_as_records(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"a": 1}\r\n{"a": 2}\r\n')
    assert list(read_jsonl(path)) == [{"a": 1}, {"a": 2}]
