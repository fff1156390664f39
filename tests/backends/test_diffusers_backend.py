"""``DiffusersBackend`` on a tiny, randomly initialised ``QwenImageEditPipeline`` built offline.

The pipeline is the one the generative trainer's tests use
(:func:`ggt_hf.testing.tiny_models.build_tiny_qwen_edit`: diffusers' ``get_dummy_components``
shapes, tokenizer built offline with ``tokenizers``), saved and loaded back with
``from_pretrained``. Error paths use stub pipelines.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from ggt_hf.backends import create_backend
from ggt_hf.backends.base import BackendRefused, BackendTransient, BadOutputError, RestoreRequest
from ggt_hf.backends.diffusers_backend import DiffusersBackend, pipeline_size
from ggt_hf.errors import MissingExtraError
from ggt_hf.prompt_texts import template

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")


@pytest.fixture(scope="module")
def tiny_pipe(tmp_path_factory):
    """The library's tiny offline pipeline (``ggt_hf.testing.tiny_models``), loaded back."""
    from diffusers import QwenImageEditPipeline

    from ggt_hf.testing.tiny_models import build_tiny_qwen_edit

    folder = build_tiny_qwen_edit(tmp_path_factory.mktemp("tiny") / "qwen_edit")
    pipe = QwenImageEditPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def crop() -> Image.Image:
    """A real photo crop (``skimage.data.astronaut``), 120×90: not a multiple of 16 on purpose."""
    data = pytest.importorskip("skimage.data")
    img = Image.fromarray(data.astronaut()).convert("RGB").crop((100, 40, 420, 280))
    return img.resize((120, 90), Image.Resampling.LANCZOS)


@pytest.fixture(scope="module")
def tiny_backend(tiny_pipe) -> DiffusersBackend:
    return DiffusersBackend("tiny-qwen-edit", pipeline=tiny_pipe, num_inference_steps=2, device="cpu")


@pytest.fixture(scope="module")
def seeded(tiny_backend, crop):
    """Three restorations: seed 7, seed 7 again, seed 8."""
    return [
        tiny_backend.restore(RestoreRequest(crop, "Remove the noise.", seed=s, item_id="a"))
        for s in (7, 7, 8)
    ]


# ------------------------------------------------------------------ tiny real pipeline


def test_restore_real_photo_with_tiny_qwen_edit_pipeline(seeded, crop):
    result = seeded[0]
    assert result.image.mode == "RGB"
    assert result.image.size == crop.size
    assert result.backend == "diffusers"
    assert result.model_id == "tiny-qwen-edit"
    assert result.usage.calls == 1
    assert result.usage.images == 1
    meta = result.metadata
    assert meta["steps"] == 2
    assert meta["seed"] == 7
    assert meta["lora"] is None
    assert meta["pipeline"] == "QwenImageEditPipeline"
    # vae_scale_factor 8 → multiple 16: 120×90 → 128×96
    assert meta["requested_size"] == [128, 96]
    assert meta["pipeline_size"] == [128, 96]
    assert meta["guidance"] == {"true_cfg_scale": 4.0}
    assert meta["prompt_source"] == "request"
    arr = np.asarray(result.image)
    assert arr.std() > 0  # not a constant image


def test_same_seed_same_output_different_seed_different_output(seeded):
    a, b, c = (np.asarray(r.image) for r in seeded)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 1.0


def test_create_backend_registry_and_max_side(tiny_pipe, crop):
    backend = create_backend(
        "diffusers", model_id="tiny", pipeline=tiny_pipe, num_inference_steps=2, max_side=64, guidance=1.0
    )
    assert isinstance(backend, DiffusersBackend)
    result = backend.restore(RestoreRequest(crop, None, seed=0))
    assert result.image.size == crop.size
    assert result.model_id == "tiny"
    assert result.metadata["pipeline_size"] == [64, 48]
    assert result.metadata["prompt_source"] == "fixed"
    assert result.metadata["guidance"] == {"true_cfg_scale": 1.0}


