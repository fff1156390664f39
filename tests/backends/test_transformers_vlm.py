"""TransformersVLM on a tiny, randomly initialised Qwen2.5-VL built offline.

The tokenizer is a byte-level BPE trained on the spot (plus Qwen's chat / vision special tokens)
and wrapped in ``Qwen2TokenizerFast`` with a minimal Qwen-style chat template; the model is a
``Qwen2_5_VLForConditionalGeneration`` with two text layers (hidden 64) and a two-block vision
tower (hidden 32). Everything runs the real processor and ``generate`` on CPU.
"""

from __future__ import annotations

import json

import pytest
from PIL import Image

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from ggt_hf.backends import BadOutputError, PromptResult, VLMClient, create_vlm  # noqa: E402
from ggt_hf.backends.base import BackendRefused  # noqa: E402
from ggt_hf.backends.transformers_vlm import TransformersVLM, extract_json_text, fit_image  # noqa: E402
from ggt_hf.constants import JUDGE_ASPECTS  # noqa: E402
from ggt_hf.judging.verdict import Verdict  # noqa: E402
from ggt_hf.testing.tiny_models import QWEN_SPECIAL_TOKENS as SPECIAL  # noqa: E402

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}\n{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    '{"prompt": "Remove the noise and sharpen the edges", "degradations": ["blur", "noise"]}',
    '{"fidelity": {"pass": true, "reason": "same scene"}, "feedback": "none"}',
    "Restore this photo. Judge the restoration of the degraded input.",
]

DESCRIBE_JSON = {
    "degradations": ["gaussian blur", "jpeg artifacts"],
    "preserve": ["the red door"],
    "prompt": "Remove the blur and the JPEG blocks; keep the red door.",
}
VERDICT_JSON = {
    **{aspect: {"pass": True, "reason": f"{aspect} ok"} for aspect in JUDGE_ASPECTS},
    "feedback": "Looks good.",
}


