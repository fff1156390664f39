"""``make_restorer`` (ggt_hf.restore.factory): what each kind of restorer is built with and what it
sends on each call — the backend's options, prompt, seed and item id; a model's device (CUDA when
there is one), dtype and tiling; a user's function with or without a prompt.

Backends and model loading are replaced by recorders so every test runs offline in milliseconds; the
classical baseline and one tiny saved model run for real."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

import ggt_hf.restore.factory as factory
from ggt_hf.backends import BackendOptionError
from ggt_hf.backends.classical import ClassicalBackend
from ggt_hf.errors import UsageError
from ggt_hf.restore.factory import _takes_prompt, make_backend, make_restorer, unchanged, weights_spec
from ggt_hf.restore.restorer import Restorer
from ggt_hf.restore.spec import MissingKeyError, RestorerOptions, RestorerSpec, parse_restorer


@pytest.fixture
def image() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))


class RecordingBackend:
    """Stands in for an image backend: keeps its options and every request; answers the image flipped."""

    def __init__(self, name: str, **options):
        self.name, self.options, self.requests = name, options, []

    def restore(self, request):
        self.requests.append(request)
        return SimpleNamespace(image=request.image.transpose(Image.Transpose.FLIP_LEFT_RIGHT))


@pytest.fixture
def backends(monkeypatch) -> list[RecordingBackend]:
    made: list[RecordingBackend] = []

    def fake(name, **options):
        made.append(RecordingBackend(name, **options))
        return made[-1]

    monkeypatch.setattr(factory, "make_backend", fake)
    return made


@pytest.fixture
def keys(monkeypatch):
    for variable in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "HF_TOKEN"):
        monkeypatch.setenv(variable, "test-key-not-real")


# ------------------------------------------------------------------ API and diffusers backends


def test_an_api_backend_gets_its_model_id_and_options_and_each_call_its_prompt_seed_and_item(
    backends, keys, image
):
    options = RestorerOptions(default_prompt="D", seed=7, backend_kwargs={"timeout": 5}, tile=64, steps=3)
    restorer = make_restorer("gemini:m1", options)
    (backend,) = backends
    assert (backend.name, backend.options) == ("gemini", {"model_id": "m1", "timeout": 5})  # no device/steps
    assert restorer.backend is backend and restorer.model is None and restorer.tile is None

    out = restorer.restore(image)
    assert out.tobytes() == image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).tobytes()
    restorer.restore(image, "P", item_id="lq/a.png")
    restorer(image, None, item_id="")  # the call form; an empty id is no id
    sent = [(r.prompt, r.seed, r.item_id) for r in backend.requests]
    assert sent == [("D", 7, "<item>"), ("P", 7, "lq/a.png"), ("D", 7, "<item>")]


def test_without_any_prompt_an_api_backend_gets_none(backends, keys, image):
    make_restorer("openai", RestorerOptions(default_prompt="", seed=None)).restore(image)
    make_restorer("openai").restore(image)
    assert [(r.prompt, r.seed) for b in backends for r in b.requests] == [(None, None), (None, 0)]
    assert [b.options for b in backends] == [{}, {}]


def test_a_missing_key_is_named_before_anything_is_built(backends, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(MissingKeyError, match="OPENAI_API_KEY"):
        make_restorer("openai:gpt-image-1.5")
    with pytest.raises(MissingKeyError, match="OPENAI_API_KEY"):
        make_restorer(parse_restorer("openai"))  # a parsed spec is checked too
    assert backends == []


def test_a_diffusers_pipeline_gets_its_parts_the_device_and_the_steps(backends, image):
    restorer = make_restorer(
        "diffusers:base+me/lora", RestorerOptions(device="cpu", steps=4, seed=3, default_prompt="D")
    )
    assert backends[0].name == "diffusers"
    assert backends[0].options == {
        "model_id": "base",
        "lora": "me/lora",
        "controlnet": None,
        "device": "cpu",
        "num_inference_steps": 4,
    }
    restorer.restore(image, "P")
    assert [(r.prompt, r.seed) for r in backends[0].requests] == [("P", 3)]
    make_restorer("diffusers:base", RestorerOptions(steps=None))
    make_restorer("diffusers:base", RestorerOptions(steps=0))
    assert (
        backends[1].options
        == backends[2].options
        == {
            "model_id": "base",
            "lora": None,
            "controlnet": None,
            "device": None,  # the pipeline picks its own device
        }
    )


def test_explicit_backend_options_win_over_the_restorers_defaults(backends):
    options = RestorerOptions(
        device="cpu",
        steps=4,
        backend_kwargs={"device": "cuda:1", "num_inference_steps": 9, "controlnet": "me/cn"},
    )
    make_restorer("diffusers:base", options)
    assert backends[0].options == {
        "model_id": "base",
        "lora": None,
        "controlnet": "me/cn",
        "device": "cuda:1",
        "num_inference_steps": 9,
    }


def test_make_backend_builds_the_named_backend_and_refuses_an_unknown_option():
    assert isinstance(make_backend("classical"), ClassicalBackend)
    assert make_backend("classical", model_id="classical-v2").model_id == "classical-v2"
    with pytest.raises(BackendOptionError, match="bogus"):
        make_backend("classical", bogus=1)


# ------------------------------------------------------------------ the classical baseline


def test_a_forced_category_replaces_the_callers_prompt_and_no_seed_is_sent(backends, image):
    make_restorer("classical:haze", RestorerOptions(seed=5, default_prompt="D")).restore(
        image, "remove the rain"
    )
    make_restorer("classical", RestorerOptions(seed=5, default_prompt="D")).restore(image, "remove the rain")
    make_restorer("classical").restore(image, item_id="x.png")
    make_restorer("classical:general").restore(image, "remove the rain")
    sent = [(r.prompt, r.seed, r.item_id) for b in backends for r in b.requests]
    assert sent == [
        ("remove the haze", None, "<item>"),
        ("remove the rain", None, "<item>"),  # not forced: the caller's prompt (never the default)
        (None, None, "x.png"),
        ("", None, "<item>"),  # general forces nothing, whatever the caller asks
    ]
    assert [b.options for b in backends] == [{}] * 4 and {b.name for b in backends} == {"classical"}


def test_classical_general_forces_no_step_for_real(photos):
    """``classical:general`` means "no forced step" as ``classical:haze`` means "dehaze": a caller's
    prompt (e.g. a bench-mfm strategy's) must not force the dehazing into it."""
    photo = photos[0].resize((48, 48))
    general, plain = make_restorer("classical:general"), make_restorer("classical")
    assert plain.restore(photo, "remove the haze").tobytes() != plain.restore(photo).tobytes()
    assert general.restore(photo, "remove the haze").tobytes() == general.restore(photo).tobytes()


# ------------------------------------------------------------------ the floor and users' functions


def test_identity_returns_a_copy_of_the_input(image):
    restorer = make_restorer("identity", RestorerOptions(tile=64))
    out = restorer.restore(image, "ignored", item_id="a")
    assert out is not image and out.tobytes() == image.tobytes()
    assert unchanged(image, "ignored") is not image
    assert (restorer.backend, restorer.model, restorer.tile, restorer.identity) == (
        None,
        None,
        None,
        "identity",
    )


def test_a_users_function_gets_the_prompt_only_when_it_takes_one(tmp_path, monkeypatch, image):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "user_fns.py").write_text(
        "from PIL import Image\n"
        "CALLS = []\n"
        "def two(image, prompt):\n    CALLS.append(('two', prompt)); return image\n"
        "def star(image, *rest):\n    CALLS.append(('star', rest)); return image\n"
        "def posonly(image, prompt, /):\n    CALLS.append(('posonly', prompt)); return image\n"
        "def one(image):\n    CALLS.append(('one',)); return image\n"
        "def keyword(image, *, prompt='kw'):\n    CALLS.append(('keyword', prompt)); return image\n"
        "def kwargs(image, **extra):\n    CALLS.append(('kwargs', extra)); return image\n"
    )
    for name in ("two", "star", "posonly", "one", "keyword", "kwargs"):
        restorer = make_restorer(f"user_fns:{name}", RestorerOptions(default_prompt="D"))
        assert restorer.restore(image, "P", item_id="x").tobytes() == image.tobytes()
        restorer.restore(image)
    import user_fns

    assert user_fns.CALLS == [
        ("two", "P"), ("two", None),
        ("star", ("P",)), ("star", (None,)),
        ("posonly", "P"), ("posonly", None),
        ("one",), ("one",),
        ("keyword", "kw"), ("keyword", "kw"),
        ("kwargs", {}), ("kwargs", {}),
    ]  # fmt: skip


