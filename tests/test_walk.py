"""One walker for every folder ggt lists: a hostile or unlucky entry is refused and named, never fatal."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ggt_hf.constants import IMAGE_EXTENSIONS
from ggt_hf.errors import GGTError
from ggt_hf.files.walk import walk_files

BAD_NAME = os.fsdecode(b"bad\xff.png")  # not UTF-8: Python keeps the byte as a lone surrogate


def _tree(root: Path, outside: Path) -> None:
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.png").write_bytes(b"secret")
    for rel in ("a.png", "sub/b.jpg", "notes.txt", ".hidden.png"):
        (root / rel).write_bytes(b"x")
    (root / BAD_NAME).write_bytes(b"x")
    (root / "loop.png").symlink_to("loop.png")
    (root / "gone.png").symlink_to("nowhere.png")
    (root / "out.png").symlink_to(outside / "secret.png")
    (root / "outdir").symlink_to(outside)
    (root / "in.png").symlink_to("a.png")
    (root / "indir").symlink_to("sub")
    (root / "dirloop").symlink_to("dirloop2")
    (root / "dirloop2").symlink_to("dirloop")
    os.mkfifo(root / "pipe.png")


def test_walk_refuses_and_names_each_bad_entry(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _tree(root, tmp_path / "outside")
    walk = walk_files(root, extensions=IMAGE_EXTENSIONS)
    assert [p.relative_to(root).as_posix() for p in walk.files] == ["a.png", "in.png", "sub/b.jpg"]
    reasons = {os.path.relpath(p.path, root): p.reason for p in walk.problems}
    assert reasons == {
        BAD_NAME: "file name is not valid UTF-8; rename it",
        "loop.png": "symlink loop (points to 'loop.png')",
        "gone.png": "dangling symlink (points to 'nowhere.png')",
        "out.png": f"symlink leaves the folder (points to {tmp_path.resolve()}/outside/secret.png); "
        "refused, copy the file in instead",
        "outdir": f"symlink leaves the folder (points to {tmp_path.resolve()}/outside); "
        "refused, copy the file in instead",
        "pipe.png": "not a regular file",
    }
    # Named readably (bytes escaped), and writable as UTF-8 JSON: where the old code crashed.
    bad = next(p for p in walk.problems if p.path == root / BAD_NAME)
    assert bad.item.endswith("bad\\xff.png")
    json.dumps([p.item for p in walk.problems], ensure_ascii=False).encode("utf-8")


def test_walk_without_links_refuses_every_symlink(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _tree(root, tmp_path / "outside")
    walk = walk_files(root, links=False)
    names = {os.path.relpath(p.path, root): p.reason for p in walk.problems}
    assert "symlink refused" in names["in.png"] and "symlink refused" in names["indir"]
    assert "dirloop" in names and "dirloop2" in names  # two links naming each other: a loop
    assert all(not p.is_symlink() for p in walk.files)


def test_ggt_error_item_is_printable() -> None:
    error = GGTError(Path("/data") / BAD_NAME, "broken")
    assert error.item == "/data/bad\\xff.png"
    str(error).encode("utf-8")


def test_unreadable_folder_is_named_and_the_rest_walked(tmp_path: Path, monkeypatch) -> None:
    """As root a chmod 000 folder stays readable, so the refusal is simulated at os.scandir."""
    for rel in ("a.png", "locked/b.png"):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    walk = walk_files(tmp_path)
    assert walk.files == [tmp_path / "a.png"]
    assert [(p.item, p.reason) for p in walk.problems] == [
        (str(tmp_path / "locked"), "unreadable folder: Permission denied")
    ]


def test_degrade_goes_on_past_a_symlink_loop(tmp_path: Path, capsys) -> None:
    from PIL import Image

    from ggt_hf.cli import main

    (tmp_path / "in").mkdir()
    Image.new("RGB", (64, 64), (120, 90, 60)).save(tmp_path / "in" / "a.png")
    (tmp_path / "in" / "loop.png").symlink_to("loop.png")
    assert main(["degrade", str(tmp_path / "in"), str(tmp_path / "out"), "--category", "haze"]) == 1
    assert (tmp_path / "out" / "a.png").is_file()
    assert "loop.png: symlink loop (points to 'loop.png')" in capsys.readouterr().err


def test_a_root_whose_path_is_not_utf8_is_one_named_problem(tmp_path: Path) -> None:
    root = tmp_path / os.fsdecode(b"caf\xe9")
    root.mkdir()
    (root / "a.png").write_bytes(b"x")
    walk = walk_files(root)
    assert walk.files == []
    assert [p.reason for p in walk.problems] == [
        "folder path is not valid UTF-8; rename it (none of its files can be named)"
    ]
    assert walk_files(root, allow_non_utf8=True).files == [root / "a.png"]  # ingest names files itself