# ------------------------------------------------------------------ stub pipelines


class StubPipe:
    """Records its calls; answers with ``result`` (or raises it when it is an exception)."""

    vae_scale_factor = 8

    def __init__(self, result=None):
        self.result = result
        self.calls: list[dict] = []
        self.lora_calls: list[tuple] = []

    def __call__(self, image, prompt, num_inference_steps=50, width=None, height=None, **kwargs):
        self.calls.append(
            {
                "image": image,
                "prompt": prompt,
                "steps": num_inference_steps,
                "width": width,
                "height": height,
                **kwargs,
            }
        )
        if isinstance(self.result, BaseException):
            raise self.result
        if self.result is not None:
            return self.result
        return type("Out", (), {"images": [Image.new("RGB", (width, height), (10, 20, 30))]})()

    def load_lora_weights(self, path, **kwargs):
        self.lora_calls.append(("load", path, kwargs))

    def fuse_lora(self, **kwargs):
        self.lora_calls.append(("fuse", kwargs))

    def set_adapters(self, names, adapter_weights=None):
        self.lora_calls.append(("set", names, adapter_weights))


class QwenImageEditStubPipeline(StubPipe):
    pass


class KontextStub(StubPipe):
    def __call__(self, image, prompt, num_inference_steps=50, width=None, height=None, guidance_scale=3.5):
        return super().__call__(
            image, prompt, num_inference_steps, width, height, guidance_scale=guidance_scale
        )


def _req(seed=None, prompt="fix it"):
    return RestoreRequest(Image.new("RGB", (50, 30), (90, 90, 90)), prompt, seed=seed, item_id="x1")


def test_cuda_oom_is_transient():
    backend = DiffusersBackend(
        pipeline=StubPipe(torch.cuda.OutOfMemoryError("CUDA out of memory")), device="cpu"
    )
    with pytest.raises(BackendTransient) as err:
        backend.restore(_req())
    assert err.value.item == "x1"
    assert "out of memory" in err.value.reason


def test_value_error_is_refused_not_safety():
    backend = DiffusersBackend(pipeline=StubPipe(ValueError("bad image")), device="cpu")
    with pytest.raises(BackendRefused) as err:
        backend.restore(_req())
    assert not err.value.safety


def test_nsfw_flag_is_safety_refusal():
    out = type("Out", (), {"images": [Image.new("RGB", (48, 32))], "nsfw_content_detected": [True]})()
    backend = DiffusersBackend(pipeline=StubPipe(out), device="cpu")
    with pytest.raises(BackendRefused) as err:
        backend.restore(_req())
    assert err.value.safety


@pytest.mark.parametrize(
    "output",
    [
        type("Out", (), {"images": ["not an image"]})(),
        type("Out", (), {"images": []})(),
        {"images": [np.zeros((4,), dtype=np.float32)]},
        ("text",),
    ],
)
def test_non_image_output_is_bad_output(output):
    backend = DiffusersBackend(pipeline=StubPipe(output), device="cpu")
    with pytest.raises(BadOutputError):
        backend.restore(_req())


def test_numpy_output_is_accepted_and_resized_back():
    arr = np.full((1, 32, 48, 3), 0.5, dtype=np.float32)
    backend = DiffusersBackend(pipeline=StubPipe(type("Out", (), {"images": arr})()), device="cpu")
    result = backend.restore(_req())
    assert result.image.size == (50, 30)
    assert result.metadata["pipeline_size"] == [48, 32]
    assert np.asarray(result.image)[5, 5, 0] in (127, 128)


