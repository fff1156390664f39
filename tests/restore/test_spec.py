"""The restorer / judge / system grammar (ggt_hf.restore.spec): what each part of a name becomes,
the exact messages of refused names (naming the text and the reason), and the API-key checks."""

from __future__ import annotations

import re

import pytest

from ggt_hf.restore.spec import (
    API_KEYS,
    JudgeSpec,
    MissingKeyError,
    RestorerOptions,
    RestorerSpec,
    check_keys,
    parse_judge,
    parse_restorer,
    parse_system,
    require_key,
)

# ------------------------------------------------------------------ restorer names


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty restorer name"),
        ("   ", "empty restorer name"),
        (None, "empty restorer name"),
        ("classical:", "restorer 'classical:': give a category after 'classical:'"),
        (
            "classical:tornado",
            "restorer 'classical:tornado': unknown category 'tornado' "
            "(one of general, rain, haze, snow, low_light, old_photo)",
        ),
        ("diffusers", "restorer 'diffusers': give a base model after 'diffusers:'"),
        ("diffusers:", "restorer 'diffusers:': give a base model after 'diffusers:'"),
        ("model", "restorer 'model': give a configured model label after 'model:'"),
        ("model:", "restorer 'model:': give a configured model label after 'model:'"),
        ("gemini:", "restorer 'gemini:': give a model id after 'gemini:' or drop the ':'"),
        ("hf-inference:", "restorer 'hf-inference:': give a model id after 'hf-inference:' or drop the ':'"),
        ("mypkg:not-a-name", "restorer 'mypkg:not-a-name': 'not-a-name' is not a Python function name"),
        ("mypkg:", "restorer 'mypkg:': '' is not a Python function name"),
        (":fix", "restorer ':fix': name the module before ':' (module:function)"),
        (":", "restorer ':': name the module before ':' (module:function)"),
    ],
)
def test_a_refused_restorer_name_is_named_with_the_reason(text, message):
    with pytest.raises(ValueError) as caught:
        parse_restorer(text)
    assert str(caught.value) == message


def test_surrounding_spaces_are_not_part_of_a_name():
    assert parse_restorer("  identity\n") == RestorerSpec("identity", "identity", "identity")
    assert parse_restorer(" classical:haze ") == RestorerSpec(
        "classical:haze", "classical", "classical", "haze"
    )
    assert parse_restorer(" gemini ").kind == "backend"


def test_identity_is_the_whole_name_only():
    assert parse_restorer("identity").kind == "identity"
    spec = parse_restorer("identity:x")  # not the floor: a user's function 'x' in a module 'identity'
    assert (spec.kind, spec.name, spec.arg) == ("callable", "identity", "x")


def test_a_model_label_and_a_registry_name():
    assert parse_restorer("model:mine") == RestorerSpec("model:mine", "model", "model", "mine")
    assert parse_restorer("nafnet") == RestorerSpec("nafnet", "restorer", "nafnet", None)


def test_the_classical_category_is_canonical_or_absent():
    assert parse_restorer("classical") == RestorerSpec("classical", "classical", "classical", None)
    assert parse_restorer("classical:Old Photo").category == "old_photo"


def test_a_backend_name_with_and_without_a_model_id():
    assert parse_restorer("gemini") == RestorerSpec("gemini", "backend", "gemini", None)
    assert parse_restorer("openai:gpt-image-1.5") == RestorerSpec(
        "openai:gpt-image-1.5", "backend", "openai", "gpt-image-1.5"
    )


