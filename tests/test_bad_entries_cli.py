"""Issue 21 point 4: one bad file name or link is an item problem, never the end of a command."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ggt_hf.cli import main

BAD_NAME = os.fsdecode(b"bad\xff.png")  # not UTF-8 (a lone surrogate in Python)


def test_pack_names_a_non_utf8_file_and_packs_the_rest(make_pairs_dir, tmp_path: Path, capsys) -> None:
    pairs = make_pairs_dir(n=6)
    category = next(p.name for p in (pairs / "lq").iterdir())
    for side in ("lq", "hq"):
        first = sorted((pairs / side / category).iterdir())[0]
        shutil.copy(first, pairs / side / category / BAD_NAME)
    report = tmp_path / "report.tsv"
    # The old code stopped with exit 2 and "'utf-8' codec can't encode character '\udcff'".
    assert main(["pack", str(pairs), str(tmp_path / "out"), "--report", str(report)]) == 0
    assert "pack: 6 pairs" in capsys.readouterr().out
    lines = report.read_text(encoding="utf-8").splitlines()
    assert sorted(lines) == [
        f"{pairs}/{side}/{category}/bad\\xff.png\tfile name is not valid UTF-8; rename it"
        for side in ("hq", "lq")
    ]


def test_eval_writes_results_and_names_a_non_utf8_prediction(make_pairs_dir, tmp_path: Path, capsys) -> None:
    pairs = make_pairs_dir(n=4)
    assert main(["pack", str(pairs), str(tmp_path / "ds"), "--split", "test"]) == 0
    pred = tmp_path / "pred"
    shutil.copytree(pairs / "hq", pred)
    shutil.copy(next(pred.rglob("*.png")), pred / BAD_NAME)
    out = tmp_path / "res.json"
    args = ["eval", "--pred", str(pred), "--dataset", str(tmp_path / "ds"), "--split", "test"]
    # The old code scored, then crashed writing res.json: nothing written.
    assert main([*args, "--metrics", "psnr", "--out", str(out)]) == 1
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["problems"]["invalid"] == {"bad\\xff.png": "file name is not valid UTF-8; rename it"}
    assert sum(result["counts"].values()) == 4
    assert "bad\\xff.png: file name is not valid UTF-8" in capsys.readouterr().err


def test_restore_goes_on_past_a_symlink_loop_and_refuses_a_link_out(photos, tmp_path: Path, capsys) -> None:
    src = tmp_path / "in"
    src.mkdir()
    photos[0].crop((0, 0, 64, 64)).save(src / "a.png")
    (src / "loop.png").symlink_to("loop.png")
    (src / "passwd.png").symlink_to("/etc/passwd")
    # The old code raised RuntimeError("Symlink loop from ...") before restoring anything.
    assert main(["restore", "--model", "classical", str(src), str(tmp_path / "out")]) == 1
    assert (tmp_path / "out" / "a.png").is_file()
    err = capsys.readouterr().err
    assert "loop.png: symlink loop (points to 'loop.png')" in err
    assert "passwd.png: symlink leaves the folder (points to /etc/passwd)" in err


def test_pack_of_a_folder_whose_path_is_not_utf8_names_it(make_pairs_dir, tmp_path: Path, capsys) -> None:
    pairs = make_pairs_dir(n=2)
    bad_root = pairs.rename(tmp_path / os.fsdecode(b"caf\xe9"))
    # The old code crashed in the pack plan ("surrogates not allowed") without naming anything.
    assert main(["pack", str(bad_root), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "nothing to pack (1 problem(s)): " in err
    assert "caf\\xe9: folder path is not valid UTF-8; rename it" in err


def test_a_name_with_newline_and_tab_cannot_forge_report_or_console_lines(
    make_pairs_dir, tmp_path: Path, capsys
) -> None:
    """ATTACK 9: ``evil<LF>ok<TAB>fake.png`` (an LQ with no HQ) used to write two report lines, the
    second a forged ``ok<TAB>fake.png`` problem; it is one line, the name shown escaped."""
    pairs = make_pairs_dir(n=3)
    category = next(p.name for p in (pairs / "lq").iterdir())
    first = sorted((pairs / "lq" / category).iterdir())[0]
    shutil.copy(first, pairs / "lq" / category / "evil\nok\tfake\u2028.png")
    report = tmp_path / "rep.tsv"
    assert main(["pack", str(pairs), str(tmp_path / "ds3"), "--report", str(report)]) == 0
    lines = report.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and len(lines) == 2, lines  # one problem, one line
    item, reason = lines[0].split("\t")
    assert item.endswith(f"/lq/{category}/evil\\nok\\tfake\\u2028.png") and reason, item
    assert "evil\\nok\\tfake\\u2028.png: " in capsys.readouterr().err


def test_errors_and_problems_show_control_characters_escaped_but_keep_the_exact_item() -> None:
    from ggt_hf.errors import BadImageError
    from ggt_hf.hub.pairs import Problem

    error = BadImageError("a\nb\x1b[2J\x85.png", "not an image")
    assert str(error) == "a\\nb\\x1b[2J\\x85.png: not an image"
    assert error.item == "a\nb\x1b[2J\x85.png"  # JSON outputs keep the name exact
    problem = Problem("x\r\u2029y", "unpaired")
    assert str(problem) == "x\\r\\u2029y: unpaired" and problem.item == "x\r\u2029y"
