"""The JSON answers of the VLM clients (``describe`` / ``judge``), parsed and validated the same way
for every provider (:func:`parse_prompt_json`, :func:`parse_verdict_json`), and the JSON schemas
the providers are asked to follow."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ggt_hf.backends.base import BadOutputError
from ggt_hf.backends.http_status import short
from ggt_hf.constants import JUDGE_ASPECTS
from ggt_hf.judging.verdict import Verdict

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