def test_call_arguments_qwen_vs_kontext():
    qwen = QwenImageEditStubPipeline()
    DiffusersBackend(pipeline=qwen, device="cpu", num_inference_steps=3, guidance=2.0).restore(_req(seed=5))
    call = qwen.calls[0]
    assert call["true_cfg_scale"] == 2.0
    assert call["negative_prompt"] == " "
    assert "guidance_scale" not in call
    assert call["steps"] == 3
    assert (call["width"], call["height"]) == (48, 32)
    assert isinstance(call["generator"], torch.Generator)
    assert call["generator"].initial_seed() == 5

    kontext = KontextStub()
    result = DiffusersBackend(pipeline=kontext, device="cpu").restore(_req(prompt=""))
    call = kontext.calls[0]
    assert call["guidance_scale"] == 2.5
    assert "generator" not in kontext.calls[0]
    assert call["prompt"] == template("fixed")
    assert result.metadata["seed"] is None


def test_pipeline_size_rounding_and_cap():
    assert pipeline_size(120, 90, 16, 1024) == (128, 96)
    assert pipeline_size(4000, 3000, 16, 1024) == (1024, 768)
    assert pipeline_size(5, 5, 16, 1024) == (16, 16)
    w, h = pipeline_size(1023, 17, 16, 1000)
    assert w <= 1000 and w % 16 == 0 and h == 16


def test_lazy_loading_with_forced_class_and_lora():
    loaded: list[tuple] = []
    stub = StubPipe()

    class FakePipelineClass:
        @classmethod
        def from_pretrained(cls, model_id, **kwargs):
            loaded.append((model_id, kwargs))
            return type("Loaded", (), {"to": lambda self, device: stub})()

    backend = DiffusersBackend(
        "some/repo",
        pipeline_class=FakePipelineClass,
        lora="me/restore-lora",
        lora_scale=0.7,
        local_files_only=True,
        device="cpu",
    )
    assert loaded == []  # nothing loads before the first call
    result = backend.restore(_req(seed=1))
    backend.restore(_req(seed=2))
    assert len(loaded) == 1
    model_id, kwargs = loaded[0]
    assert model_id == "some/repo"
    assert kwargs == {"torch_dtype": torch.float32, "local_files_only": True}
    assert stub.lora_calls == [
        ("load", "me/restore-lora", {"adapter_name": "ggt_lora"}),
        ("fuse", {"lora_scale": 0.7, "adapter_names": ["ggt_lora"]}),
    ]
    assert result.metadata["lora"] == "me/restore-lora"
    assert result.metadata["lora_scale"] == 0.7


def test_unloadable_weights_are_refused():
    class Missing:
        @classmethod
        def from_pretrained(cls, model_id, **kwargs):
            raise OSError("not in the local cache")

    backend = DiffusersBackend("nope/nope", pipeline_class=Missing, device="cpu", local_files_only=True)
    with pytest.raises(BackendRefused, match="cannot load pipeline"):
        backend.restore(_req())


def test_missing_diffusers_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "diffusers", None)
    backend = DiffusersBackend("some/repo", device="cpu")
    with pytest.raises(MissingExtraError, match=r"ggt-hf\[generate\]"):
        backend.restore(_req())


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("Qwen/Qwen-Image-Edit", ("Qwen/Qwen-Image-Edit", None, None)),
        ("diffusers:Qwen/Qwen-Image-Edit+me/lora", ("Qwen/Qwen-Image-Edit", "me/lora", None)),
        ("diffusers:b/flux+controlnet=me/cn", ("b/flux", None, "me/cn")),
        ("b/flux+lora=me/l+controlnet=me/cn", ("b/flux", "me/l", "me/cn")),
    ],
)
def test_pipeline_spec_syntax(spec, expected):
    from ggt_hf.backends.diffusers_backend import parse_pipeline_spec

    parts = parse_pipeline_spec(spec)
    assert (parts["model_id"], parts["lora"], parts["controlnet"]) == expected


@pytest.mark.parametrize("spec", ["diffusers:", "b/flux+vae=x", "+me/lora"])
def test_pipeline_spec_errors_name_the_spec(spec):
    from ggt_hf.backends.diffusers_backend import parse_pipeline_spec

    with pytest.raises(ValueError, match="pipeline spec"):
        parse_pipeline_spec(spec)
