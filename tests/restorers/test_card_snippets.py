"""The cards ggt writes cannot lie (issue 23.4): their snippets are extracted from a generated card and
run as typed, from the user's folder, offline.

* the card of an official checkpoint converted with ``ggt convert`` (a tiny NAFNet);
* the card of a trained restorer (the trainer's ``final`` folder, not pushed);
* the benchmark snippet of a dataset card (``ggt eval ... --push-results``) on a local folder with
  no Hub id: refused before any scoring, with the named error and exit 2.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import torch
from PIL import Image

from ggt_hf.cli import main
from ggt_hf.restorers import build_restorer

ROOT = Path(__file__).resolve().parents[2]
TINY = {"width": 4, "middle_blk_num": 1, "enc_blk_nums": [1], "dec_blk_nums": [1]}
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)
INLINE_GGT = re.compile(r"`(ggt [^`\s]+ [^`]+)`")  # a command with arguments


def card_snippets(text: str) -> tuple[list[str], list[str]]:
    """The Python blocks of a card, and its ``ggt`` commands (bash blocks and inline code)."""
    python = [code for lang, code in BLOCK.findall(text) if lang == "python"]
    shell = [line for lang, code in BLOCK.findall(text) if lang == "bash" for line in code.splitlines()]
    prose = BLOCK.sub("", text)
    commands = [c for c in shell if c.startswith("ggt ")] + INLINE_GGT.findall(prose)
    return python, commands


def run_card(text: str) -> None:
    """Run every snippet of ``text`` as typed in the current folder (python in-process, ``ggt`` via the
    CLI's ``main``); each must succeed."""
    python, commands = card_snippets(text)
    assert python and commands, "the card shows a Python snippet and a ggt command"
    for code in python:
        exec(compile(code, "<card snippet>", "exec"), {"__name__": "__card__"})
    for command in commands:
        assert main(shlex.split(command)[1:]) == 0, command


@pytest.fixture
def user_folder(tmp_path, monkeypatch, torch_single_thread):
    """A fresh folder holding ``photo.jpg`` and ``photos/photo.jpg``, as the cards' snippets expect;
    the Hub offline, so a snippet naming a Hub repo instead of the folder fails."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "photos").mkdir()
    for path in ("photo.jpg", "photos/photo.jpg"):
        Image.new("RGB", (40, 28), (120, 90, 60)).save(path)
    return tmp_path


def _check_restored() -> None:
    assert Image.open("restored.png").size == (40, 28)
    assert Image.open("restored/photo.png").size == (40, 28)


def test_converted_card_is_filled_and_its_snippets_run(user_folder):
    torch.save({"params": build_restorer("nafnet", **TINY).state_dict()}, "nafnet.pth")
    sets = [a for k, v in TINY.items() for a in ("--set", f"{k}={v}".replace(" ", ""))]
    argv = ["convert", "--model", "nafnet", "--checkpoint", "nafnet.pth", "--out", "nafnet-ggt", *sets]
    assert main(argv) == 0
    text = Path("nafnet-ggt/README.md").read_text()
    assert "[More Information Needed]" not in text
    assert "NAFNet" in text and "`nafnet.pth`" in text and "## Citation" in text
    run_card(text)
    _check_restored()


def test_trained_card_names_its_folder_and_its_snippets_run(user_folder):
    from ggt_hf.training.model_card import render_model_card, restorer_card_content
    from ggt_hf.training.restorer_task import RestorerRecipe

    recipe = RestorerRecipe.from_yaml(
        ROOT / "training/recipes/nafnet/ggt_mix.yaml",
        ["train.output_dir=outputs/nafnet", "train.hub_model_id=me/nafnet-ggt"],  # not pushed
    )
    final = Path("outputs/nafnet/final")
    model = build_restorer("nafnet", **TINY)
    model.save_pretrained(final)  # what the trainer writes there
    text = render_model_card(recipe, {"psnr": 20.0}, restorer_card_content(recipe, model.num_parameters()))
    (final / "README.md").write_text(text)
    run_card(text)
    _check_restored()


@pytest.mark.parametrize("repo_id", ["me/ggt-bench", None])
def test_dataset_card_benchmark_snippet_pushes_only_with_a_hub_id(make_pairs_dir, tmp_path, repo_id):
    from ggt_hf.hub.card import CardInfo
    from ggt_hf.hub.pack import PackConfig, pack
    from ggt_hf.hub.pairs import pairs_from_dir

    records, _ = pairs_from_dir(make_pairs_dir(n=3, size=32), split="test")
    pack(records, tmp_path / "ds", PackConfig(card=CardInfo(repo_id=repo_id)), progress=False)
    (command,) = [c for c in card_snippets((tmp_path / "ds" / "README.md").read_text())[1] if "eval" in c]
    assert ("--push-results" in command) == bool(repo_id)
    if repo_id:
        assert f"--dataset {repo_id} " in command


def test_push_results_on_a_local_folder_stops_before_scoring(make_pairs_dir, tmp_path, monkeypatch, capsys):
    """Issue 23.4: the card's ``--push-results`` with a local folder was refused only after scoring."""
    from ggt_hf.hub.pack import PackConfig, pack
    from ggt_hf.hub.pairs import pairs_from_dir

    records, _ = pairs_from_dir(make_pairs_dir(n=3, size=32), split="test")
    pack(records, tmp_path / "ds", PackConfig(), progress=False)  # no --repo-id: no Hub id
    monkeypatch.chdir(tmp_path)
    (tmp_path / "outputs").mkdir()
    scored = []
    monkeypatch.setattr("ggt_hf.evaluation.restorer_eval.evaluate", lambda *a, **k: scored.append(a))
    argv = ["eval", "--pred", "outputs/", "--dataset", "ds", "--split", "test", "--push-results", "me/model"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "ds: a local folder has no Hub id" in err
    assert scored == []  # refused before scoring
