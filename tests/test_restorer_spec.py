"""One restorer/judge/system grammar (ggt_hf.restore.spec) for ggt restore, the Space and bench-mfm."""

from __future__ import annotations

import pytest

from ggt_hf.cli import main
from ggt_hf.restore.factory import make_restorer
from ggt_hf.restore.spec import (
    MissingKeyError,
    parse_judge,
    parse_restorer,
    parse_system,
)


@pytest.mark.parametrize(
    ("text", "kind", "name", "arg"),
    [
        ("identity", "identity", "identity", None),
        ("classical", "classical", "classical", None),
        ("classical:Low-Light", "classical", "classical", "low_light"),
        ("diffusers:Qwen/Qwen-Image-Edit+me/lora", "diffusers", "diffusers", "Qwen/Qwen-Image-Edit+me/lora"),
        ("model:mine", "model", "model", "mine"),
        ("gemini", "backend", "gemini", None),
        ("gemini:gemini-3.1-flash-image-preview", "backend", "gemini", "gemini-3.1-flash-image-preview"),
        ("openai:gpt-image-1.5", "backend", "openai", "gpt-image-1.5"),
        ("mypkg.restorers:restore", "callable", "mypkg.restorers", "restore"),
        ("nafnet", "restorer", "nafnet", None),
        ("you/nafnet-ggt", "restorer", "you/nafnet-ggt", None),
    ],
)
def test_restorer_grammar(text, kind, name, arg):
    spec = parse_restorer(text)
    assert (spec.kind, spec.name, spec.arg) == (kind, name, arg)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("classical:tornado", "unknown category 'tornado'"),
        ("classical:", "give a category"),
        ("diffusers:", "give a base model"),
        ("diffusers:base+bogus=x", "unknown part"),
        ("gemini:", "give a model id"),
        ("mypkg:not-a-name", "not a Python function name"),
    ],
)
def test_bad_restorer_names_fail_with_the_reason(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_restorer(text)


def test_cli_and_space_refuse_an_unknown_classical_category(tmp_path, monkeypatch, capsys, photos):
    monkeypatch.chdir(tmp_path)
    photos[0].resize((64, 64)).save("in.png")
    assert main(["restore", "--model", "classical:tornado", "in.png", "out"]) == 2
    assert "unknown category 'tornado'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    from ggt_hf.space.config import SpaceConfig
    from ggt_hf.space.restoration import RestoreError, RestoreService

    service = RestoreService(SpaceConfig())
    with pytest.raises((RestoreError, ValueError), match="tornado"):
        service.restore(tmp_path / "in.png", "classical:tornado")


def test_system_grammar():
    spec = parse_system("gemini:gemini-3.1-flash-image-preview@adaptive:gemini:gemini-3.1-pro-preview=NB2")
    assert spec.name == "NB2" and spec.restorer.model_id == "gemini-3.1-flash-image-preview"
    assert spec.strategy_vlm.vlm == "gemini" and spec.strategy_vlm.model_id == "gemini-3.1-pro-preview"
    spec = parse_system("diffusers:base+controlnet=me/cn@fixed")  # '=' inside the pipeline is not a name
    assert spec.name == "diffusers:base+controlnet=me/cn@fixed"
    assert spec.restorer.backend_kwargs() == {"model_id": "base", "lora": None, "controlnet": "me/cn"}
    assert parse_system("diffusers:base+controlnet=me/cn=CN").name == "CN"
    assert parse_system("classical@fixed-no-change").strategy == "fixed-no-change"
    for bad, reason in [
        ("classical@creative", "unknown prompt strategy"),
        ("classical@adaptive:none", "needs a VLM"),
    ]:
        with pytest.raises(ValueError, match=reason):
            parse_system(bad)


#: The README "Table 1" block's systems → (backend, model id, strategy, prompt VLM, its model id, name).
TABLE1_SYSTEMS = {
    "gemini:gemini-3.1-flash-image-preview@adaptive:gemini:gemini-3.1-pro-preview=NanoBanana2+Gemini": (
        "gemini", "gemini-3.1-flash-image-preview", "adaptive:gemini:gemini-3.1-pro-preview",
        "gemini", "gemini-3.1-pro-preview", "NanoBanana2+Gemini",
    ),
    "gemini:gemini-3.1-flash-image-preview@adaptive:openai=NanoBanana2+GPT": (
        "gemini", "gemini-3.1-flash-image-preview", "adaptive:openai", "openai", None, "NanoBanana2+GPT",
    ),
    "gemini:gemini-3-pro-image-preview@fixed-no-change=NanoBananaPro+FixNC": (
        "gemini", "gemini-3-pro-image-preview", "fixed-no-change", None, None, "NanoBananaPro+FixNC",
    ),
    "openai:gpt-image-1.5@adaptive:gemini:gemini-3.1-pro-preview=GPTImage+Gemini": (
        "openai", "gpt-image-1.5", "adaptive:gemini:gemini-3.1-pro-preview",
        "gemini", "gemini-3.1-pro-preview", "GPTImage+Gemini",
    ),
    "diffusers:Qwen/Qwen-Image-Edit@fixed=QwenImageEdit+Fix": (
        "diffusers", "Qwen/Qwen-Image-Edit", "fixed", None, None, "QwenImageEdit+Fix",
    ),
}  # fmt: skip


@pytest.mark.parametrize("text", TABLE1_SYSTEMS)
def test_table1_systems_parse_to_what_they_say(text):
    backend, model, strategy, vlm, vlm_model, name = TABLE1_SYSTEMS[text]
    spec = parse_system(text)
    model_of = spec.restorer.arg if spec.restorer.kind == "diffusers" else spec.restorer.model_id
    assert (spec.restorer.name, model_of, spec.strategy, spec.name) == (backend, model, strategy, name)
    judge = spec.strategy_vlm
    assert (judge and judge.vlm, judge and judge.model_id) == (vlm, vlm_model)


def test_names_hold_any_character_but_equals():
    assert parse_system("classical@fixed=A+B @c:d/e (1)").name == "A+B @c:d/e (1)"
    assert parse_system("classical=  spaced  ").name == "spaced"
    assert parse_system("classical@adaptive:heuristic").name == "classical@adaptive:heuristic"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("classical=", "empty name"),
        ("classical@fixed=  ", "empty name"),
        ("identity=a=b", "more than one '='"),
        ("gemini:m@adaptive:gemini:j=A=B", "more than one '='"),
        ("gemini=m@fixed=A", "more than one '='"),
        ("classical=line\nbreak", "control character"),
        ("classical@fixed+x=A", r"unknown prompt strategy 'fixed\+x'"),
        ("classical@adaptive:gpt=A", "unknown VLM 'gpt'"),
    ],
)
def test_hostile_system_strings_are_refused_naming_the_reason(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_system(text)


def test_a_system_names_every_key_it_needs_at_once():
    with pytest.raises(MissingKeyError, match=r"GEMINI_API_KEY.*OPENAI_API_KEY") as caught:
        parse_system("gemini:m@adaptive:openai=NB2+GPT").check({})
    assert caught.value.variables == ("GEMINI_API_KEY (or GOOGLE_API_KEY)", "OPENAI_API_KEY")


def test_keys_are_checked_naming_the_variable():
    env = {}
    with pytest.raises(MissingKeyError, match="GEMINI_API_KEY"):
        parse_restorer("gemini:gemini-3-pro-image-preview").check(env)
    with pytest.raises(MissingKeyError, match="HF_TOKEN"):
        parse_restorer("hf-inference").check(env)
    with pytest.raises(MissingKeyError, match="OPENAI_API_KEY"):
        parse_system("classical@adaptive:openai").check(env)
    parse_restorer("gemini").check({"GOOGLE_API_KEY": "x"})  # the alternative variable is enough
    parse_judge("heuristic").check(env)
    parse_judge("transformers:some/vlm").check(env)  # a local model needs no key


def test_model_id_reaches_the_backend(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-real")
    assert make_restorer("openai:gpt-image-1.5").backend.model_id == "gpt-image-1.5"
    monkeypatch.setenv("GEMINI_API_KEY", "test-key-not-real")
    assert make_restorer("gemini:gemini-3.1-flash-image-preview").backend.model_id == (
        "gemini-3.1-flash-image-preview"
    )
