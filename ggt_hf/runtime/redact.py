"""Secret redaction: one function for everything written or printed (configs, errors, logs).

API keys and tokens come from the environment and are never written; but a user can still put
one into a config (``backend.options.api_key``), a CLI override, or a provider can echo it in an
error body. :func:`redact` masks secret-looking keys of a mapping and secret-looking substrings
of text, including the current values of secret environment variables.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

#: What replaces a secret.
MASK = "***"

#: Mapping keys whose values are secrets (case-insensitive; ``max_tokens`` and the like are not).
_SECRET_KEY = re.compile(r"(api_?key|secret|password|passwd|authorization|credential|(^|_)token$)", re.I)

#: Secret-looking substrings of free text: key=value / "key": "value" / Bearer tokens / known formats.
_TEXT_PATTERNS = (
    re.compile(
        r"((?:api[_-]?key|x-goog-api-key|access[_-]?token|token|secret|password|authorization)"
        r"[\"']?\s*[:=]\s*[\"']?)(?:bearer\s+)?([^\s\"',;&}]{4,})",
        re.I,
    ),
    re.compile(r"(bearer\s+)([A-Za-z0-9._~+/=-]{8,})", re.I),
    re.compile(r"()\b((?:sk|pk|rk)-[A-Za-z0-9_-]{12,}|AIza[0-9A-Za-z_-]{20,}|hf_[A-Za-z0-9]{20,})"),
)

#: Environment variables whose values are masked wherever they appear.
_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)", re.I)


def _env_secrets() -> list[str]:
    return sorted(
        (v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= 8), key=len, reverse=True
    )


def redact_text(text: str) -> str:
    """``text`` with secrets masked (key=value pairs, bearer tokens, known key formats, env values)."""
    for value in _env_secrets():
        text = text.replace(value, MASK)
    for pattern in _TEXT_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


def redact(obj: Any) -> Any:
    """A copy of ``obj`` with secrets masked: values under secret-looking keys of mappings (at any
    depth) and secret-looking substrings of strings (:func:`redact_text`).

    Each distinct string is scanned once, however often it recurs (a YAML anchor reused through
    aliases appears many times in the loaded config), so the work is bounded by the distinct text."""
    return _redact(obj, {})


def _redact(obj: Any, done: dict[str, str]) -> Any:
    if isinstance(obj, dict):
        return {
            k: (
                MASK
                if isinstance(k, str) and _SECRET_KEY.search(k) and v not in (None, "")
                else _redact(v, done)
            )
            for k, v in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return type(obj)(_redact(v, done) for v in obj)
    if isinstance(obj, str):
        if obj not in done:
            done[obj] = redact_text(obj)
        return done[obj]
    return obj


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in every record's final message (:func:`redact_text`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
