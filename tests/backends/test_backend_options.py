"""Backend and VLM options are checked where backends are made: an option the constructor does not
take is refused naming the option, the backend and the options it takes (issue 22 point 5), and
`ggt build` refuses it when it loads the config, before anything is ingested or paid for."""

from __future__ import annotations

import pytest

from ggt_hf.backends import BackendOptionError, create_backend, create_vlm
from ggt_hf.cli import main

CONFIG = """
name: opts
output: run
sources: [{{path: photos/}}]
backend: {{name: classical, options: {backend}}}
vlm: {{name: heuristic, options: {vlm}}}
image_size: 96
min_side: 64
"""


def _write(tmp_path, backend: str = "{}", vlm: str = "{}") -> None:
    (tmp_path / "photos" / "haze").mkdir(parents=True)
    (tmp_path / "photos" / "haze" / "a.png").write_bytes(b"")  # never read: the config is refused first
    (tmp_path / "config.yaml").write_text(CONFIG.format(backend=backend, vlm=vlm))


def test_build_refuses_an_option_the_backend_does_not_take_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, backend="{api_key: abc}")
    assert main(["build", "config.yaml"]) == 2
    err = capsys.readouterr().err
    assert "config.backend.options: backend 'classical' takes no option 'api_key'" in err
    assert "its options are model_id, steps" in err and "TypeError" not in err
    assert not (tmp_path / "run").exists()  # nothing ran: no run folder, no ingest


def test_a_near_miss_gets_a_did_you_mean(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, backend="{step: [denoise]}")
    assert main(["build", "config.yaml"]) == 2
    assert "takes no option 'step' (did you mean 'steps'?)" in capsys.readouterr().err


def test_vlm_options_are_checked_too_including_the_ones_it_forwards(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, vlm="{api_key: abc}")
    assert main(["build", "config.yaml"]) == 2
    err = capsys.readouterr().err
    assert "config.vlm.options: VLM client 'heuristic' takes no option 'api_key'" in err
    assert "max_shift" in err  # the heuristic client's **options go to its judge: listed, and accepted
    assert create_vlm("heuristic", max_shift=0.2).name == "heuristic"


def test_library_callers_get_the_same_refusal():
    with pytest.raises(BackendOptionError, match="backend 'classical' takes no option 'api_key'"):
        create_backend("classical", api_key="x")


def test_build_refuses_an_unknown_prompt_strategy_with_a_did_you_mean(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path)
    assert main(["build", "config.yaml", "prompt=adaptve:heuristic"]) == 2
    err = capsys.readouterr().err
    assert (
        "config.prompt: unknown prompt strategy 'adaptve:heuristic'; did you mean 'adaptive:heuristic'?"
        in err
    )
    assert not (tmp_path / "run").exists()
