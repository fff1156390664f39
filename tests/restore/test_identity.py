"""A restorer's identity (ggt_hf.restore.identity): every option that changes its outputs, and only
those, named in one stable text, computed without loading anything."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ggt_hf.restore.identity import MODEL_KINDS, identity_options, restorer_identity
from ggt_hf.restore.spec import RestorerOptions, RestorerSpec, parse_restorer


def _identity(text: str, **options) -> str:
    return restorer_identity(parse_restorer(text), RestorerOptions(**options))


def test_the_default_options_are_part_of_a_models_identity():
    """Tile 512 with overlap 32 (the defaults ``ggt restore`` documents) are named, so a run with
    another tile never keeps these outputs."""
    assert _identity("nafnet") == 'nafnet {"overlap": 32, "tile": 512}'
    assert restorer_identity(parse_restorer("nafnet")) == 'nafnet {"overlap": 32, "tile": 512}'  # no options
    assert _identity("you/nafnet-ggt", tile=64, overlap=8) == 'you/nafnet-ggt {"overlap": 8, "tile": 64}'


def test_whole_image_runs_have_no_overlap_and_every_way_of_saying_so_is_one_identity():
    whole = 'nafnet {"tile": 0}'
    assert _identity("nafnet", tile=None) == _identity("nafnet", tile=0) == whole
    assert _identity("nafnet", tile=0, overlap=5) == whole  # the overlap is unused without tiles
    assert _identity("nafnet", tile=1, overlap=5) == 'nafnet {"overlap": 5, "tile": 1}'


def test_float32_is_full_precision_and_other_dtypes_are_named():
    default = _identity("nafnet")
    assert _identity("nafnet", dtype="float32") == _identity("nafnet", dtype=None) == default
    assert _identity("nafnet", dtype="bfloat16") == 'nafnet {"dtype": "bfloat16", "overlap": 32, "tile": 512}'
    assert _identity("nafnet", dtype="float16") != _identity("nafnet", dtype="bfloat16")


def test_a_revision_is_named_for_models_only():
    assert _identity("me/repo", revision="v2") == 'me/repo {"overlap": 32, "revision": "v2", "tile": 512}'
    assert _identity("gemini", revision="v2") == _identity("gemini")
    assert _identity("diffusers:base", revision="v2") == _identity("diffusers:base")


def test_a_model_label_is_identified_by_the_weights_it_is_configured_with():
    mine = _identity("model:mine", models={"mine": "me/a", "other": "me/b"})
    assert mine == 'model:mine {"overlap": 32, "tile": 512, "weights": "me/a"}'
    assert _identity("model:mine", models={"mine": "me/b"}) != mine
    assert _identity("model:mine", models={"mine": "me/a", "x": "me/c"}) == mine  # other labels do not count
    assert _identity("model:mine") == 'model:mine {"overlap": 32, "tile": 512}'  # not configured (yet)
    # a registry name or a folder is its own weights: the label table does not count
    assert _identity("nafnet", models={"nafnet": "me/a", "": "me/b"}) == _identity("nafnet")


def test_api_backends_are_identified_by_prompt_and_seed():
    assert _identity("gemini") == 'gemini {"seed": 0}'  # the default seed
    assert _identity("gemini", seed=None) == "gemini"  # nothing set: the name alone
    assert _identity("openai:gpt-image-1.5", default_prompt="fix", seed=7) == (
        'openai:gpt-image-1.5 {"prompt": "fix", "seed": 7}'
    )
    assert _identity("gemini", steps=9, backend_kwargs={"controlnet": "me/cn"}) == _identity("gemini")


def test_diffusers_pipelines_are_identified_by_controlnet_prompt_steps_and_seed():
    assert _identity("diffusers:base") == 'diffusers:base {"seed": 0}'
    full = _identity(
        "diffusers:base", default_prompt="fix", steps=4, seed=3, backend_kwargs={"controlnet": "me/cn"}
    )
    assert full == 'diffusers:base {"controlnet": "me/cn", "prompt": "fix", "seed": 3, "steps": 4}'
    assert _identity("diffusers:base", backend_kwargs={"other": "x"}) == _identity("diffusers:base")


@pytest.mark.parametrize("text", ["identity", "classical", "classical:haze", "mypkg.restorers:restore"])
def test_offline_restorers_are_their_name_alone(text):
    options = {"default_prompt": "x", "seed": 5, "steps": 3, "tile": 8, "dtype": "float16", "revision": "r"}
    assert _identity(text, **options) == text
    assert identity_options(parse_restorer(text), RestorerOptions(**options)) == {}


def test_a_classical_category_is_named_in_its_canonical_spelling():
    assert _identity("classical:Low-Light") == _identity("classical:low_light") == "classical:low_light"
    assert _identity("classical") == "classical"


def test_model_kinds_are_the_tiled_ones():
    assert MODEL_KINDS == ("model", "restorer")


@settings(max_examples=40, deadline=None)
@given(
    tile=st.none() | st.integers(0, 4096),
    overlap=st.integers(0, 256),
    dtype=st.sampled_from([None, "float32", "float16", "bfloat16"]),
    seed=st.none() | st.integers(0, 2**31),
    prompt=st.none() | st.text(max_size=20),
)
def test_identities_are_json_after_the_name_with_sorted_keys_and_no_unset_option(
    tile, overlap, dtype, seed, prompt
):
    options = RestorerOptions(tile=tile, overlap=overlap, dtype=dtype, seed=seed, default_prompt=prompt)
    for spec in (RestorerSpec("nafnet", "restorer", "nafnet"), RestorerSpec("gemini", "backend", "gemini")):
        identity = restorer_identity(spec, options)
        name, _, rest = identity.partition(" ")
        assert name == spec.text
        kept = json.loads(rest) if rest else {}
        assert rest == ("" if not kept else json.dumps(kept, sort_keys=True))
        expected = {k: v for k, v in identity_options(spec, options).items() if v is not None}
        assert kept == expected and list(kept) == sorted(kept)
