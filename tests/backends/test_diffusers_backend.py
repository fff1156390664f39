"""``DiffusersBackend`` on a tiny, randomly initialised ``QwenImageEditPipeline`` built offline.

The components follow diffusers' own ``tests/pipelines/qwenimage/test_qwenimage_edit.py``
(``get_dummy_components``), except that nothing comes from the Hub: the tokenizer is a byte-level
BPE trained here on a few sentences plus Qwen's special tokens, and the VAE downsamples ×8 with 8
base channels (the edit pipeline always encodes the condition image at ~1024², which a ×4 VAE
makes ~10× slower). One pipeline call on CPU takes ~2–3 s. Error paths use stub pipelines.
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
from ggt_hf.prompting import template

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
SENTENCES = [
    "Describe the key features of the input image (color, shape, size, texture, objects, background),",
    "then explain how the user's text instruction should alter or modify the image.",
    "Restore this photo to high quality: remove noise, blur, compression artifacts, rain, haze and snow.",
    "system user assistant",
]


def _tiny_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2TokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(SENTENCES, trainer)
    return Qwen2TokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token=None
    )


def build_tiny_qwen_edit_pipeline():
    """A randomly initialised ``QwenImageEditPipeline`` (a few k parameters), fully offline."""
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        QwenImageEditPipeline,
        QwenImageTransformer2DModel,
    )
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
    )
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    tokenizer = _tiny_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL}
    torch.manual_seed(0)
    transformer = QwenImageTransformer2DModel(
        patch_size=2,
        in_channels=16,
        out_channels=4,
        num_layers=2,
        attention_head_dim=16,
        num_attention_heads=3,
        joint_attention_dim=16,
        guidance_embeds=False,
        axes_dims_rope=(8, 4, 4),
    )
    z_dim = 4
    vae = AutoencoderKLQwenImage(
        base_dim=8,
        z_dim=z_dim,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        latents_mean=[0.0] * z_dim,
        latents_std=[1.0] * z_dim,
    )
    config = Qwen2_5_VLConfig(
        text_config={
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
            "rope_theta": 1000000.0,
            "vocab_size": len(tokenizer),
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": 2,
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_heads": 2,
            "out_hidden_size": 16,
        },
        hidden_size=16,
        vocab_size=len(tokenizer),
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
    )
    text_encoder = Qwen2_5_VLForConditionalGeneration(config).eval()
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
    )
    pipe = QwenImageEditPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        processor=processor,
        transformer=transformer,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def tiny_pipe():
    return build_tiny_qwen_edit_pipeline()


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
