"""OpenAI GPT-Image as an image backend (``POST /v1/images/edits`` through the ``openai`` SDK).

Configuration:

* ``model_id`` — default ``gpt-image-1``; any GPT-Image id is accepted as is (``gpt-image-1.5``,
  ``gpt-image-2``, ``gpt-image-1-mini``, ...).
* ``api_key`` — or ``OPENAI_API_KEY``. Handed to the SDK only: never stored on the backend,
  logged, put in metadata or ``repr``.
* ``base_url`` — an OpenAI-compatible endpoint root including the version (``.../v1``); default
  the SDK's (``OPENAI_BASE_URL`` or ``https://api.openai.com/v1``), resolved in one place
  (:func:`openai_endpoint`; the build probes that host before any work).
* ``size`` (``"auto"``), ``quality`` (``"high"``), ``input_fidelity`` (``None`` = the model's
  default; ``"high"`` keeps faces and details closer to the input on models that support it),
  ``timeout`` in seconds.

The SDK's own retries are disabled (``max_retries=0``): :class:`RetryingBackend` owns retries.
The images API has no seed; ``RestoreRequest.seed`` is recorded in the metadata only.

Error mapping:

* ``APITimeoutError`` / ``APIConnectionError``, HTTP 408/429/5xx → :class:`BackendTransient`, with
  ``retry_after`` from the response's ``retry-after-ms`` / ``Retry-After`` headers — except a 429
  with code ``insufficient_quota`` (billing), which is refused;
* HTTP 400 with code ``moderation_blocked`` / ``content_policy_violation`` (the safety system)
  → :class:`BackendRefused` with ``safety=True``; every other 4xx (bad request, 401/403 auth,
  404 unknown model) → :class:`BackendRefused`;
* a response without ``b64_json``, with invalid base64 or undecodable image bytes, or one the SDK
  cannot parse → :class:`BadOutputError`.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any

from ggt_hf.backends import http_status, image_payloads, request_prompts
from ggt_hf.backends.base import (
    BackendError,
    BackendRefused,
    BackendTransient,
    BadOutputError,
    RestoreRequest,
    RestoreResult,
    Usage,
)
from ggt_hf.errors import MissingExtraError
from ggt_hf.runtime.network import ApiEndpoint

DEFAULT_IMAGE_MODEL = "gpt-image-1"
#: The openai SDK's base URL when neither ``base_url`` nor ``OPENAI_BASE_URL`` is set.
DEFAULT_BASE_URL = "https://api.openai.com/v1"

#: Error codes of OpenAI's safety system (images and chat).
SAFETY_CODES = frozenset({"moderation_blocked", "content_policy_violation", "content_filter"})
#: Error codes that look transient by status but are not worth retrying.
NOT_RETRYABLE_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached"})


def openai_endpoint(base_url: str | None = None) -> ApiEndpoint:
    """The OpenAI(-compatible) endpoint a client uses: ``base_url``, else ``OPENAI_BASE_URL``, else
    OpenAI's (the SDK's order); :func:`make_openai_client` gives the SDK exactly this URL."""
    return ApiEndpoint.resolve("the OpenAI API", base_url, "OPENAI_BASE_URL", DEFAULT_BASE_URL)


def openai_api_endpoints(base_url: str | None = None, **_options: Any) -> list[ApiEndpoint]:
    """``api_endpoints`` of the OpenAI backend and VLM client (see :func:`ggt_hf.backends.api_endpoints`)."""
    return [openai_endpoint(base_url)]


def make_openai_client(api_key: str | None, base_url: str | None, timeout: float) -> Any:
    """An ``openai.OpenAI`` client with SDK retries off; the key comes from ``OPENAI_API_KEY``."""
    try:
        import openai
    except ImportError:
        raise MissingExtraError("openai", "generate") from None
    key = api_key or os.environ.get("OPENAI_API_KEY")
    if not key:
        raise ValueError("no OpenAI API key: pass api_key or set OPENAI_API_KEY")
    url = openai_endpoint(base_url).url  # the URL the build probed
    return openai.OpenAI(api_key=key, base_url=url, timeout=float(timeout), max_retries=0)


def map_openai_error(exc: Exception, item: object, what: str = "OpenAI") -> BackendError | None:
    """The typed error for an ``openai`` exception, or ``None`` if it is not an API failure."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return BackendTransient(item, f"{what} request timed out")
    if isinstance(exc, openai.APIConnectionError):
        return BackendTransient(item, f"{what} connection failed: {http_status.short(exc.message)}")
    if isinstance(exc, openai.APIResponseValidationError):
        return BadOutputError(
            item, f"{what} response did not match the API schema: {http_status.short(exc.message)}"
        )
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        code = str(exc.code) if exc.code else None
        body = exc.body if isinstance(exc.body, dict) else {}
        message = body.get("message") or exc.message
        label = f"{code or exc.type or 'error'}: {http_status.short(message)}"
        if code in SAFETY_CODES:
            return BackendRefused(item, f"HTTP {status}: refused by the safety system ({label})", safety=True)
        if code in NOT_RETRYABLE_CODES:
            return BackendRefused(item, f"HTTP {status}: {label}")
        retry_after = http_status.retry_after_from_headers(exc.response.headers)
        return http_status.error_for_status(item, status, label, retry_after=retry_after)
    return None


