"""``ggt restore`` records which restorer made each output and refuses to mix two models' outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ggt_hf.cli import main
from ggt_hf.restore.provenance import SIDECAR, RestoreProvenance
from ggt_hf.runtime.error_reporting import EXIT_USAGE


def _photos(folder: Path) -> None:
    rng = np.random.default_rng(0)
    for name in ("rain/a.png", "haze/b.png"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(folder / name)


def test_other_model_into_same_folder_is_refused_then_overwritten(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    _photos(tmp_path / "lq")
    assert main(["restore", "--model", "classical", "lq", "out"]) == 0
    first = (tmp_path / "out" / "rain" / "a.png").read_bytes()
    assert RestoreProvenance("out").made_by == {"rain/a.png": "classical", "haze/b.png": "classical"}

    assert main(["restore", "--model", "classical", "lq", "out"]) == 0  # same model: resumes
    assert "skipped 2 existing" in capsys.readouterr().out

    assert main(["restore", "--model", "classical:haze", "lq", "out"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "2 existing output(s) were made by another restorer" in err and "--overwrite" in err
    assert (tmp_path / "out" / "rain" / "a.png").read_bytes() == first  # nothing touched

    assert main(["restore", "--model", "classical:haze", "lq", "out", "--overwrite"]) == 0
    assert set(RestoreProvenance("out").made_by.values()) == {"classical:haze"}
    assert main(["restore", "--model", "classical:haze", "lq", "out"]) == 0


def test_outputs_without_a_record_are_not_taken_as_this_model(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    _photos(tmp_path / "lq")
    assert main(["restore", "--model", "classical", "lq", "out"]) == 0
    (tmp_path / "out" / SIDECAR).unlink()
    assert main(["restore", "--model", "classical", "lq", "out"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "not written by ggt restore (no record: " in err and "a.png" in err and "--overwrite" not in err


def test_a_users_file_in_the_output_is_refused_even_with_overwrite(tmp_path, monkeypatch, capsys) -> None:
    """ATTACK 8: out/ holds the user's own photo where an output would go; ggt said "pass --overwrite",
    which then replaced it. A file with no record is not ggt's: refused, named, never replaced."""
    monkeypatch.chdir(tmp_path)
    _photos(tmp_path / "lq")
    (tmp_path / "out" / "rain").mkdir(parents=True)
    (tmp_path / "out" / "rain" / "a.png").write_bytes(b"the user's own photo")
    for extra in ([], ["--overwrite"]):
        assert main(["restore", "--model", "classical", "lq", "out", *extra]) == EXIT_USAGE
        err = capsys.readouterr().err
        assert "a.png" in err and "--overwrite" not in err
        assert (tmp_path / "out" / "rain" / "a.png").read_bytes() == b"the user's own photo"
    assert not (tmp_path / "out" / "haze").exists()  # refused before any work