def test_a_builtin_without_a_signature_is_given_the_documented_two_arguments():
    assert _takes_prompt(max) is True  # inspect cannot read it
    assert _takes_prompt(lambda image, prompt=None: image) is True
    assert _takes_prompt(lambda image: image) is False


def test_a_restorer_keeps_the_spec_and_the_options_it_was_made_with(
    backends, models, keys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "user_fns2.py").write_text("def fix(image, prompt):\n    return image\n")
    for text in ("identity", "classical:rain", "gemini:m", "diffusers:base", "user_fns2:fix", "me/repo"):
        options = RestorerOptions(device="cpu", seed=4)
        restorer = make_restorer(text, options)
        assert restorer.spec == parse_restorer(text) and restorer.options is options, text
    spec = parse_restorer("classical")
    assert make_restorer(spec).spec is spec and make_restorer(spec).options == RestorerOptions()


# ------------------------------------------------------------------ model restorers


class LoadRecorder:
    """Stands in for ``load_restorer`` and ``restore_image``: records what they were given."""

    def __init__(self):
        self.loads: list[tuple[str, dict]] = []
        self.runs: list[dict] = []
        self.model = torch.nn.Identity()

    def load(self, target, **kwargs):
        self.loads.append((target, kwargs))
        return self.model

    def run(self, model, image, **kwargs):
        assert model is self.model
        self.runs.append(kwargs)
        return image.rotate(180)