def usage_from(usage: Any, *, images: int = 0) -> Usage:
    """A :class:`Usage` from an OpenAI ``usage`` object (images or chat shape), if any."""
    if usage is None:
        return Usage(calls=1, images=images)
    inp = getattr(usage, "input_tokens", None)
    out = getattr(usage, "output_tokens", None)
    if inp is None:
        inp = getattr(usage, "prompt_tokens", 0)
    if out is None:
        out = getattr(usage, "completion_tokens", 0)
    return Usage(calls=1, input_tokens=int(inp or 0), output_tokens=int(out or 0), images=images)


class OpenAIImageBackend:
    """GPT-Image editing as an :class:`ImageBackend` (see the module docstring)."""

    name = "openai"
    api_endpoints = staticmethod(openai_api_endpoints)

    def __init__(
        self,
        model_id: str = DEFAULT_IMAGE_MODEL,
        api_key: str | None = None,
        base_url: str | None = None,
        size: str = "auto",
        quality: str = "high",
        *,
        input_fidelity: str | None = None,
        timeout: float = 180.0,
    ) -> None:
        self._client = make_openai_client(api_key, base_url, timeout)
        self.model_id = model_id
        self.base_url = base_url
        self.size, self.quality, self.input_fidelity = size, quality, input_fidelity
        self.timeout = float(timeout)

    def __repr__(self) -> str:
        where = f", base_url={self.base_url!r}" if self.base_url else ""
        return f"OpenAIImageBackend(model_id={self.model_id!r}, size={self.size!r}, quality={self.quality!r}{where})"

    def restore(self, request: RestoreRequest) -> RestoreResult:
        import openai

        item = request.item_id
        extra: dict[str, Any] = {}
        if self.input_fidelity:
            extra["input_fidelity"] = self.input_fidelity
        try:
            response = self._client.images.edit(
                model=self.model_id,
                image=("lq.png", image_payloads.png_bytes(request.image), "image/png"),
                prompt=request_prompts.default_restore_prompt(request.prompt),
                size=self.size,
                quality=self.quality,
                n=1,
                **extra,
            )
        except openai.OpenAIError as exc:
            mapped = map_openai_error(exc, item, "OpenAI images")
            if mapped is None:
                raise
            raise mapped from None
        data = response.data or []
        b64 = data[0].b64_json if data else None
        if not b64:
            raise BadOutputError(item, "OpenAI images returned no b64_json image")
        try:
            raw = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise BadOutputError(item, "OpenAI images returned invalid base64 in b64_json") from None
        image = image_payloads.decode_output(raw, item, "OpenAI images")
        usage = usage_from(getattr(response, "usage", None), images=1)
        metadata: dict[str, Any] = {"size": self.size, "quality": self.quality, "seed": request.seed}
        if request_prompts.prompt_defaulted(request.prompt):
            metadata["default_prompt"] = True
        for key in ("size", "quality", "output_format", "background"):
            value = getattr(response, key, None)
            if value is not None:
                metadata[f"response_{key}"] = value
        if data[0].revised_prompt:
            metadata["revised_prompt"] = data[0].revised_prompt
        return RestoreResult(image, backend=self.name, model_id=self.model_id, usage=usage, metadata=metadata)
