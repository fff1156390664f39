"""Property tests (hypothesis) of the two text grammars users type: restorer / judge / system specs
and the build config. Printing what was parsed and parsing it again gives the same thing back, and
any other text is refused with a ``ValueError`` (never another exception, never half-accepted)."""

from __future__ import annotations

import string

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ggt_hf.constants import CATEGORIES, MAX_QC_ATTEMPTS
from ggt_hf.files.yaml_config import to_dict
from ggt_hf.pipeline.config import BuildConfig
from ggt_hf.restore.spec import parse_judge, parse_restorer, parse_system

FAST = settings(max_examples=60, deadline=None)
# few examples: each spec may be parsed several times per example
SPECS = settings(max_examples=20, deadline=None)

word = st.text(string.ascii_letters + string.digits + "-_.", min_size=1, max_size=12).filter(
    lambda s: s[0].isalpha()
)
hub_id = st.builds(lambda a, b: f"{a}/{b}", word, word)
restorer_text = st.one_of(
    st.just("identity"),
    st.just("classical"),
    st.sampled_from(CATEGORIES).map(lambda c: f"classical:{c}"),
    st.builds(
        lambda base, lora: f"diffusers:{base}" + (f"+{lora}" if lora else ""), hub_id, st.none() | hub_id
    ),
    word.map(lambda w: f"model:{w}"),
    st.sampled_from(["gemini", "openai", "hf-inference"]),
    st.builds(lambda b, m: f"{b}:{m}", st.sampled_from(["gemini", "openai"]), word),
    st.builds(
        lambda m, f: (
            f"pkg_{m.replace('-', '_').replace('.', '_')}:fn_{f.replace('-', '_').replace('.', '_')}"
        ),
        word,
        word,
    ),
    hub_id,
)
judge_text = st.one_of(
    st.just("none"),
    st.sampled_from(["gemini", "openai", "heuristic"]),
    st.builds(lambda v, m: f"{v}:{m}", st.sampled_from(["gemini", "openai"]), word),
    hub_id.map(lambda m: f"transformers:{m}"),
)
strategy_text = st.one_of(
    st.sampled_from(["none", "fixed", "fixed-no-change"]),
    judge_text.filter(lambda j: j != "none").map(lambda j: f"adaptive:{j}"),
)
system_name = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="="),
    min_size=1,
    max_size=20,
).filter(lambda s: s.strip() and s.isprintable())


@SPECS
@given(restorer_text)
def test_restorer_specs_print_and_parse_back_to_the_same_spec(text):
    spec = parse_restorer(text)
    assert spec.text == text
    assert parse_restorer(spec.text) == spec


@SPECS
@given(judge_text)
def test_judge_specs_print_and_parse_back_to_the_same_spec(text):
    spec = parse_judge(text)
    assert parse_judge(spec.text) == spec
    assert (spec.vlm is None) == (text == "none")


@SPECS
@given(restorer_text, strategy_text, st.none() | system_name)
def test_system_specs_keep_their_parts(restorer, strategy, name):
    text = restorer + ("" if strategy == "none" else f"@{strategy}") + ("" if name is None else f"={name}")
    spec = parse_system(text)
    assert spec.restorer == parse_restorer(restorer)
    assert spec.strategy == strategy
    assert spec.name == (name.strip() if name is not None else text)
    assert parse_system(spec.text) == spec


@SPECS
@given(st.text(max_size=40))
def test_any_text_is_a_spec_or_a_value_error(text):
    for parse in (parse_restorer, parse_judge, parse_system):
        try:
            spec = parse(text)
        except ValueError:
            continue
        assert parse(spec.text) == spec


@SPECS
@given(restorer_text, st.text(st.characters(whitelist_categories=("Cc",)), min_size=1, max_size=3))
def test_system_names_with_control_characters_are_refused(restorer, control):
    name = f"a{control}b"
    with pytest.raises(ValueError, match=r"control character|empty name|more than one"):
        parse_system(f"{restorer}={name}")


@SPECS
@given(restorer_text, system_name, system_name)
def test_a_second_equals_sign_is_refused(restorer, first, second):
    with pytest.raises(ValueError, match="more than one '='"):
        parse_system(f"{restorer}={first}={second}")


# --- the build config -------------------------------------------------------------------------------

config_dicts = st.fixed_dictionaries(
    {
        "name": word,
        "output": word.map(lambda w: f"/runs/{w}"),
        "seed": st.integers(0, 2**31),
        "image_size": st.integers(64, 4096),
        "prompt": st.sampled_from(["fixed", "adaptive:heuristic"]),
        "sources": st.lists(
            st.fixed_dictionaries(
                {"path": word.map(lambda w: f"/data/{w}")},
                optional={
                    "split": st.sampled_from(["train", "test"]),
                    "category": st.sampled_from(CATEGORIES),
                },
            ),
            max_size=3,
        ),
        "backend": st.fixed_dictionaries(
            {},
            optional={
                "name": st.sampled_from(["classical", "gemini"]),
                "rate": st.none() | st.floats(0.1, 50),
            },
        ),
        "qc": st.fixed_dictionaries(
            {},
            optional={
                "max_attempts": st.integers(1, MAX_QC_ATTEMPTS),
                "judge": st.none() | st.just("vlm"),
                "human_review": st.booleans(),
            },
        ),
    }
)


@FAST
@given(config_dicts)
def test_config_printed_and_loaded_again_is_the_same_config(tmp_path_factory, data):
    config = BuildConfig.from_dict(data)
    assert BuildConfig.from_dict(to_dict(config)) == config
    path = tmp_path_factory.mktemp("cfg") / "build.yaml"
    path.write_text(yaml.safe_dump(to_dict(config)))
    assert BuildConfig.from_yaml(path) == config


@FAST
@given(config_dicts, word.filter(lambda k: k not in BuildConfig.__dataclass_fields__))
def test_an_unknown_key_is_refused_by_name(data, key):
    with pytest.raises(ValueError, match=rf"unknown key\(s\) {key}"):
        BuildConfig.from_dict({**data, key: 1})


@FAST
@given(config_dicts, st.integers().filter(lambda n: not 1 <= n <= MAX_QC_ATTEMPTS))
def test_max_attempts_out_of_range_is_refused_with_the_range(data, attempts):
    with pytest.raises(
        ValueError, match=rf"config.qc.max_attempts: expected between 1 and {MAX_QC_ATTEMPTS}"
    ):
        BuildConfig.from_dict({**data, "qc": {"max_attempts": attempts}})


@FAST
@given(st.one_of(st.integers(), st.text(max_size=10), st.lists(st.integers(), max_size=3), st.none()))
def test_a_config_that_is_not_a_mapping_is_refused(value):
    with pytest.raises(ValueError, match="config"):
        BuildConfig.from_dict(value)