def test_a_function_path_a_hub_repo_and_a_folder_are_told_apart(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert parse_restorer("my_restorers:fix").kind == "callable"
    assert parse_restorer("pkg.sub:fix_2").name == "pkg.sub"
    # a '/' before the ':' is a path or repo, not a module
    assert parse_restorer("runs/a:b").kind == "restorer"
    assert parse_restorer("runs/a:not-a-name") == RestorerSpec(
        "runs/a:not-a-name", "restorer", "runs/a:not-a-name"
    )
    # an existing folder whose name holds a ':' is that folder
    (tmp_path / "weights:v2").mkdir()
    assert parse_restorer("weights:v2") == RestorerSpec("weights:v2", "restorer", "weights:v2")
    assert parse_restorer("weights:v3").kind == "callable"


def test_spec_properties_belong_to_their_kind():
    classical, backend = parse_restorer("classical:rain"), parse_restorer("gemini:m1")
    assert (classical.category, classical.model_id) == ("rain", None)
    assert (backend.category, backend.model_id) == (None, "m1")
    assert parse_restorer("model:rain").category is None  # a label, not a category
    assert parse_restorer("mypkg:rain").model_id is None  # a function, not a model id


def test_model_sources_are_what_the_network_check_probes():
    assert parse_restorer("you/nafnet-ggt").model_sources() == ["you/nafnet-ggt"]
    assert parse_restorer("diffusers:base").model_sources() == ["base"]
    assert parse_restorer("diffusers:base+me/lora+controlnet=me/cn").model_sources() == [
        "base",
        "me/lora",
        "me/cn",
    ]
    for text in ("identity", "classical", "gemini:m", "model:mine", "mypkg:fn"):
        assert parse_restorer(text).model_sources() == [], text


def test_backend_kwargs_are_given_to_backend_kinds_only():
    assert parse_restorer("gemini:m1").backend_kwargs() == {"model_id": "m1"}
    assert parse_restorer("gemini").backend_kwargs() == {}
    assert parse_restorer("diffusers:base+me/lora").backend_kwargs() == {
        "model_id": "base",
        "lora": "me/lora",
        "controlnet": None,
    }
    for text in ("classical:rain", "model:mine", "mypkg:fn", "nafnet"):
        assert parse_restorer(text).backend_kwargs() == {}, text


def test_restorer_options_defaults():
    """The documented defaults of ``ggt restore``: tiles of 512 with an overlap of 32, seed 0."""
    options = RestorerOptions()
    assert (options.tile, options.overlap, options.seed) == (512, 32, 0)
    assert (options.device, options.dtype, options.steps, options.default_prompt, options.revision) == (
        None,
    ) * 5
    assert options.models == {} and options.backend_kwargs == {}
    assert RestorerOptions().models is not options.models  # never shared between instances


# ------------------------------------------------------------------ API keys


def test_a_missing_key_names_the_variable_and_its_alternative():
    with pytest.raises(MissingKeyError) as caught:
        require_key("gemini", "restorer 'gemini'", {"GEMINI_API_KEY": ""})  # empty is unset
    assert str(caught.value) == (
        "restorer 'gemini': set GEMINI_API_KEY (or GOOGLE_API_KEY) in the environment; it is not set"
    )
    assert caught.value.variables == ("GEMINI_API_KEY (or GOOGLE_API_KEY)",)
    with pytest.raises(MissingKeyError) as caught:
        require_key("openai", "judge 'openai'", {"GEMINI_API_KEY": "x"})
    assert str(caught.value) == "judge 'openai': set OPENAI_API_KEY in the environment; it is not set"
    assert caught.value.variables == ("OPENAI_API_KEY",)


def test_every_alternative_variable_is_named(monkeypatch):
    monkeypatch.setitem(API_KEYS, "acme", ("ACME_KEY", "ACME_TOKEN", "ACME_API_KEY"))
    with pytest.raises(MissingKeyError) as caught:
        require_key("acme", "restorer 'acme'", {})
    assert caught.value.variables == ("ACME_KEY (or ACME_TOKEN, ACME_API_KEY)",)
    require_key("acme", "restorer 'acme'", {"ACME_API_KEY": "k"})


def test_an_environment_given_to_check_is_the_only_one_read(monkeypatch):
    """``check(environ)`` answers for that environment (e.g. a worker's), not the process's."""
    for variable in ("GEMINI_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.setenv(variable, "test-key-not-real")
    checks = [
        parse_restorer("gemini").check,
        parse_judge("openai").check,
        parse_system("gemini@fixed").check,
        parse_system("classical@adaptive:openai").check,
    ]
    for check in checks:
        check()  # the process has the keys
        with pytest.raises(MissingKeyError):
            check({})


def test_any_one_key_of_an_api_is_enough_and_keyless_backends_need_none():
    require_key("gemini", "x", {"GEMINI_API_KEY": "k"})
    require_key("gemini", "x", {"GOOGLE_API_KEY": "k"})
    require_key("classical", "x", {})
    require_key("heuristic", "x", {})
    assert API_KEYS["hf-inference"] == ("HF_TOKEN",)


def test_the_process_environment_is_read_when_none_is_given(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(MissingKeyError, match="OPENAI_API_KEY"):
        require_key("openai", "x")
    with pytest.raises(MissingKeyError, match="OPENAI_API_KEY"):
        parse_restorer("openai").check()
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-real")
    require_key("openai", "x")
    parse_restorer("openai").check()
    require_key("openai", "x", {"OPENAI_API_KEY": "k"})


def test_only_api_backends_check_a_key():
    for text in ("identity", "classical", "diffusers:base", "model:x", "nafnet", "mypkg:fn"):
        parse_restorer(text).check({})
    with pytest.raises(MissingKeyError) as caught:
        parse_restorer("gemini:m").check({})
    assert str(caught.value).startswith("restorer 'gemini:m': set GEMINI_API_KEY")


def test_check_keys_names_every_missing_variable_and_who_needs_it():
    def needs(variable):
        def check():
            raise MissingKeyError(f"set {variable}", (variable,))

        return check

    def plain():
        raise MissingKeyError("set SOMETHING")  # no variables: its message stands in

    check_keys({"a": lambda: None})  # nothing missing: no error
    with pytest.raises(MissingKeyError) as caught:
        check_keys(
            {"a": needs("A_KEY"), "b": lambda: None, "c": needs("B_KEY"), "d": needs("A_KEY"), "e": plain}
        )
    assert str(caught.value) == (
        "set in the environment: A_KEY (for a, d); B_KEY (for c); set SOMETHING (for e)"
    )
    assert caught.value.variables == ("A_KEY", "B_KEY", "set SOMETHING")
    with pytest.raises(ZeroDivisionError):  # only missing keys are gathered
        check_keys({"a": lambda: 1 / 0})


# ------------------------------------------------------------------ judges


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gpt", "judge 'gpt': unknown VLM 'gpt'; one of none, gemini, heuristic, openai, transformers"),
        ("gemini:", "judge 'gemini:': give a model id after 'gemini:' or drop the ':'"),
        (
            "transformers",
            "judge 'transformers': name the model, e.g. transformers:Qwen/Qwen2.5-VL-7B-Instruct",
        ),
        ("transformers:", "judge 'transformers:': give a model id after 'transformers:' or drop the ':'"),
    ],
)
def test_a_refused_judge_is_named_with_the_reason(text, message):
    with pytest.raises(ValueError) as caught:
        parse_judge(text)
    assert str(caught.value) == message


def test_judge_grammar():
    assert parse_judge(None) == parse_judge("") == parse_judge(" none ") == JudgeSpec("none", None, None)
    assert parse_judge("gemini") == JudgeSpec("gemini", "gemini", None)
    assert parse_judge(" openai:gpt-5 ") == JudgeSpec("openai:gpt-5", "openai", "gpt-5")
    assert parse_judge("transformers:me/vlm") == JudgeSpec("transformers:me/vlm", "transformers", "me/vlm")


def test_a_judge_checks_its_key_before_it_is_built(monkeypatch):
    parse_judge("none").check({})
    assert parse_judge("none").build() is None
    with pytest.raises(MissingKeyError) as caught:
        parse_judge("openai:gpt-5").check({})
    assert str(caught.value).startswith("judge 'openai:gpt-5': set OPENAI_API_KEY")
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    made = []
    monkeypatch.setattr("ggt_hf.backends.create_vlm", lambda name, **kw: made.append((name, kw)) or "client")
    with pytest.raises(MissingKeyError, match="GEMINI_API_KEY"):
        parse_judge("gemini").build()
    assert made == []  # nothing built without the key
    monkeypatch.setenv("GEMINI_API_KEY", "test-key-not-real")
    assert parse_judge("gemini:g-1").build() == "client"
    assert parse_judge("gemini").build() == "client"
    assert made == [("gemini", {"model_id": "g-1"}), ("gemini", {})]


def test_the_heuristic_judge_is_built_offline():
    judge = parse_judge("heuristic").build()
    assert judge is not None and hasattr(judge, "judge")


# ------------------------------------------------------------------ systems


def test_a_systems_label():
    assert parse_system("classical").name == "classical"
    assert parse_system(" classical ").name == "classical"
    assert parse_system("classical@none").name == "classical"  # the default strategy is not repeated
    assert parse_system("classical@fixed").name == "classical@fixed"
    assert parse_system("classical@adaptive:heuristic").name == "classical@adaptive:heuristic"
    assert parse_system("classical@fixed= My system ").name == "My system"


def test_a_system_keeps_its_parts():
    spec = parse_system("gemini:m@adaptive:openai:gpt-5=NB")
    assert spec.text == "gemini:m@adaptive:openai:gpt-5=NB"
    assert spec.restorer == RestorerSpec("gemini:m", "backend", "gemini", "m")
    assert spec.strategy == "adaptive:openai:gpt-5"
    assert spec.strategy_vlm == JudgeSpec("openai:gpt-5", "openai", "gpt-5")
    plain = parse_system("classical")
    assert (plain.strategy, plain.strategy_vlm) == ("none", None)
    assert parse_system("classical@fixed").strategy_vlm is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("classical=", "system 'classical=': empty name after '='"),
        ("classical= \t", "system 'classical=': empty name after '='"),
        (
            "a=b=c",
            "system 'a=b=c': more than one '='; a name (after the last '=') cannot contain '=', and a "
            "restorer holds one only in '+controlnet=REPO'",
        ),
        ("classical=a\x07b", "system 'classical=a\\x07b': the name 'a\\x07b' holds a control character"),
        (
            "classical@adaptive:none",
            "system 'classical@adaptive:none': adaptive needs a VLM, e.g. adaptive:gemini",
        ),
        (
            "classical@fixd",
            "system 'classical@fixd': unknown prompt strategy 'fixd'; did you mean 'fixed'? "
            "expected one of none, fixed, fixed-no-change, adaptive:<vlm>",
        ),
        ("classical:tornado@fixed", "unknown category 'tornado'"),
    ],
)
def test_a_refused_system_is_named_with_the_reason(text, message):
    with pytest.raises(ValueError) as caught:
        parse_system(text)
    assert message in str(caught.value)
    if message.startswith("system"):
        assert str(caught.value) == message


