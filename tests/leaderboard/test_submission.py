"""Prediction zips and model repos: every kind of bad submission is refused with a reason naming it."""

from __future__ import annotations

import zipfile

import pytest
from PIL import Image

from ggt_hf.imaging.images import encode_image
from ggt_hf.leaderboard.submission import (
    InvalidSubmissionError,
    SubmissionLimits,
    check_zip,
    extract_predictions,
)


def _reasons(check) -> dict[str, str]:
    return {p.item: p.reason for p in check.problems}


def test_valid_zip_is_accepted_and_extracted_under_our_names(make_zip, hq_members, expected, tmp_path):
    assert len(expected) == 4 and set(expected.values()) == {(48, 48)}
    # inside a folder, plus macOS junk that is skipped, not refused
    members = {f"preds/{name}": data for name, data in hq_members.items()}
    members["__MACOSX/preds/._p0.png"] = b"\x00\x05\x16\x07junk"
    check = check_zip(make_zip(members), expected)
    assert check.ok, check.lines()
    assert set(check.members) == set(expected)
    written = extract_predictions(make_zip(members, "again.zip"), tmp_path / "out", check)
    assert sorted(p.name for p in written) == sorted(f"{i}.png" for i in expected)
    assert not (tmp_path / "out" / "preds").exists()
    assert (tmp_path / "out" / "p0.png").read_bytes() == hq_members["p0.png"]


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("../p0.png", "path traversal"),
        ("/tmp/p0.png", "absolute path"),
        ("C:/p0.png", "absolute path"),
        ("a\\..\\p0.png", "backslash"),
    ],
)
def test_unsafe_paths_are_refused(make_zip, hq_members, expected, member, reason):
    members = dict(hq_members)
    data = members.pop("p0.png")
    members[member] = data
    reasons = _reasons(check_zip(make_zip(members), expected))
    assert reason in reasons[member]
    assert reasons["p0"] == "missing prediction for this test id"


def test_member_problems_each_name_the_member(make_zip, hq_members, expected, photos):
    members = dict(hq_members)
    members["p1.png"] = b"<html>not an image</html>"
    members["p2.png"] = encode_image(photos[0].resize((40, 48)), "png")
    members["p3.jpg"] = members.pop("p3.png")  # fine alone ...
    members["p3.png"] = hq_members["p3.png"]  # ... but the same id twice is a duplicate
    members["p9.png"] = hq_members["p0.png"]
    members["inner.zip"] = b"PK\x03\x04whatever"
    members["inner.png"] = b"PK\x03\x04whatever"
    members["notes.txt"] = b"hello"
    check = check_zip(make_zip(members, symlinks=("p0link.png",)), expected)
    reasons = _reasons(check)
    assert "not a usable image" in reasons["p1.png"]
    assert reasons["p2.png"] == "wrong size 40×48, expected 48×48"
    assert reasons["p3.png"] == "duplicate id 'p3' (also 'p3.jpg')"
    assert reasons["p9.png"] == "id 'p9' is not in the test split"
    assert reasons["inner.zip"] == "nested archive"
    assert "not in the test split" in reasons["inner.png"]  # unknown id is found before the content
    assert "not an image file name" in reasons["notes.txt"]
    assert reasons["p0link.png"].startswith("a symbolic link")
    assert set(check.members) == {"p0", "p3"}
    with pytest.raises(InvalidSubmissionError) as info:
        check.raise_if_invalid("sub.zip")
    assert info.value.item == "sub.zip" and len(info.value.problems) == len(check.problems)
    with pytest.raises(InvalidSubmissionError, match="failed its check"):
        extract_predictions(make_zip(members, "x.zip"), "unused", check)


def test_nested_archive_content_under_an_image_name(make_zip, hq_members, expected):
    members = dict(hq_members)
    members["p1.png"] = b"PK\x03\x04" + b"\x00" * 100
    assert _reasons(check_zip(make_zip(members), expected))["p1.png"] == "nested archive"


def test_directories_only_empty_and_not_a_zip(make_zip, expected, tmp_path):
    path = tmp_path / "dirs.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("preds/"), b"")
        archive.writestr(zipfile.ZipInfo("preds/more/"), b"")
    assert "contains no files" in _reasons(check_zip(path, expected))["dirs.zip"]
    bogus = tmp_path / "bogus.zip"
    bogus.write_bytes(b"this is not a zip")
    assert "not a readable zip archive" in _reasons(check_zip(bogus, expected))["bogus.zip"]


def test_limits_stop_bombs_before_decompressing(make_zip, hq_members, expected):
    bomb = make_zip({**hq_members, "p0.png": b"\x00" * 5_000_000}, "bomb.zip")
    reasons = _reasons(check_zip(bomb, expected))
    assert reasons["p0.png"].startswith("compression ratio") and "over 100:1" in reasons["p0.png"]
    small = SubmissionLimits(max_member_bytes=1000)
    assert "over the 1,000 limit" in _reasons(check_zip(make_zip(hq_members), expected, small))["p0.png"]
    limits = SubmissionLimits(max_members=3)
    assert (
        "4 members, over the 3 limit"
        in _reasons(check_zip(make_zip(hq_members), expected, limits))["sub.zip"]
    )
    limits = SubmissionLimits(max_total_bytes=100)
    assert (
        "uncompressed, over the 100 limit"
        in _reasons(check_zip(make_zip(hq_members), expected, limits))["sub.zip"]
    )
    limits = SubmissionLimits(max_zip_bytes=100)
    assert "archive is" in _reasons(check_zip(make_zip(hq_members), expected, limits))["sub.zip"]


def test_lying_header_is_caught_by_the_capped_read(make_zip, hq_members, expected, tmp_path):
    """A member whose header under-declares its size never yields more than declared."""
    path = make_zip(hq_members)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("p0.png")
    # patch the central directory's uncompressed size of p0.png down to 100 bytes
    central = data.rfind(b"PK\x01\x02", 0, data.find(b"p0.png", data.find(b"PK\x01\x02")))
    data[central + 24 : central + 28] = (100).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    reason = _reasons(check_zip(path, expected))["p0.png"]
    assert info.file_size > 100 and ("unreadable member" in reason or "not a usable image" in reason)


def test_image_sizes_of_real_photo_crops_are_checked(make_zip, hq_members, expected):
    members = dict(hq_members)
    members["p1.png"] = encode_image(Image.new("RGB", (48, 47)), "png")
    assert _reasons(check_zip(make_zip(members), expected))["p1.png"] == "wrong size 48×47, expected 48×48"
