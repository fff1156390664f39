"""``TransformersVLM``: a local vision-language model run with 🤗 transformers as a :class:`VLMClient`.

The default model is Qwen2.5-VL-7B-Instruct (``Qwen/Qwen2.5-VL-7B-Instruct``); Qwen3-VL and any
other ``AutoModelForImageTextToText`` checkpoint whose processor has a chat template work the same
way. Model and processor are loaded lazily, on the first call, with
``AutoProcessor.from_pretrained(model_id)`` and
``AutoModelForImageTextToText.from_pretrained(model_id, dtype=...)`` on the device of
:func:`ggt_hf.imaging.tensors.resolve_device` (bfloat16 on CUDA, float32 elsewhere). **The weights are
downloaded from the Hugging Face Hub on first use**; ``local_files_only=True`` uses the local cache
only. Already built ``model`` / ``processor`` objects can be injected instead (tests pass a tiny,
randomly initialised Qwen2.5-VL).

One call: a single user chat message holding the image(s) (RGB, downscaled so the longer side is at
most ``max_side``) and the instruction, rendered and tokenised by
``processor.apply_chat_template(..., tokenize=True, return_dict=True)``, then greedy
``model.generate(..., do_sample=False, max_new_tokens=...)``. Only the new tokens are decoded; the
JSON object is cut out of the text (``<think>`` blocks and Markdown code fences dropped, first
``{`` to last ``}``) and validated by the helpers every VLM client shares
(:func:`~ggt_hf.backends.vlm_answers.parse_prompt_json`,
:func:`~ggt_hf.backends.vlm_answers.parse_verdict_json`), so an unusable answer is a
:class:`BadOutputError` naming the item. ``Usage`` counts the prompt tokens (image placeholders
included) and the generated tokens.

Errors: CUDA / MPS out of memory → :class:`BackendTransient`; weights that cannot be loaded, or a
``ValueError`` / ``TypeError`` from the processor or ``generate`` (input the model cannot take) →
:class:`BackendRefused`.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from PIL import Image

from ggt_hf.backends import http_status, request_prompts, vlm_answers
from ggt_hf.backends.base import BackendRefused, BackendTransient, PromptResult, Usage
from ggt_hf.errors import MissingExtraError
from ggt_hf.imaging.tensors import resolve_device, resolve_dtype
from ggt_hf.judging.verdict import Verdict

DEFAULT_MODEL = "Qwen/Qwen2.5-VL-7B-Instruct"

#: Images are upscaled so their shorter side is at least this many pixels (Qwen's processors
#: reject sides under 28 px: one merged 2×2 patch of 14 px).
MIN_SIDE = 32

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```(?:json|JSON)?")


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is part of the extra
        raise MissingExtraError("torch", "generate") from exc
    return torch


def _is_oom(exc: BaseException, torch: Any) -> bool:
    oom = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None)
    if oom is not None and isinstance(exc, oom):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def extract_json_text(text: str | None) -> str | None:
    """The JSON object inside a model's free text: ``<think>…</think>`` blocks and Markdown code
    fences are dropped, then the span from the first ``{`` to the last ``}`` is kept. Text without
    such a span is returned stripped (the shared parser then reports it as bad output)."""
    if text is None:
        return None
    body = _FENCE.sub("", _THINK.sub("", str(text))).strip()
    start, end = body.find("{"), body.rfind("}")
    if start != -1 and end > start:
        return body[start : end + 1]
    return body


def fit_image(image: Image.Image, max_side: int | None) -> Image.Image:
    """``image`` as RGB, downscaled so its longer side is ≤ ``max_side`` and upscaled so its
    shorter side is ≥ :data:`MIN_SIDE` (aspect ratio kept)."""
    img = image if image.mode == "RGB" else image.convert("RGB")
    if max_side and max(img.size) > max_side:
        scale = max_side / max(img.size)
        img = img.resize(
            (max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.LANCZOS
        )
    if min(img.size) < MIN_SIDE:
        scale = MIN_SIDE / min(img.size)
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.BICUBIC)
    return img


class TransformersVLM:
    """A local 🤗 transformers VLM (Qwen2.5-VL by default) that writes prompts and judges restorations.

    Args:
        model_id: Hub id or local path of an ``AutoModelForImageTextToText`` checkpoint.
        model: an already built model (skips loading; ``model_id`` is then only a label).
        processor: an already built processor with a chat template (skips loading).
        device: torch device; default the injected model's device, else
            :func:`ggt_hf.imaging.tensors.resolve_device` (CUDA when present).
        dtype: torch dtype or its name for loading; default bfloat16 on CUDA, float32 elsewhere.
        max_new_tokens: generation budget per call.
        max_side: images are downscaled so their longer side is at most this many pixels.
        local_files_only: load from the local Hugging Face cache only (never download).
    """

    name = "transformers"

    def __init__(
        self,
        model_id: str = DEFAULT_MODEL,
        *,
        model: Any = None,
        processor: Any = None,
        device: str | None = None,
        dtype: Any = None,
        max_new_tokens: int = 512,
        max_side: int | None = 768,
        local_files_only: bool = False,
    ) -> None:
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be ≥ 1, got {max_new_tokens}")
        self.model_id = model_id
        self.device = str(device) if device else None
        self.dtype = dtype
        self.max_new_tokens = int(max_new_tokens)
        self.max_side = max_side
        self.local_files_only = local_files_only
        self._model = model
        self._processor = processor
        self._lock = threading.Lock()
        self.usage = Usage()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_id={self.model_id!r}, device={self.device!r})"

    # ----------------------------------------------------------------- loading

    def _resolve_dtype(self, torch: Any, device: str) -> Any:
        return resolve_dtype(self.dtype, device)

    def _resolve_device(self) -> str:
        if self.device:
            return self.device
        if self._model is not None and getattr(self._model, "device", None) is not None:
            return str(self._model.device)

        return resolve_device(None)

    def _load(self) -> tuple[Any, Any]:
        """The (model, processor) pair, loading whatever was not injected (once, thread-safe)."""
        if self._model is not None and self._processor is not None:
            return self._model, self._processor
        with self._lock:
            if self._model is None or self._processor is None:
                torch = _import_torch()
                try:
                    from transformers import AutoModelForImageTextToText, AutoProcessor
                except ImportError as exc:
                    raise MissingExtraError("transformers", "generate") from exc
                try:
                    if self._processor is None:
                        self._processor = AutoProcessor.from_pretrained(
                            self.model_id, local_files_only=self.local_files_only
                        )
                    if self._model is None:
                        device = self._resolve_device()
                        model = AutoModelForImageTextToText.from_pretrained(
                            self.model_id,
                            dtype=self._resolve_dtype(torch, device),
                            local_files_only=self.local_files_only,
                        )
                        self._model = model.to(device).eval()
                        self.device = device
                except (OSError, ValueError) as exc:
                    raise BackendRefused(
                        self.model_id, f"cannot load VLM {self.model_id!r}: {http_status.short(exc)}"
                    ) from None
        return self._model, self._processor

    # ----------------------------------------------------------------- generation

    def _inputs(self, processor: Any, content: list[dict[str, Any]], device: str, dtype: Any) -> Any:
        messages = [{"role": "user", "content": content}]
        inputs = processor.apply_chat_template(
            messages, tokenize=True, add_generation_prompt=True, return_dict=True, return_tensors="pt"
        )
        moved = {}
        for key, value in inputs.items():
            if hasattr(value, "to"):
                value = value.to(device)
                if dtype is not None and getattr(value, "is_floating_point", lambda: False)():
                    value = value.to(dtype)
            moved[key] = value
        return moved

    def _decode(self, processor: Any, ids: Any) -> str:
        decoder = processor if hasattr(processor, "batch_decode") else processor.tokenizer
        return decoder.batch_decode(ids, skip_special_tokens=True)[0]

    def _generate(self, item: object, content: list[dict[str, Any]]) -> tuple[str, Usage]:
        """Run one chat turn; the decoded new text and its usage."""
        torch = _import_torch()
        model, processor = self._load()
        device = self._resolve_device()
        dtype = getattr(model, "dtype", None)
        try:
            inputs = self._inputs(processor, content, device, dtype)
            prompt_len = int(inputs["input_ids"].shape[-1])
            with torch.inference_mode():
                out = model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        except Exception as exc:
            if _is_oom(exc, torch):
                raise BackendTransient(
                    item, f"out of memory in {self.model_id}: {http_status.short(exc)}"
                ) from None
            if isinstance(exc, (ValueError, TypeError)):
                raise BackendRefused(
                    item, f"{self.model_id} rejected the input: {http_status.short(exc)}"
                ) from None
            raise
        sequences = getattr(out, "sequences", out)
        new = sequences[:, prompt_len:]
        usage = Usage(calls=1, input_tokens=prompt_len, output_tokens=int(new.shape[-1]))
        with self._lock:
            self.usage = self.usage + usage
        return self._decode(processor, new), usage

    def _image(self, image: Image.Image) -> dict[str, Any]:
        return {"type": "image", "image": fit_image(image, self.max_side)}

    @property
    def _source(self) -> str:
        return f"transformers VLM {self.model_id}"

    # ----------------------------------------------------------------- VLMClient

    def describe(self, image: Image.Image, *, instruction: str, item_id: str = "<item>") -> PromptResult:
        content = [self._image(image), {"type": "text", "text": f"{instruction}\n{vlm_answers.JSON_ONLY}"}]
        text, usage = self._generate(item_id, content)
        prompt, analysis = vlm_answers.parse_prompt_json(extract_json_text(text), item_id, self._source)
        return PromptResult(prompt, analysis, usage)

    def judge(
        self, lq: Image.Image, out: Image.Image, *, prompt: str | None = None, item_id: str = "<item>"
    ) -> Verdict:
        content = request_prompts.judge_content(prompt, self._image(lq), self._image(out))
        text, _ = self._generate(item_id, content)
        return vlm_answers.parse_verdict_json(extract_json_text(text), item_id, self._source)
