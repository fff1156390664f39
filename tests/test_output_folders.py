"""Issue 21: input and output never overlap, and only ggt's folders are changed
(:mod:`ggt_hf.files.output_folders`); ``ggt restore`` never restores onto its own input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ggt_hf.cli import main
from ggt_hf.files.output_folders import MARKER, OutputFolderError, check_no_overlap, claim_output_folder
from ggt_hf.runtime.error_reporting import EXIT_USAGE


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _photos(folder: Path, names=("a.png", "sub/b.png")) -> None:
    rng = np.random.default_rng(0)
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(folder / name)


@pytest.mark.parametrize(
    ("src", "dst"),
    [("in", "in"), ("in", "."), ("in", "in/out"), ("in/sub", "in"), ("in", "alias")],
    ids=["same", "input-inside-cwd", "output-inside-input", "input-inside-output", "symlink"],
)
def test_restore_folder_onto_overlapping_output_is_refused(tmp_path, monkeypatch, capsys, src, dst):
    monkeypatch.chdir(tmp_path)
    _photos(tmp_path / "in")
    (tmp_path / "alias").symlink_to("in")
    before = _files(tmp_path / "in")
    assert main(["restore", "--model", "classical", src, dst]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "must not overlap" in err and src in err and "--overwrite" not in err
    assert _files(tmp_path / "in") == before  # no output, no provenance sidecar, nothing changed


@pytest.mark.parametrize("dst", ["photo.png", ".", "alias.png"])
def test_restore_a_file_onto_itself_is_refused_and_never_offers_overwrite(tmp_path, monkeypatch, capsys, dst):
    monkeypatch.chdir(tmp_path)
    _photos(tmp_path, ["photo.png"])
    (tmp_path / "alias.png").symlink_to("photo.png")
    original = (tmp_path / "photo.png").read_bytes()
    for extra in ([], ["--overwrite"]):  # --overwrite must not replace the source either
        assert main(["restore", "--model", "classical", "photo.png", dst, *extra]) == EXIT_USAGE
        err = capsys.readouterr().err
        assert "must not overlap" in err and "photo.png" in err and "pass --overwrite" not in err
    assert (tmp_path / "photo.png").read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alias.png", "photo.png"]


def test_restore_into_a_separate_folder_still_works(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _photos(tmp_path / "in")
    assert main(["restore", "--model", "classical", "in", "out"]) == 0
    assert sorted(p.relative_to("out").as_posix() for p in Path("out").rglob("*.png")) == [
        "a.png",
        "sub/b.png",
    ]
    assert main(["restore", "--model", "classical", "in/a.png", "single.png"]) == 0


def test_check_no_overlap_names_both_paths(tmp_path):
    with pytest.raises(OutputFolderError, match=r"out .*is inside the input .*in\b"):
        check_no_overlap(tmp_path / "in", tmp_path / "in" / "out")
    check_no_overlap(tmp_path / "in", tmp_path / "in2")  # a shared prefix is not an overlap


def test_claim_refuses_user_folders_and_accepts_new_empty_or_own(tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    with pytest.raises(OutputFolderError, match=r"holds notes\.txt.*new or empty folder"):
        claim_output_folder(user, "dataset")
    assert _files(user) == {"notes.txt": b"mine"}  # no marker added on refusal
    claim_output_folder(tmp_path / "new", "dataset")
    assert (tmp_path / "new" / MARKER).exists()
    claim_output_folder(tmp_path / "new", "dataset")  # ggt's own: accepted again
    with pytest.raises(OutputFolderError, match="another kind of ggt output"):
        claim_output_folder(tmp_path / "new", "degraded")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputFolderError, match="is a file"):
        claim_output_folder(tmp_path / "file", "dataset")


def _user_folder(path: Path) -> dict[str, bytes]:
    (path / "assets").mkdir(parents=True)
    (path / "README.md").write_text("# my project\n")
    (path / "assets" / "logo.png").write_bytes(b"logo")
    return _files(path)


@pytest.mark.parametrize(
    "argv",
    [
        ["degrade", "photos", "user", "--category", "rain"],
        ["degrade", "photos", "photos", "--category", "rain"],
        ["ingest", "photos", "user"],
        ["ingest", "photos", "photos"],
        ["ingest", "photos", "."],
        ["card", "user"],
    ],
    ids=["degrade-user", "degrade-same", "ingest-user", "ingest-same", "ingest-input-inside", "card-user"],
)
def test_other_writers_refuse_user_folders_and_overlaps(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    _photos(tmp_path / "photos", ["rain/a.png"])
    before = {"user": _user_folder(tmp_path / "user"), "photos": _files(tmp_path / "photos")}
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "must not overlap" in err or "not made by ggt" in err, err
    assert {"user": _files(tmp_path / "user"), "photos": _files(tmp_path / "photos")} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos", "user"]