def test_the_equals_sign_of_a_controlnet_is_not_a_name():
    spec = parse_system("diffusers:base+controlnet=me/cn")
    assert (spec.name, spec.restorer.arg) == ("diffusers:base+controlnet=me/cn", "base+controlnet=me/cn")
    named = parse_system("diffusers:base+controlnet=me/cn@fixed=CN")
    assert (named.name, named.strategy, named.restorer.arg) == ("CN", "fixed", "base+controlnet=me/cn")
    with pytest.raises(ValueError, match=re.escape("more than one '='")):
        parse_system("diffusers:base+lora=me/l=CN")  # a lora's '=' is not the controlnet's


def test_a_system_names_all_its_keys_at_once(monkeypatch):
    with pytest.raises(MissingKeyError) as caught:
        parse_system("openai@adaptive:gemini").check({})
    assert str(caught.value) == (
        "set in the environment: OPENAI_API_KEY (for restorer); GEMINI_API_KEY (or GOOGLE_API_KEY) (for prompts)"
    )
    parse_system("openai@fixed").check({"OPENAI_API_KEY": "k"})  # no prompt VLM: nothing more
    parse_system("classical@adaptive:heuristic").check({})
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-real")
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    with pytest.raises(MissingKeyError) as caught:  # the process environment by default
        parse_system("openai@adaptive:gemini").check()
    assert caught.value.variables == ("GEMINI_API_KEY (or GOOGLE_API_KEY)",)
