"""OpenAI vision models as a :class:`VLMClient`, through the Chat Completions API.

Chat Completions (``client.chat.completions.create``) rather than the Responses API: it is the API
every OpenAI-compatible server (vLLM, LiteLLM, TGI, ...) also speaks, so the same client works
against a self-hosted Qwen-VL with ``base_url``. Images go in as base64 PNG data URLs
(``{"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}``), downscaled to
``max_side`` pixels on their longer side, and answers are forced to JSON with
``response_format={"type": "json_object"}``; the fields are validated afterwards.

Configuration: ``model_id`` (default ``gpt-4.1``; any vision chat model id), ``api_key`` (or
``OPENAI_API_KEY``; never stored, logged or shown), ``base_url`` (``.../v1``), ``timeout`` (seconds),
``max_side``, ``temperature`` (``None`` = not sent: reasoning models reject it), ``detail``
(``"high"``/``"low"``/``"auto"`` image detail).

Errors map as for :mod:`ggt_hf.backends.openai_images`; in addition a ``content_filter`` finish
reason or a ``refusal`` message is :class:`BackendRefused` with ``safety=True``, and an answer that
is not the expected JSON is :class:`BadOutputError`.
"""

from __future__ import annotations

import base64
import threading
from typing import Any

from PIL import Image

from ggt_hf.backends import http_status, image_payloads, request_prompts, vlm_answers
from ggt_hf.backends.base import BackendRefused, PromptResult, Usage
from ggt_hf.backends.openai_images import (
    make_openai_client,
    map_openai_error,
    openai_api_endpoints,
    usage_from,
)
from ggt_hf.judging.verdict import Verdict

DEFAULT_VLM_MODEL = "gpt-4.1"


class OpenAIVLM:
    """An OpenAI (or OpenAI-compatible) vision chat model that writes prompts and judges."""

    name = "openai"
    api_endpoints = staticmethod(openai_api_endpoints)

    def __init__(
        self,
        model_id: str = DEFAULT_VLM_MODEL,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 120.0,
        *,
        max_side: int | None = 1024,
        temperature: float | None = None,
        detail: str = "high",
    ) -> None:
        self._client = make_openai_client(api_key, base_url, timeout)
        self.model_id = model_id
        self.base_url = base_url
        self.timeout = float(timeout)
        self.max_side, self.temperature, self.detail = max_side, temperature, detail
        self._lock = threading.Lock()
        self.usage = Usage()

    def __repr__(self) -> str:
        where = f", base_url={self.base_url!r}" if self.base_url else ""
        return f"OpenAIVLM(model_id={self.model_id!r}{where})"

    def _image(self, image: Image.Image) -> dict[str, Any]:
        data = base64.b64encode(image_payloads.png_bytes(image, self.max_side)).decode("ascii")
        return {
            "type": "image_url",
            "image_url": {"url": f"data:image/png;base64,{data}", "detail": self.detail},
        }

    def _ask(self, item: object, content: list[dict[str, Any]]) -> tuple[str | None, Usage]:
        import openai

        extra: dict[str, Any] = {}
        if self.temperature is not None:
            extra["temperature"] = self.temperature
        try:
            completion = self._client.chat.completions.create(
                model=self.model_id,
                messages=[
                    {"role": "system", "content": vlm_answers.JSON_ONLY},
                    {"role": "user", "content": content},
                ],
                response_format={"type": "json_object"},
                **extra,
            )
        except openai.OpenAIError as exc:
            mapped = map_openai_error(exc, item, "OpenAI chat")
            if mapped is None:
                raise
            raise mapped from None
        usage = usage_from(getattr(completion, "usage", None))
        with self._lock:
            self.usage = self.usage + usage
        choices = completion.choices or []
        if not choices:
            return None, usage
        choice = choices[0]
        if choice.finish_reason == "content_filter":
            raise BackendRefused(item, "OpenAI chat: answer withheld by the content filter", safety=True)
        refusal = getattr(choice.message, "refusal", None)
        if refusal:
            raise BackendRefused(
                item, f"OpenAI chat: model refused: {http_status.short(refusal)}", safety=True
            )
        return choice.message.content, usage

    def describe(self, image: Image.Image, *, instruction: str, item_id: str = "<item>") -> PromptResult:
        content = [{"type": "text", "text": instruction}, self._image(image)]
        text, usage = self._ask(item_id, content)
        prompt, analysis = vlm_answers.parse_prompt_json(text, item_id, "OpenAI chat")
        return PromptResult(prompt, analysis, usage)

    def judge(
        self, lq: Image.Image, out: Image.Image, *, prompt: str | None = None, item_id: str = "<item>"
    ) -> Verdict:
        content = request_prompts.judge_content(prompt, self._image(lq), self._image(out))
        text, _ = self._ask(item_id, content)
        return vlm_answers.parse_verdict_json(text, item_id, "OpenAI chat")
