"""HTTP failures of the hosted-API backends (Gemini, OpenAI, HF Inference) as typed errors.

* HTTP status → typed error: 408/429/5xx are :class:`BackendTransient`, other 4xx
  :class:`BackendRefused` (:func:`error_for_status`);
* ``Retry-After`` (delta-seconds or HTTP-date, plus OpenAI's ``retry-after-ms``) and Google's
  ``RetryInfo.retryDelay`` (``"2s"``) parsing;
* transport failures (timeouts, refused connections) of the HTTP stacks the SDKs use — ``httpx``
  and its fork ``httpx2`` — recognised as transient (:func:`transport_error_types`).

Nothing here ever sees an API key.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from typing import Any

from ggt_hf.backends.base import BackendRefused, BackendTransient

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