@pytest.fixture
def models(monkeypatch) -> LoadRecorder:
    recorder = LoadRecorder()
    monkeypatch.setattr("ggt_hf.restorers.load_restorer", recorder.load)
    monkeypatch.setattr("ggt_hf.restorers.tiling.restore_image", recorder.run)
    return recorder


def test_a_model_runs_on_cuda_when_there_is_one(models, monkeypatch, image):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    restorer = make_restorer("me/repo", RestorerOptions(dtype="bfloat16", tile=64, overlap=8))
    assert models.loads == [("me/repo", {"device": "cuda"})]
    assert restorer.restore(image).tobytes() == image.rotate(180).tobytes()
    assert models.runs == [{"tile": 64, "overlap": 8, "device": "cuda", "dtype": "bfloat16"}]
    assert restorer.model is models.model and restorer.backend is None and restorer.tile == 64


def test_a_model_runs_on_the_cpu_without_cuda_and_on_a_given_device_whatever_is_there(
    models, monkeypatch, image
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    make_restorer("me/repo").restore(image)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    make_restorer("me/repo", RestorerOptions(device="cpu")).restore(image)
    assert [kw["device"] for _, kw in models.loads] == ["cpu", "cpu"]
    assert models.runs == [{"tile": 512, "overlap": 32, "device": "cpu", "dtype": None}] * 2


def test_a_device_this_machine_lacks_is_refused_before_loading(models, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UsageError, match="cuda"):
        make_restorer("me/repo", RestorerOptions(device="cuda"))
    assert models.loads == []


@pytest.mark.parametrize(("tile", "sent"), [(None, None), (0, None), (1, 1), (256, 256)])
def test_the_tile_reaches_the_tiler_and_zero_means_the_whole_image(models, image, tile, sent):
    restorer = make_restorer("me/repo", RestorerOptions(device="cpu", tile=tile, overlap=4))
    restorer.restore(image)
    assert models.runs == [{"tile": sent, "overlap": 4, "device": "cpu", "dtype": None}]
    assert restorer.tile == sent


def test_a_revision_pins_a_hub_repo_but_not_a_local_folder(models, tmp_path, caplog):
    make_restorer("me/repo", RestorerOptions(device="cpu", revision="v2"))
    folder = tmp_path / "nafnet"
    folder.mkdir()
    make_restorer(str(folder), RestorerOptions(device="cpu", revision="v2"))
    make_restorer(weights_spec(folder), RestorerOptions(device="cpu"))
    assert models.loads == [
        ("me/repo", {"device": "cpu", "revision": "v2"}),
        (str(folder), {"device": "cpu"}),
        (str(folder), {"device": "cpu"}),
    ]
    assert weights_spec(folder) == RestorerSpec(str(folder), "restorer", str(folder))


def test_a_registry_name_warns_that_its_weights_are_random(models, tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.WARNING, logger="ggt_hf.restore.factory")
    for name in ("NAFNet", " x-restormer", "me/nafnet"):
        make_restorer(RestorerSpec(name, "restorer", name), RestorerOptions(device="cpu"))
    warned = [r.getMessage() for r in caplog.records]
    assert warned == [
        "NAFNet: registry name without weights, the model is randomly initialised",
        " x-restormer: registry name without weights, the model is randomly initialised",
    ]
    caplog.clear()
    (tmp_path / "nafnet").mkdir()  # a local folder that happens to have a registry name
    make_restorer("nafnet", RestorerOptions(device="cpu", revision="v2"))
    assert caplog.records == [] and models.loads[-1] == ("nafnet", {"device": "cpu"})


def test_a_model_label_loads_what_it_is_configured_with(models):
    options = RestorerOptions(device="cpu", models={"mine": "me/weights", "other": "x/y"})
    restorer = make_restorer("model:mine", options)
    assert models.loads == [("me/weights", {"device": "cpu"})]
    assert restorer.identity == 'model:mine {"overlap": 32, "tile": 512, "weights": "me/weights"}'
    with pytest.raises(ValueError) as caught:
        make_restorer("model:nope", options)
    assert str(caught.value) == "restorer 'model:nope': no model labelled 'nope' (mine, other)"
    with pytest.raises(ValueError) as caught:
        make_restorer("model:nope")
    assert str(caught.value) == "restorer 'model:nope': no model labelled 'nope' (none configured)"
    assert len(models.loads) == 1


@pytest.fixture
def one_thread():
    """One intra-op thread: the machine is shared, a tiny model gains nothing from more, and a process
    forked after torch started its thread pool (a mutation-test worker) cannot hang on it."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_a_saved_model_restores_for_real(tmp_path, image, one_thread):
    from ggt_hf.restorers import build_restorer
    from ggt_hf.restorers.tiling import restore_image

    torch.manual_seed(0)
    model = build_restorer("nafnet", width=4, middle_blk_num=1, enc_blk_nums=[1], dec_blk_nums=[1])
    model.save_pretrained(tmp_path / "model")
    restorer = make_restorer(str(tmp_path / "model"), RestorerOptions(device="cpu", tile=16, overlap=4))
    assert isinstance(restorer, Restorer) and repr(restorer) == f"Restorer({restorer.identity})"
    out = restorer.restore(image)
    expected = restore_image(restorer.model, image, tile=16, overlap=4, device="cpu")
    assert out.size == image.size and out.tobytes() == expected.tobytes()
