"""Hugging Face Inference (Inference Providers, the HF router, Inference Endpoints) as an image
backend, through ``huggingface_hub.InferenceClient.image_to_image``.

Configuration:

* ``model_id`` — a Hub model id, default ``Qwen/Qwen-Image-Edit``.
* ``provider`` — ``"auto"`` (the first provider serving the model, in the order set at
  hf.co/settings/inference-providers), or a provider name (``"fal-ai"``, ``"replicate"``,
  ``"hf-inference"``, ...). ``auto`` asks the Hub for the model's provider mapping first.
* ``token`` — or ``HF_TOKEN``. Given to the SDK only: never stored on the backend, logged, put in
  metadata or ``repr``. (Without either, ``huggingface_hub`` falls back to a token saved by
  ``hf auth login``.)
* ``base_url`` — the root of a server speaking the HF-Inference wire protocol; the request goes to
  ``{base_url}/models/{model_id}``, exactly as the router does for ``provider="hf-inference"``
  (``https://router.huggingface.co/hf-inference/models/{model_id}``). Setting it implies the
  hf-inference protocol.
* ``endpoint_url`` — a dedicated Inference Endpoint URL, posted to as is (``model_id`` is then only
  recorded).
* ``timeout`` — seconds per request.

Which hosts that makes (the endpoint URL; or the base URL; or the Hub for the model's provider
mapping plus the HF router) is :meth:`HFInferenceBackend.api_endpoints`: the build probes them before
any work.

``RestoreRequest.seed`` is forwarded as the ``seed`` parameter (most diffusion servers honour it;
set ``send_seed=False`` for one that rejects unknown parameters). The SDK does not retry.

Error mapping: ``InferenceTimeoutError``, connection failures and HTTP 408/429/5xx (incl. 503
"model loading", whose ``estimated_time`` is used when there is no ``Retry-After``) → :class:`BackendTransient` with ``retry_after`` from ``Retry-After``; other 4xx →
:class:`BackendRefused` (``safety=True`` when the server's message names a safety/NSFW filter);
unsupported provider/task (``ValueError`` from the SDK) → :class:`BackendRefused`; an empty or
undecodable image → :class:`BadOutputError`.
"""

from __future__ import annotations

import os
import re
from typing import Any

from PIL import Image

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
from ggt_hf.imaging.images import encode_image
from ggt_hf.runtime.network import DEFAULT_ENDPOINT, ApiEndpoint

DEFAULT_MODEL = "Qwen/Qwen-Image-Edit"
_SAFETY_WORDS = re.compile(r"\b(nsfw|safety|unsafe|content polic|moderation)", re.IGNORECASE)


def _estimated_time(response: Any) -> float | None:
    try:
        body = response.json()
    except Exception:  # closed stream, not JSON, ...
        return None
    value = body.get("estimated_time") if isinstance(body, dict) else None
    return http_status.parse_duration(value) if value is not None else None


