"""The restore layer (ggt_hf.restore): one factory, a Restorer that knows the identity of its outputs,
and no other place in the library that builds a backend or a model for restoring (issue 22, point 1)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

import ggt_hf
from ggt_hf.restore.factory import make_restorer
from ggt_hf.restore.identity import restorer_identity
from ggt_hf.restore.spec import RestorerOptions, parse_restorer


def _options(identity: str) -> dict:
    return json.loads(identity.split(" ", 1)[1]) if " " in identity else {}


@pytest.mark.parametrize(
    ("text", "changes", "same"),
    [
        (
            "gemini",
            {"default_prompt": "B", "seed": 2},
            {"tile": 64, "overlap": 0, "steps": 3, "dtype": "bfloat16"},
        ),
        ("openai:gpt-image-1.5", {"default_prompt": "B", "seed": 2}, {"tile": 64, "steps": 3}),
        ("diffusers:base", {"default_prompt": "B", "seed": 2, "steps": 3}, {"tile": 64, "overlap": 0}),
        (
            "nafnet",
            {"tile": 64, "overlap": 0, "dtype": "bfloat16", "revision": "v2"},
            {"default_prompt": "B", "seed": 2},
        ),
        ("model:mine", {"tile": 64, "models": {"mine": "other/repo"}}, {"default_prompt": "B", "seed": 2}),
        ("classical:haze", {}, {"default_prompt": "B", "seed": 2, "tile": 64, "steps": 3}),
        ("identity", {}, {"default_prompt": "B", "seed": 2, "tile": 64}),
    ],
)
def test_identity_holds_every_option_that_changes_outputs_and_only_those(text, changes, same):
    spec = parse_restorer(text)
    base = RestorerOptions(default_prompt="A", steps=28, models={"mine": "me/repo"})
    identity = restorer_identity(spec, base)
    for name, value in changes.items():
        assert restorer_identity(spec, RestorerOptions(**{**vars(base), name: value})) != identity, name
    for name, value in same.items():
        assert restorer_identity(spec, RestorerOptions(**{**vars(base), name: value})) == identity, name


def test_identity_names_the_options_readably_and_never_a_secret():
    options = RestorerOptions(
        default_prompt="A", seed=3, backend_kwargs={"api_key": "sk-secret", "controlnet": "me/cn"}
    )
    assert restorer_identity(parse_restorer("gemini"), options) == 'gemini {"prompt": "A", "seed": 3}'
    diffusers = restorer_identity(
        parse_restorer("diffusers:base"), RestorerOptions(**{**vars(options), "steps": 4})
    )
    assert _options(diffusers) == {"controlnet": "me/cn", "prompt": "A", "seed": 3, "steps": 4}
    assert "sk-secret" not in diffusers
    assert restorer_identity(parse_restorer("nafnet"), RestorerOptions(tile=None)) == 'nafnet {"tile": 0}'
    assert restorer_identity(parse_restorer("classical:Old-Photo")) == "classical:old_photo"


def test_the_restorer_knows_its_identity_and_restores(photos):
    options = RestorerOptions(default_prompt="A", seed=1)
    image = photos[0].resize((48, 32))
    for text in ("identity", "classical", "classical:haze"):
        restorer = make_restorer(text, options)
        assert restorer.identity == restorer_identity(parse_restorer(text), options)
        out = restorer.restore(image)
        assert isinstance(out, Image.Image) and out.size == image.size
    assert make_restorer("identity").restore(image).tobytes() == image.tobytes()


#: Modules that may build an image backend or load a restorer model: the restore layer's factory, the
#: registries themselves, conversion (it loads the model it wrote, to check it and describe it in its
#: card) and training (validation previews of the model being trained).
ALLOWED = {
    "restore/factory.py",
    "backends/__init__.py",
    "restorers/__init__.py",
    "restorers/tiling.py",
    "restorers/convert.py",
    "commands/convert.py",
    "training/restorer_task.py",
    "hub/restorer_card.py",  # a usage example in the card's text
    "hub/card_render.py",  # its docstring names load_restorer(...)
}


def test_no_other_place_builds_a_backend_or_a_model_for_restoring():
    root = Path(ggt_hf.__file__).parent
    pattern = re.compile(r"\b(create_backend|load_restorer|restore_image)\(")
    found = {
        path.relative_to(root).as_posix()
        for path in root.rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    }
    assert found - ALLOWED == set()


def test_a_users_function_gets_the_prompt_when_it_takes_one(tmp_path, monkeypatch, photos):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_restorers.py").write_text(
        "def two(image, prompt):\n    return image.rotate(180) if prompt else image\n\n"
        "def one(image):\n    return image.rotate(90)\n"
    )
    image = photos[0].resize((32, 32))
    two = make_restorer("my_restorers:two")
    assert two.restore(image).tobytes() == image.tobytes()  # no prompt: None, not a missing argument
    assert two.restore(image, "fix it").tobytes() == image.rotate(180).tobytes()
    assert make_restorer("my_restorers:one").restore(image, "ignored").tobytes() == image.rotate(90).tobytes()
