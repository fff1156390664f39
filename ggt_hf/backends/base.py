"""The protocols every backend implements, their request/result types and their errors.

Two kinds of backend:

* :class:`ImageBackend` — an MFM (or a baseline) that turns an LQ image plus a prompt into an HQ
  candidate: ``restore(RestoreRequest) -> RestoreResult``;
* :class:`VLMClient` — a vision-language model that writes an image-specific restoration prompt
  (``describe``) and judges a candidate over the paper's five aspects (``judge``, returning the
  same :class:`~ggt_hf.judging.verdict.Verdict` that VLM-R uses).

Failures are typed so the wrappers can act on them: :class:`BackendTransient` (retry: 429, 5xx,
timeouts — may carry the server's ``retry_after``), :class:`BackendRefused` (do not retry: safety
refusal, invalid request, auth), :class:`BadOutputError` (the call succeeded but the output is
unusable: empty, undecodable, wrong geometry). Each names the item and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from PIL import Image

from ggt_hf.errors import GGTError
from ggt_hf.judging.verdict import Verdict


class BackendError(GGTError):
    """Base of every backend failure."""


class BackendTransient(BackendError):
    """A failure worth retrying (rate limit, server error, timeout)."""

    def __init__(self, item: object, reason: str, retry_after: float | None = None) -> None:
        super().__init__(item, reason)
        self.retry_after = retry_after


class BackendRefused(BackendError):
    """A failure not worth retrying as is (safety refusal, invalid request, authentication)."""

    def __init__(self, item: object, reason: str, safety: bool = False) -> None:
        super().__init__(item, reason)
        self.safety = safety


class BadOutputError(BackendError):
    """The backend answered, but its output cannot be used (empty, garbage, wrong geometry)."""


@dataclass
class RestoreRequest:
    """One restoration call."""

    image: Image.Image
    prompt: str | None = None
    seed: int | None = None
    item_id: str = "<item>"


@dataclass
class Usage:
    """What a call consumed (summed by the accounting wrapper)."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    images: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.calls + other.calls,
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.images + other.images,
            self.cost_usd + other.cost_usd,
        )


@dataclass
class RestoreResult:
    """An HQ candidate and how it was made."""

    image: Image.Image
    backend: str
    model_id: str
    usage: Usage = field(default_factory=Usage)
    metadata: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class ImageBackend(Protocol):
    """An image-to-image restorer (MFM or baseline)."""

    name: str
    model_id: str

    def restore(self, request: RestoreRequest) -> RestoreResult: ...


@dataclass
class PromptResult:
    """A written restoration prompt plus the analysis behind it (degradations found, what to keep)."""

    prompt: str
    analysis: dict[str, Any] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)


@runtime_checkable
class VLMClient(Protocol):
    """A vision-language model used to write prompts and to judge candidates."""

    name: str
    model_id: str

    def describe(self, image: Image.Image, *, instruction: str, item_id: str = "<item>") -> PromptResult: ...

    def judge(self, lq: Image.Image, out: Image.Image, *, prompt: str | None = None) -> Verdict: ...