class HFInferenceBackend:
    """An image-to-image model behind Hugging Face Inference (see the module docstring)."""

    name = "hf-inference"

    @classmethod
    def api_endpoints(
        cls,
        base_url: str | None = None,
        *,
        endpoint_url: str | None = None,
        provider: str | None = "auto",
        **_options: Any,
    ) -> list[ApiEndpoint]:
        """The hosts a backend made with these options calls (see
        :func:`ggt_hf.backends.api_endpoints`): its ``endpoint_url`` or ``base_url`` as given; else
        the Hub (``HF_ENDPOINT``: the SDK asks it which provider serves the model) and the router."""
        if endpoint_url:
            return [ApiEndpoint("the Inference Endpoint", endpoint_url, "the endpoint_url option")]
        if base_url:
            return [ApiEndpoint("the HF Inference server", base_url, "the base_url option")]
        from huggingface_hub import constants

        router = constants.INFERENCE_PROXY_TEMPLATE.format(provider=provider or "auto")
        hub = ApiEndpoint.resolve(
            "the Hugging Face Hub (provider mapping)", None, "HF_ENDPOINT", DEFAULT_ENDPOINT
        )
        return [
            hub,
            ApiEndpoint(
                "the Hugging Face inference router", router, "the default; the base_url option changes it"
            ),
        ]

    def __init__(
        self,
        model_id: str = DEFAULT_MODEL,
        provider: str | None = "auto",
        token: str | None = None,
        base_url: str | None = None,
        *,
        endpoint_url: str | None = None,
        timeout: float = 180.0,
        send_seed: bool = True,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        try:
            from huggingface_hub import InferenceClient
            from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError
        except ImportError:
            raise MissingExtraError("huggingface_hub", "generate") from None
        if base_url and endpoint_url:
            raise ValueError("pass either base_url or endpoint_url, not both")
        self.model_id = model_id
        self.provider = "hf-inference" if (base_url or endpoint_url) else (provider or "auto")
        self.base_url, self.endpoint_url = base_url, endpoint_url
        self.timeout = float(timeout)
        self.send_seed = send_seed
        self.parameters = dict(parameters or {})
        if endpoint_url:
            self._target = endpoint_url
        elif base_url:
            self._target = f"{base_url.rstrip('/')}/models/{model_id}"
        else:
            self._target = model_id
        self._http_error, self._timeout_error = HfHubHTTPError, InferenceTimeoutError
        self._transport_errors = http_status.transport_error_types()
        self._client = InferenceClient(
            provider=self.provider,  # type: ignore[arg-type]
            token=token or os.environ.get("HF_TOKEN") or None,
            timeout=self.timeout,
        )

    def __repr__(self) -> str:
        where = (
            f", url={(self.endpoint_url or self.base_url)!r}" if (self.endpoint_url or self.base_url) else ""
        )
        return f"HFInferenceBackend(model_id={self.model_id!r}, provider={self.provider!r}{where})"

    def _map_http_error(self, exc: Any, item: object) -> BackendError:
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
        message = getattr(exc, "server_message", None) or str(exc).splitlines()[0]
        retry_after = http_status.retry_after_from_headers(getattr(response, "headers", None))
        if retry_after is None and status == 503:  # "model is loading": {"estimated_time": 20.0}
            retry_after = _estimated_time(response)
        safety = bool(status and 400 <= status < 500 and _SAFETY_WORDS.search(message or ""))
        return http_status.error_for_status(
            item, status, http_status.short(message), retry_after=retry_after, safety=safety
        )

    def restore(self, request: RestoreRequest) -> RestoreResult:
        item = request.item_id
        params = dict(self.parameters)
        if self.send_seed and request.seed is not None:
            params["seed"] = int(request.seed)
        try:
            out = self._client.image_to_image(
                image_payloads.png_bytes(request.image),
                prompt=request_prompts.default_restore_prompt(request.prompt),
                model=self._target,
                **params,
            )
        except self._timeout_error as exc:
            raise BackendTransient(item, f"HF Inference timed out: {http_status.short(exc)}") from None
        except self._http_error as exc:
            raise self._map_http_error(exc, item) from None
        except self._transport_errors as exc:
            raise BackendTransient(
                item, f"HF Inference connection failed: {type(exc).__name__}: {exc}"
            ) from None
        except (Image.UnidentifiedImageError, Image.DecompressionBombError) as exc:
            # huggingface_hub opens the response body with PIL itself.
            what = (
                "decompression bomb"
                if isinstance(exc, Image.DecompressionBombError)
                else "empty or not an image"
            )
            raise BadOutputError(item, f"HF Inference returned an unusable image payload ({what})") from None
        except ValueError as exc:  # unsupported provider / task / parameters
            raise BackendRefused(
                item, f"HF Inference request rejected by the client: {http_status.short(exc)}"
            ) from None
        raw = image_payloads.pil_source_bytes(out)
        if raw is None:  # not the lazily opened BytesIO we expect: re-encode losslessly
            try:
                raw = encode_image(out.convert("RGB"), "png")
            except (OSError, SyntaxError, ValueError) as exc:
                raise BadOutputError(
                    item, f"HF Inference returned an unusable image: {http_status.short(exc)}"
                ) from None
        image = image_payloads.decode_output(raw, item, "HF Inference")
        metadata: dict[str, Any] = {"provider": self.provider, "seed": request.seed}
        if request_prompts.prompt_defaulted(request.prompt):
            metadata["default_prompt"] = True
        return RestoreResult(
            image,
            backend=self.name,
            model_id=self.model_id,
            usage=Usage(calls=1, images=1),
            metadata=metadata,
        )
