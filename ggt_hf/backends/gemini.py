"""Google Gemini: the image-editing MFM (Nano Banana family) and the Gemini VLM (prompts, judging).

Both talk to the Gemini Developer API through the official ``google-genai`` SDK
(``client.models.generate_content``). Configuration:

* ``model_id`` — any Gemini model id. Image editing defaults to ``gemini-3-pro-image-preview``
  (Nano Banana Pro); Nano Banana 2 / later image models are selected the same way, e.g.
  ``GeminiImageBackend(model_id="gemini-3.1-flash-image-preview")``. The VLM defaults to
  ``gemini-3-pro-preview``.
* ``api_key`` — or the ``GEMINI_API_KEY`` / ``GOOGLE_API_KEY`` environment variable (in that order).
  It is handed to the SDK only: never stored on the backend, logged, put in metadata or ``repr``.
* ``base_url`` — another endpoint speaking the same REST API (a proxy, a test server); default
  ``GOOGLE_GEMINI_BASE_URL``, then ``https://generativelanguage.googleapis.com/``
  (:func:`gemini_endpoint`, the one place that decides; the build probes that host before any
  work); ``api_version`` (default ``v1beta``; the SDK's own default is ``v1``) is appended by the SDK:
  ``{base_url}/{api_version}/models/{model}:generateContent``.
* ``timeout`` — seconds per request (the SDK takes milliseconds; converted here).

The SDK's own retries are disabled (``HttpRetryOptions(attempts=1)``) so that
:class:`~ggt_hf.backends.wrappers.RetryingBackend` alone decides when to retry. Error mapping:

* HTTP 408/429/5xx, timeouts and connection failures → :class:`BackendTransient`, with
  ``retry_after`` from the ``Retry-After`` header or the body's ``google.rpc.RetryInfo.retryDelay``;
* a blocked prompt (``promptFeedback.blockReason``) or a safety finish reason (``SAFETY``,
  ``PROHIBITED_CONTENT``, ``IMAGE_SAFETY``, ``IMAGE_PROHIBITED_CONTENT``, ``BLOCKLIST``, ``SPII``)
  → :class:`BackendRefused` with ``safety=True``; ``RECITATION`` / ``IMAGE_RECITATION`` → refused;
* other 4xx (400 invalid request, 401/403 auth, 404 unknown model) → :class:`BackendRefused`;
* an answer without an image (or without usable JSON for the VLM) → :class:`BadOutputError`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any

from PIL import Image

from ggt_hf.backends import http_status, image_payloads, request_prompts, vlm_answers
from ggt_hf.backends.base import (
    BackendError,
    BackendRefused,
    BackendTransient,
    BadOutputError,
    PromptResult,
    RestoreRequest,
    RestoreResult,
    Usage,
)
from ggt_hf.errors import MissingExtraError
from ggt_hf.judging.verdict import Verdict
from ggt_hf.runtime.network import ApiEndpoint

logger = logging.getLogger(__name__)

DEFAULT_IMAGE_MODEL = "gemini-3-pro-image-preview"
DEFAULT_VLM_MODEL = "gemini-3-pro-preview"
#: Where the SDK sends Gemini Developer API calls without a base URL (google-genai's own default).
DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/"

#: Finish / block reasons that mean a safety-policy refusal.
SAFETY_REASONS = frozenset(
    {
        "SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "JAILBREAK",
    }
)
#: Finish reasons that refuse for a non-safety policy reason (copyright recitation).
POLICY_REASONS = frozenset({"RECITATION", "IMAGE_RECITATION", "MODEL_ARMOR"})


def _enum_name(value: Any) -> str | None:
    if value is None:
        return None
    name = getattr(value, "value", value)
    return str(name)


def gemini_endpoint(base_url: str | None = None) -> ApiEndpoint:
    """The Gemini API endpoint the client uses: ``base_url``, else ``GOOGLE_GEMINI_BASE_URL``, else
    Google's (the SDK's order); the client is given exactly this URL."""
    return ApiEndpoint.resolve("the Gemini API", base_url, "GOOGLE_GEMINI_BASE_URL", DEFAULT_BASE_URL)


class _GeminiClient:
    """The SDK client plus the call/error/usage plumbing shared by both Gemini classes."""

    name = "gemini"

    @classmethod
    def api_endpoints(cls, base_url: str | None = None, **_options: Any) -> list[ApiEndpoint]:
        """The hosted API this client would call when made with these options (see the
        :func:`~ggt_hf.backends.api_endpoints` protocol); nothing is imported or sent."""
        return [gemini_endpoint(base_url)]

    def __init__(
        self,
        model_id: str,
        *,
        api_key: str | None,
        base_url: str | None,
        timeout: float,
        api_version: str,
    ) -> None:
        try:
            import pydantic
            from google import genai
            from google.genai import errors as genai_errors
            from google.genai import types
        except ImportError:
            raise MissingExtraError("google-genai", "generate") from None
        key = api_key or os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY")
        if not key:
            raise ValueError("no Gemini API key: pass api_key or set GEMINI_API_KEY (or GOOGLE_API_KEY)")
        self.model_id = model_id
        self.base_url = base_url
        self.timeout = float(timeout)
        self._types = types
        self._api_error = genai_errors.APIError
        self._transport_errors = http_status.transport_error_types()
        self._parse_errors = (pydantic.ValidationError, json.JSONDecodeError)
        http_options = types.HttpOptions(
            base_url=gemini_endpoint(base_url).url,  # the URL the build probed
            api_version=api_version,
            timeout=max(1, round(self.timeout * 1000)),  # milliseconds
            retry_options=types.HttpRetryOptions(attempts=1),  # our RetryingBackend owns retries
        )
        # vertexai=False: GOOGLE_GENAI_USE_VERTEXAI in the environment must not reroute the calls.
        self._client = genai.Client(api_key=key, vertexai=False, http_options=http_options)
        self._lock = threading.Lock()
        self.usage = Usage()

    def __repr__(self) -> str:
        where = f", base_url={self.base_url!r}" if self.base_url else ""
        return f"{type(self).__name__}(model_id={self.model_id!r}{where})"

    # ----------------------------------------------------------------- plumbing

    def _image_part(self, image: Image.Image, max_side: int | None = None) -> Any:
        return self._types.Part.from_bytes(
            data=image_payloads.png_bytes(image, max_side), mime_type="image/png"
        )

    def _generate(self, item: object, contents: list[Any], config: Any) -> Any:
        logger.debug("Gemini generateContent: model=%s item=%s", self.model_id, item)
        try:
            return self._client.models.generate_content(model=self.model_id, contents=contents, config=config)
        except self._api_error as exc:
            raise self._map_api_error(exc, item) from None
        except self._transport_errors as exc:
            kind = "timed out" if "timeout" in type(exc).__name__.lower() else "connection failed"
            raise BackendTransient(item, f"Gemini request {kind}: {type(exc).__name__}: {exc}") from None
        except self._parse_errors as exc:  # a 200 whose body is not a valid GenerateContentResponse
            reason = http_status.short(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            raise BadOutputError(item, f"Gemini response could not be parsed: {reason}") from None

    def _map_api_error(self, exc: Any, item: object) -> BackendError:
        code = getattr(exc, "code", None)
        status = getattr(exc, "status", None)
        message = getattr(exc, "message", None) or str(exc)
        response = getattr(exc, "response", None)
        retry_after = http_status.retry_after_from_headers(getattr(response, "headers", None))
        if retry_after is None:
            retry_after = http_status.retry_after_from_google_details(getattr(exc, "details", None))
        reason = f"{status or 'error'}: {http_status.short(message)}"
        return http_status.error_for_status(item, code, reason, retry_after=retry_after)

    def _usage(self, response: Any, images: int = 0) -> Usage:
        meta = getattr(response, "usage_metadata", None)
        prompt = int(getattr(meta, "prompt_token_count", 0) or 0)
        output = int(getattr(meta, "candidates_token_count", 0) or 0)
        thoughts = int(getattr(meta, "thoughts_token_count", 0) or 0)  # billed as output
        usage = Usage(calls=1, input_tokens=prompt, output_tokens=output + thoughts, images=images)
        with self._lock:
            self.usage = self.usage + usage
        return usage

    def _check_refusal(self, response: Any, item: object) -> Any:
        """The first candidate, after turning a blocked prompt / safety stop into a refusal."""
        feedback = getattr(response, "prompt_feedback", None)
        block = _enum_name(getattr(feedback, "block_reason", None))
        if block and block != "BLOCKED_REASON_UNSPECIFIED":
            detail = getattr(feedback, "block_reason_message", None)
            text = f"prompt blocked: {block}" + (f" ({http_status.short(detail)})" if detail else "")
            raise BackendRefused(item, text, safety=True)
        candidates = getattr(response, "candidates", None) or []
        if not candidates:
            raise BadOutputError(item, "Gemini returned no candidates")
        candidate = candidates[0]
        finish = _enum_name(getattr(candidate, "finish_reason", None))
        if finish in SAFETY_REASONS or finish in POLICY_REASONS:
            detail = getattr(candidate, "finish_message", None)
            text = f"generation stopped: {finish}" + (f" ({http_status.short(detail)})" if detail else "")
            raise BackendRefused(item, text, safety=finish in SAFETY_REASONS)
        return candidate


class GeminiImageBackend(_GeminiClient):
    """Gemini image editing (Nano Banana Pro by default) as an :class:`ImageBackend`.

    Args:
        model_id: Gemini image model id (``gemini-3-pro-image-preview``; Nano Banana 2 ids work too).
        api_key: API key; default ``GEMINI_API_KEY`` then ``GOOGLE_API_KEY``.
        base_url: alternative endpoint root (proxies, tests).
        timeout: seconds per request.
        image_size: optional ``ImageConfig.image_size`` (``"1K"``, ``"2K"``, ``"4K"``).
        api_version: REST API version; ``v1beta`` (where the preview image models and JSON-schema
            output live). google-genai 3.x would otherwise default to ``v1``.
    """

    name = "gemini"

    def __init__(
        self,
        model_id: str = DEFAULT_IMAGE_MODEL,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 120.0,
        *,
        image_size: str | None = None,
        api_version: str = "v1beta",
    ) -> None:
        super().__init__(
            model_id, api_key=api_key, base_url=base_url, timeout=timeout, api_version=api_version
        )
        self.image_size = image_size

    def restore(self, request: RestoreRequest) -> RestoreResult:
        item = request.item_id
        types = self._types
        config = types.GenerateContentConfig(
            response_modalities=["IMAGE"],
            seed=request.seed,
            image_config=types.ImageConfig(image_size=self.image_size) if self.image_size else None,
        )
        contents = [request_prompts.default_restore_prompt(request.prompt), self._image_part(request.image)]
        response = self._generate(item, contents, config)
        candidate = self._check_refusal(response, item)
        finish = _enum_name(getattr(candidate, "finish_reason", None))
        data, texts = None, []
        content = getattr(candidate, "content", None)
        for part in getattr(content, "parts", None) or []:
            inline = getattr(part, "inline_data", None)
            if getattr(part, "thought", None):  # interim "thinking" images of Gemini 3 Pro Image
                continue
            if inline is not None and str(getattr(inline, "mime_type", "") or "").startswith("image/"):
                data = inline.data  # keep the last final image
            elif getattr(part, "text", None):
                texts.append(part.text)
        usage = self._usage(response, images=1 if data is not None else 0)
        if data is None:
            said = f"; model said: {http_status.short(' '.join(texts), 160)}" if texts else ""
            raise BadOutputError(item, f"Gemini returned no image (finish reason {finish}){said}")
        image = image_payloads.decode_output(data, item, "Gemini")
        metadata: dict[str, Any] = {"finish_reason": finish, "seed": request.seed}
        if request_prompts.prompt_defaulted(request.prompt):
            metadata["default_prompt"] = True
        if getattr(response, "model_version", None):
            metadata["model_version"] = response.model_version
        if getattr(response, "response_id", None):
            metadata["response_id"] = response.response_id
        return RestoreResult(image, backend=self.name, model_id=self.model_id, usage=usage, metadata=metadata)


class GeminiVLM(_GeminiClient):
    """Gemini as a :class:`VLMClient`: writes image-specific prompts and judges restorations.

    Both calls ask for JSON (``response_mime_type="application/json"`` plus a response JSON schema)
    and validate it; anything unparseable is a :class:`BadOutputError`. Images are sent as PNG,
    downscaled to ``max_side`` pixels on their longer side.
    """

    name = "gemini"

    def __init__(
        self,
        model_id: str = DEFAULT_VLM_MODEL,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 120.0,
        *,
        max_side: int | None = 1024,
        temperature: float | None = None,
        api_version: str = "v1beta",
    ) -> None:
        super().__init__(
            model_id, api_key=api_key, base_url=base_url, timeout=timeout, api_version=api_version
        )
        self.max_side = max_side
        self.temperature = temperature

    def _json_config(self, schema: dict[str, Any]) -> Any:
        return self._types.GenerateContentConfig(
            response_mime_type="application/json",
            response_json_schema=schema,
            temperature=self.temperature,
        )

    def _text(self, response: Any, item: object) -> str | None:
        candidate = self._check_refusal(response, item)
        parts = getattr(getattr(candidate, "content", None), "parts", None) or []
        texts = [p.text for p in parts if getattr(p, "text", None) and not getattr(p, "thought", None)]
        return "".join(texts) if texts else None

    def describe(self, image: Image.Image, *, instruction: str, item_id: str = "<item>") -> PromptResult:
        contents = [f"{instruction}\n{vlm_answers.JSON_ONLY}", self._image_part(image, self.max_side)]
        response = self._generate(item_id, contents, self._json_config(vlm_answers.PROMPT_SCHEMA))
        usage = self._usage(response)
        prompt, analysis = vlm_answers.parse_prompt_json(self._text(response, item_id), item_id, "Gemini")
        return PromptResult(prompt, analysis, usage)

    def judge(
        self, lq: Image.Image, out: Image.Image, *, prompt: str | None = None, item_id: str = "<item>"
    ) -> Verdict:
        contents = [
            request_prompts.judge_instruction(prompt),
            "Degraded input:",
            self._image_part(lq, self.max_side),
            "Restored output:",
            self._image_part(out, self.max_side),
        ]
        response = self._generate(item_id, contents, self._json_config(vlm_answers.VERDICT_SCHEMA))
        self._usage(response)
        return vlm_answers.parse_verdict_json(self._text(response, item_id), item_id, "Gemini")
