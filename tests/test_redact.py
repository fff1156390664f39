"""Redaction scans each distinct string once (issue 21.10 follow-up).

A config may repeat one long text many times (a YAML anchor reused through aliases, within the load
limit); ``ggt build`` redacts the whole config before recording it, and scanning every copy made
``redact`` the bottleneck (minutes for a 1 MB text reused 5,000 times).
"""

from __future__ import annotations

from ggt_hf.runtime import redact as redact_module
from ggt_hf.runtime.redact import MASK, redact


def test_a_repeated_text_is_scanned_once(monkeypatch) -> None:
    scanned: list[int] = []
    real = redact_module.redact_text
    monkeypatch.setattr(redact_module, "redact_text", lambda text: scanned.append(len(text)) or real(text))
    text = "x" * 10_000 + " api_key=abcd1234"
    out = redact({"backend": {"options": {"many": [text] * 500, "other": ["short"] * 500}}})
    assert len(scanned) == 2  # the long text once, "short" once
    assert out["backend"]["options"]["many"] == ["x" * 10_000 + " api_key=" + MASK] * 500
    assert out["backend"]["options"]["other"] == ["short"] * 500


def test_secret_keys_are_still_masked_at_any_depth() -> None:
    out = redact({"a": [{"api_key": "sk-123456789012345"}], "token": "t", "max_tokens": 5})
    assert out == {"a": [{"api_key": MASK}], "token": MASK, "max_tokens": 5}
