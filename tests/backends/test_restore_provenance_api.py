"""``ggt restore --model gemini`` against the local fake Gemini (fixtures in conftest.py): outputs made
with one ``--prompt`` or ``--seed`` are never kept as another's (issue 22, point 1)."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from ggt_hf.cli import main
from ggt_hf.restore.provenance import RestoreProvenance
from ggt_hf.runtime.error_reporting import EXIT_USAGE

pytest.importorskip("google.genai")


@pytest.fixture
def gemini(api_env, fake_server, wire, monkeypatch):
    """The fake Nano Banana behind ``ggt restore --model gemini``: answers the restored photo and
    records the prompt and seed of every call."""
    calls: list[tuple[str, int | None]] = []

    def handler(req):
        texts = [p["text"] for p in wire.gemini_parts(req) if "text" in p]
        calls.append((" ".join(texts), req.json.get("generationConfig", {}).get("seed")))
        return wire.Reply(
            200, wire.gemini_response([wire.gemini_image_part(wire.restore_bytes(wire.gemini_image_in(req)))])
        )

    fake_server.handler = handler
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake_server.url)  # the SDK's own endpoint override
    return calls


@pytest.fixture
def lq(tmp_path, photo, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lq").mkdir()
    photo.save(tmp_path / "lq" / "a.png")
    photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(tmp_path / "lq" / "b.png")
    return tmp_path


def _recorded_prompts() -> set[str]:
    return {json.loads(made.split(" ", 1)[1])["prompt"] for made in RestoreProvenance("out").made_by.values()}


@pytest.mark.parametrize(
    ("first", "second", "named"),
    [
        (["--prompt", "A"], ["--prompt", "B"], ('"prompt": "A"', '"prompt": "B"')),
        (["--seed", "1"], ["--seed", "2"], ('"seed": 1', '"seed": 2')),
    ],
)
def test_another_prompt_or_seed_does_not_keep_the_first_runs_outputs(
    lq, gemini, capsys, first, second, named
) -> None:
    assert main(["restore", "--model", "gemini", "lq", "out", *first]) == 0
    assert len(gemini) == 2
    made = (lq / "out" / "a.png").read_bytes()

    assert main(["restore", "--model", "gemini", "lq", "out", *first]) == 0  # same options: resumes
    assert "skipped 2 existing" in capsys.readouterr().out and len(gemini) == 2

    assert main(["restore", "--model", "gemini", "lq", "out", *second]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "2 existing output(s) were made by another restorer" in err and "--overwrite" in err
    assert all(option in err for option in named)  # both identities are named, options included
    assert len(gemini) == 2 and (lq / "out" / "a.png").read_bytes() == made  # nothing sent, nothing touched

    assert main(["restore", "--model", "gemini", "lq", "out", *second, "--overwrite"]) == 0
    assert len(gemini) == 4
    if second[0] == "--prompt":
        assert {prompt for prompt, _ in gemini[2:]} == {"B"} and _recorded_prompts() == {"B"}
    else:
        assert {seed for _, seed in gemini[2:]} == {2}


def test_a_failed_call_names_the_file(lq, gemini, fake_server, wire, capsys) -> None:
    fake_server.respond(400, wire.gemini_error(400, "INVALID_ARGUMENT", "bad image"))
    assert main(["restore", "--model", "gemini", "lq", "out"]) == 1
    err = capsys.readouterr().err
    assert "lq/a.png: " in err and "lq/b.png: " in err and "<item>" not in err
