"""Helpers shared by the hosted-API backends (Gemini, OpenAI, HF Inference).

* HTTP status → typed error: 408/429/5xx are :class:`BackendTransient`, other 4xx
  :class:`BackendRefused` (:func:`error_for_status`);
* ``Retry-After`` (delta-seconds or HTTP-date, plus OpenAI's ``retry-after-ms``) and Google's
  ``RetryInfo.retryDelay`` (``"2s"``) parsing;
* transport failures (timeouts, refused connections) of the HTTP stacks the SDKs use — ``httpx``
  and its fork ``httpx2`` — recognised as transient (:func:`transport_error_types`);
* image bytes → :class:`~PIL.Image.Image` through :func:`ggt_hf.images.decode_image`, with any
  undecodable payload reported as :class:`BadOutputError` naming the item;
* the JSON answers of the VLM clients (``describe`` / ``judge``) parsed and validated the same way
  for every provider (:func:`parse_prompt_json`, :func:`parse_verdict_json`).

Nothing here ever sees an API key.
"""

from __future__ import annotations

import email.utils
import io
import json
import re
import time
from collections.abc import Mapping
from typing import Any

from PIL import Image

from ggt_hf.backends.base import BackendRefused, BackendTransient, BadOutputError
from ggt_hf.constants import JUDGE_ASPECTS
from ggt_hf.errors import BadImageError
from ggt_hf.evaluation.vlm_r import Verdict
from ggt_hf.images import decode_image, encode_image

#: Status codes worth retrying (request timeout, rate limit; every 5xx is added by the check).
TRANSIENT_STATUS = frozenset({408, 429})
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*s?\s*$")


def is_transient_status(status: int | None) -> bool:
    """True for 408, 429 and any 5xx."""
    return status is not None and (status in TRANSIENT_STATUS or 500 <= status <= 599)


def parse_retry_after(value: object, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (``"2"``, ``"1.5"`` or an HTTP-date); ``None``
    when absent or unreadable. Negative waits (a date in the past) become ``0``."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def parse_duration(value: object) -> float | None:
    """Seconds from a protobuf ``Duration`` in JSON form (``"2s"``, ``"0.5s"``) or a number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return max(0.0, float(value))
    if isinstance(value, Mapping):  # {"seconds": 2, "nanos": 500000000}
        try:
            return max(0.0, float(value.get("seconds", 0) or 0) + float(value.get("nanos", 0) or 0) / 1e9)
        except (TypeError, ValueError):
            return None
    match = _DURATION.match(str(value)) if value is not None else None
    return float(match.group(1)) if match else None


def retry_after_from_headers(headers: Any) -> float | None:
    """``retry-after-ms`` (OpenAI) or ``Retry-After`` from a headers mapping (case-insensitive)."""
    if headers is None:
        return None
    try:
        lowered = {str(k).lower(): v for k, v in headers.items()}
    except AttributeError:
        return None
    if "retry-after-ms" in lowered:
        try:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000.0)
        except (TypeError, ValueError):
            pass
    return parse_retry_after(lowered.get("retry-after"))


def retry_after_from_google_details(details: Any) -> float | None:
    """The ``retryDelay`` of a ``google.rpc.RetryInfo`` entry in a Google error body's details."""
    if isinstance(details, Mapping):
        error = details.get("error", details)
        details = error.get("details") if isinstance(error, Mapping) else None
    if not isinstance(details, list):
        return None
    for entry in details:
        if isinstance(entry, Mapping) and str(entry.get("@type", "")).endswith("google.rpc.RetryInfo"):
            return parse_duration(entry.get("retryDelay"))
    return None


def error_for_status(
    item: object, status: int | None, reason: str, *, retry_after: float | None = None, safety: bool = False
) -> BackendTransient | BackendRefused:
    """The typed error for an HTTP failure: transient for 408/429/5xx, refused otherwise."""
    if is_transient_status(status):
        return BackendTransient(item, f"HTTP {status}: {reason}", retry_after=retry_after)
    label = f"HTTP {status}: {reason}" if status is not None else reason
    return BackendRefused(item, label, safety=safety)


def transport_error_types() -> tuple[type[BaseException], ...]:
    """Timeout/connection exception classes of ``httpx`` and ``httpx2`` that are installed."""
    found: list[type[BaseException]] = []
    for module_name in ("httpx", "httpx2"):
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        cls = getattr(module, "TransportError", None)
        if isinstance(cls, type):
            found.append(cls)
    return tuple(found)


def short(text: object, limit: int = 300) -> str:
    """One line, at most ``limit`` characters (for error reasons)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --------------------------------------------------------------------------- images


def png_bytes(image: Image.Image, max_side: int | None = None) -> bytes:
    """``image`` as RGB PNG bytes, optionally downscaled so its longer side is ≤ ``max_side``."""
    img = image if image.mode == "RGB" else image.convert("RGB")
    if max_side and max(img.size) > max_side:
        scale = max_side / max(img.size)
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        img = img.resize(size, Image.Resampling.LANCZOS)
    return encode_image(img, "png", compress_level=1)


def decode_output(data: bytes | None, item: object, source: str) -> Image.Image:
    """Decode a backend's output bytes; empty or undecodable data is a :class:`BadOutputError`."""
    if not data:
        raise BadOutputError(item, f"{source} returned an empty image payload")
    try:
        return decode_image(bytes(data), item).image
    except BadImageError as exc:
        raise BadOutputError(item, f"{source} returned an unusable image: {exc.reason}") from None


def pil_source_bytes(img: Image.Image) -> bytes | None:
    """The encoded bytes a lazily opened PIL image was read from (``Image.open(BytesIO(...))``)."""
    fp = getattr(img, "fp", None)
    if isinstance(fp, io.BytesIO):
        return fp.getvalue()
    return None


# --------------------------------------------------------------------------- VLM answers

#: JSON schema of a ``describe`` answer (the fields the adaptive instruction asks for).
PROMPT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "degradations": {"type": "array", "items": {"type": "string"}},
        "preserve": {"type": "array", "items": {"type": "string"}},
        "prompt": {"type": "string"},
    },
    "required": ["degradations", "preserve", "prompt"],
}

