"""Metadata files from folders ggt did not write are read with caps (issue 21, ATTACK 10)."""

from __future__ import annotations

import re

import pytest

from ggt_hf.errors import DatasetValidationError
from ggt_hf.files.metadata_files import MAX_METADATA_BYTES, read_metadata


def test_a_file_past_the_size_cap_is_refused_unread(tmp_path) -> None:
    path = tmp_path / "ggt_dataset.json"
    path.write_text('{"a": "' + "x" * MAX_METADATA_BYTES + '"}')
    with pytest.raises(DatasetValidationError, match=f"larger than {MAX_METADATA_BYTES:,} bytes") as info:
        read_metadata(path)
    assert info.value.item == str(path)


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("m.json", b"\xff\xfe{}", "not UTF-8"),
        ("m.json", b'{"a": ', "not valid JSON"),
        ("m.yaml", b"- 1\n- 2\n", "expected a mapping (key: value) at the top level, got a list"),
        ("README.md", b"---\na: [\n---\n", "YAML does not parse"),
    ],
)
def test_each_way_a_file_is_wrong_is_named(tmp_path, name, data, reason) -> None:
    (tmp_path / name).write_bytes(data)
    with pytest.raises(DatasetValidationError, match=re.escape(reason)):
        read_metadata(tmp_path / name)


def test_missing_stays_file_not_found_and_a_card_without_yaml_is_empty(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        read_metadata(tmp_path / "absent.json")
    (tmp_path / "README.md").write_text("# just text\n")
    assert read_metadata(tmp_path / "README.md") == {}
    (tmp_path / "README.md").write_text("---\npretty_name: x\n---\n# card\n---\nmore\n")
    assert read_metadata(tmp_path / "README.md") == {"pretty_name": "x"}
