"""The `ggt` command line: every sub-command parses, runs and returns the right exit code."""

from __future__ import annotations

import pytest

from ggt_hf.cli import build_parser, main
from ggt_hf.commands import COMMANDS


def test_every_command_has_help(capsys):
    parser = build_parser()
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exc:
            parser.parse_args([name, "--help"])
        assert exc.value.code == 0
        assert "usage: ggt " + name in capsys.readouterr().out


def test_ingest_pack_validate_push_dry_run(tmp_path, photos, capsys, make_pairs_dir, monkeypatch):
    src = tmp_path / "photos" / "LowLight"
    src.mkdir(parents=True)
    photos[1].save(src / "cat.png")
    (src / "broken.jpg").write_bytes(b"<html>not a photo</html>")
    assert (
        main(["ingest", str(tmp_path / "photos"), str(tmp_path / "ing"), "--size", "256", "--min-side", "64"])
        == 0
    )
    out = capsys.readouterr().out
    assert "ingest: 1 new, 0 already done, 1 rejected" in out and "rejects.jsonl" in out

    pairs = make_pairs_dir(n=6)
    assert (
        main(["pack", str(pairs), str(tmp_path / "ds"), "--pretty-name", "CLI test", "--license", "mit"]) == 0
    )
    out = capsys.readouterr().out
    assert "pack: 6 pairs in 6 shard(s), 0 problem(s)" in out and "rain/train: 1" in out

    assert main(["validate", str(tmp_path / "ds")]) == 0
    assert "OK" in capsys.readouterr().out

    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert main(["push", str(tmp_path / "ds"), "me/ggt", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would upload 9 file(s)" in out and "dry run: nothing was sent" in out

    assert main(["card", str(tmp_path / "ds"), "--repo-id", "me/ggt"]) == 0
    assert 'load_dataset("me/ggt")' in (tmp_path / "ds" / "README.md").read_text()

    (tmp_path / "ds" / "ggt_dataset.json").unlink()
    assert main(["validate", str(tmp_path / "ds")]) == 1
    assert "ggt_dataset.json: missing manifest" in capsys.readouterr().err


def test_errors_exit_nonzero_with_a_message(tmp_path, capsys):
    assert main(["pack", str(tmp_path / "nowhere"), str(tmp_path / "ds")]) == 2
    assert "has no lq/ folder" in capsys.readouterr().err
    empty = tmp_path / "empty"
    (empty / "lq").mkdir(parents=True)
    (empty / "hq").mkdir()
    assert main(["pack", str(empty), str(tmp_path / "ds")]) == 1
    assert "nothing to pack" in capsys.readouterr().err