@pytest.fixture(scope="module")
def tiny():
    """(model, processor) of a tiny random Qwen2.5-VL with a freshly trained tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2TokenizerFast,
    )
    from transformers.models.qwen2_vl import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(CORPUS * 3, trainer)
    tokenizer = Qwen2TokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>", chat_template=CHAT_TEMPLATE
    )
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(min_pixels=28 * 28, max_pixels=112 * 112),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=CHAT_TEMPLATE,
    )
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL}
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 1024,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 64,
            "fullatt_block_indexes": [1],
            "window_size": 56,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    return model, processor


class ScriptedGenerate:
    """Wraps a model's real ``generate``: it runs, then its new tokens are replaced by ``answer``
    encoded with the tiny tokenizer (so decoding yields exactly ``answer``)."""

    def __init__(self, model, tokenizer, answer: str) -> None:
        self.real = model.generate
        self.tokenizer = tokenizer
        self.answer = answer
        self.calls: list[dict] = []

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        out = self.real(**kwargs)
        prompt = out[:, : kwargs["input_ids"].shape[-1]]  # the real output starts with the prompt
        assert torch.equal(prompt, kwargs["input_ids"])
        answer = torch.tensor([self.tokenizer.encode(self.answer, add_special_tokens=False)])
        return torch.cat([prompt, answer.to(prompt.device)], dim=-1)


def _photo(size=(96, 72), color=(180, 40, 40)) -> Image.Image:
    img = Image.new("RGB", size, color)
    for x in range(0, size[0], 8):
        for y in range(0, size[1], 8):
            if (x + y) % 16 == 0:
                img.putpixel((x, y), (20, 200, 90))
    return img


def _vlm(tiny, **kwargs) -> TransformersVLM:
    model, processor = tiny
    return TransformersVLM("tiny/qwen2.5-vl", model=model, processor=processor, max_new_tokens=8, **kwargs)


def test_describe_real_model_garbage_is_bad_output(tiny):
    vlm = _vlm(tiny)
    assert isinstance(vlm, VLMClient)
    with pytest.raises(BadOutputError) as info:
        vlm.describe(_photo(), instruction="Describe the degradations.", item_id="img-007")
    assert info.value.item == "img-007"
    assert "tiny/qwen2.5-vl" in info.value.reason
    # the real call was counted: a prompt with image placeholders and ≤ max_new_tokens new tokens
    assert vlm.usage.calls == 1
    assert vlm.usage.input_tokens > 10
    assert 1 <= vlm.usage.output_tokens <= 8


def test_describe_parses_scripted_answer(tiny, monkeypatch):
    model, processor = tiny
    answer = "Sure! Here it is:\n```json\n" + json.dumps(DESCRIBE_JSON) + "\n```"
    scripted = ScriptedGenerate(model, processor.tokenizer, answer)
    monkeypatch.setattr(model, "generate", scripted)
    vlm = _vlm(tiny)
    result = vlm.describe(_photo((200, 120)), instruction="Write a restoration prompt.", item_id="a1")
    assert isinstance(result, PromptResult)
    assert result.prompt == DESCRIBE_JSON["prompt"]
    assert result.analysis == {"degradations": DESCRIBE_JSON["degradations"], "preserve": ["the red door"]}
    call = scripted.calls[0]
    assert call["do_sample"] is False and call["max_new_tokens"] == 8
    assert call["image_grid_thw"].shape[0] == 1  # one image went through the vision tower
    n_answer = len(processor.tokenizer.encode(answer, add_special_tokens=False))
    assert result.usage.output_tokens == n_answer
    assert result.usage.input_tokens == call["input_ids"].shape[-1]


def test_judge_returns_verdict_with_five_aspects(tiny, monkeypatch):
    model, processor = tiny
    failing = JUDGE_ASPECTS[1]
    verdict_json = {**VERDICT_JSON, failing: {"pass": False, "reason": "the door moved"}}
    scripted = ScriptedGenerate(model, processor.tokenizer, json.dumps(verdict_json))
    monkeypatch.setattr(model, "generate", scripted)
    vlm = _vlm(tiny)
    verdict = vlm.judge(_photo(), _photo(color=(170, 60, 40)), prompt="remove blur", item_id="j1")
    assert isinstance(verdict, Verdict)
    assert set(verdict.aspects) == set(JUDGE_ASPECTS)
    assert len(JUDGE_ASPECTS) == 5
    assert verdict.failed == [failing] and not verdict.success
    assert verdict.reasons[failing] == "the door moved"
    assert verdict.feedback == "Looks good."
    call = scripted.calls[0]
    assert call["image_grid_thw"].shape[0] == 2  # degraded input and restored output
    prompt_text = processor.tokenizer.decode(call["input_ids"][0])
    assert "remove blur" in prompt_text


def test_judge_incomplete_verdict_is_bad_output(tiny, monkeypatch):
    model, processor = tiny
    partial = {JUDGE_ASPECTS[0]: {"pass": True, "reason": "ok"}}
    monkeypatch.setattr(model, "generate", ScriptedGenerate(model, processor.tokenizer, json.dumps(partial)))
    with pytest.raises(BadOutputError) as info:
        _vlm(tiny).judge(_photo(), _photo(), item_id="j2")
    assert info.value.item == "j2"


def test_create_vlm_registry(tiny, monkeypatch):
    model, processor = tiny
    monkeypatch.setattr(
        model, "generate", ScriptedGenerate(model, processor.tokenizer, json.dumps(DESCRIBE_JSON))
    )
    vlm = create_vlm("transformers", model=model, processor=processor, max_new_tokens=4)
    assert isinstance(vlm, TransformersVLM)
    assert vlm.name == "transformers"
    assert vlm.model_id == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert vlm.describe(_photo(), instruction="x").prompt == DESCRIBE_JSON["prompt"]


def test_missing_local_model_is_refused(tmp_path):
    vlm = TransformersVLM(str(tmp_path / "no-such-model"), local_files_only=True)
    assert "no-such-model" in repr(vlm)
    with pytest.raises(BackendRefused):
        vlm.describe(_photo(), instruction="x", item_id="m1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', '{"a": 1}'),
        ('```json\n{"a": {"b": 2}}\n```', '{"a": {"b": 2}}'),
        ('<think>maybe {x}</think>Answer: {"a": 1} done', '{"a": 1}'),
        ("no json here", "no json here"),
        ("", ""),
        (None, None),
    ],
)
def test_extract_json_text(text, expected):
    assert extract_json_text(text) == expected


def test_fit_image_bounds():
    big = fit_image(Image.new("L", (2000, 1000)), 768)
    assert big.mode == "RGB" and big.size == (768, 384)
    small = fit_image(Image.new("RGB", (20, 10)), 768)
    assert min(small.size) >= 28 and small.size == (64, 32)