#: JSON schema of a ``judge`` answer: one ``{"pass", "reason"}`` object per aspect, plus feedback.
VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        **{
            aspect: {
                "type": "object",
                "properties": {"pass": {"type": "boolean"}, "reason": {"type": "string"}},
                "required": ["pass", "reason"],
            }
            for aspect in JUDGE_ASPECTS
        },
        "feedback": {"type": "string"},
    },
    "required": [*JUDGE_ASPECTS, "feedback"],
}

JSON_ONLY = "Answer with one JSON object only, no markdown and no text around it."


def _load_json_object(text: str | None, item: object, source: str) -> dict[str, Any]:
    if text is None or not str(text).strip():
        raise BadOutputError(item, f"{source} returned no text (expected a JSON object)")
    body = str(text).strip()
    fenced = re.match(r"^```(?:json)?\s*(.*?)\s*```$", body, re.DOTALL)
    if fenced:  # tolerate a Markdown code fence around otherwise valid JSON
        body = fenced.group(1)
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise BadOutputError(
            item, f"{source} returned malformed JSON ({exc.msg}): {short(body, 120)}"
        ) from None
    if not isinstance(data, dict):
        raise BadOutputError(item, f"{source} returned JSON {type(data).__name__}, expected an object")
    return data


def _string_list(value: Any, key: str, item: object, source: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadOutputError(item, f"{source} answer: {key!r} must be a list of strings")
    return [v for v in value if v.strip()]


def parse_prompt_json(text: str | None, item: object, source: str) -> tuple[str, dict[str, Any]]:
    """``(prompt, analysis)`` from a ``describe`` answer; a missing or empty prompt is bad output."""
    data = _load_json_object(text, item, source)
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadOutputError(item, f"{source} answer has no non-empty 'prompt' string")
    analysis = {
        "degradations": _string_list(data.get("degradations"), "degradations", item, source),
        "preserve": _string_list(data.get("preserve"), "preserve", item, source),
    }
    return prompt.strip(), analysis


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "pass", "passed", "yes"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "fail", "failed", "no"):
        return False
    return None


def parse_verdict_json(text: str | None, item: object, source: str) -> Verdict:
    """A :class:`Verdict` from a ``judge`` answer: every aspect must be present with a boolean
    ``pass`` (a bare boolean is accepted too); ``feedback`` is optional."""
    data = _load_json_object(text, item, source)
    aspects: dict[str, bool] = {}
    reasons: dict[str, str] = {}
    for aspect in JUDGE_ASPECTS:
        entry = data.get(aspect)
        if isinstance(entry, Mapping):
            passed = _as_bool(entry.get("pass", entry.get("passed")))
            reason = entry.get("reason", "")
        else:
            passed, reason = _as_bool(entry), ""
        if passed is None:
            raise BadOutputError(item, f"{source} verdict lacks a boolean 'pass' for aspect {aspect!r}")
        aspects[aspect] = passed
        if reason:
            reasons[aspect] = str(reason)
    feedback = data.get("feedback")
    feedback = str(feedback).strip() if feedback is not None else ""
    return Verdict(aspects, reasons, feedback or None)


def judge_instruction(prompt: str | None) -> str:
    """The judge instruction (``prompts/judge_instruction.txt``), mentioning the restoration prompt."""
    from ggt_hf.prompting import template

    text = template("judge_instruction")
    if prompt:
        text += f"\nThe restoration was asked for with this prompt: {prompt}"
    return f"{text}\n{JSON_ONLY}"


def prompt_defaulted(prompt: str | None) -> bool:
    """True when no prompt was given and :func:`default_restore_prompt` substitutes one."""
    return not (prompt and prompt.strip())


def default_restore_prompt(prompt: str | None) -> str:
    """``prompt``, or the generic fixed restoration prompt (``prompts/fixed.txt``) when none was
    given — editing models need an instruction; the backends record ``default_prompt`` in the
    result metadata when this happens."""
    if not prompt_defaulted(prompt):
        return prompt  # type: ignore[return-value]
    from ggt_hf.prompting import template

    return template("fixed")


def judge_content(prompt: str | None, lq_part: Any, out_part: Any) -> list[Any]:
    """Chat content of a judge request: instruction, then the degraded input and the output."""
    return [
        {"type": "text", "text": judge_instruction(prompt)},
        {"type": "text", "text": "Degraded input:"},
        lq_part,
        {"type": "text", "text": "Restored output:"},
        out_part,
    ]
