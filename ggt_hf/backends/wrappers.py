"""Wrappers shared by every image backend: they compose around any :class:`ImageBackend`.

``wrap(backend, ...)`` stacks them in the order that makes sense (outermost first)::

    Cached → Accounting → Retrying → RateLimited → ConcurrencyLimited → Validating → backend

* :class:`CachedBackend` — content-addressed response cache: key = SHA-256 of (backend, model id,
  prompt, LQ image pixels, seed); a hit costs nothing and is never paid for twice.
* :class:`AccountingBackend` — sums :class:`Usage` (calls, tokens, images, cost) across threads.
* :class:`RetryingBackend` — retries :class:`BackendTransient` and :class:`BadOutputError` with
  exponential backoff plus full jitter, honouring the server's ``retry_after``; never retries
  :class:`BackendRefused`.
* :class:`RateLimitedBackend` — at most ``rate`` calls per second (token bucket, thread-safe).
* :class:`ConcurrencyLimitedBackend` — at most ``limit`` calls in flight.
* :class:`ValidatingBackend` — the output must decode to RGB; if the MFM changed the geometry it
  is resized back to the LQ size and the transform is recorded in the metadata.
* :class:`FaultInjectingBackend` — for tests and drills: injects 429s, 5xx, timeouts, safety
  refusals, garbage bytes, wrong sizes and shifted outputs on a seeded schedule.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from ggt_hf.backends.base import (
    BackendRefused,
    BackendTransient,
    BadOutputError,
    ImageBackend,
    RestoreRequest,
    RestoreResult,
    Usage,
)
from ggt_hf.errors import BadImageError, GGTError
from ggt_hf.files.io_utils import atomic_write_bytes, atomic_write_json
from ggt_hf.imaging.images import decode_image, encode_image, load_image

logger = logging.getLogger(__name__)


class _Wrapper:
    """Forwards ``name``/``model_id`` of the wrapped backend."""

    def __init__(self, inner: ImageBackend) -> None:
        self.inner = inner
        self.name = inner.name
        self.model_id = inner.model_id

    def restore(self, request: RestoreRequest) -> RestoreResult:  # pragma: no cover - overridden
        return self.inner.restore(request)


class RetryingBackend(_Wrapper):
    """Retry transient failures with exponential backoff + full jitter (``retry_after`` wins)."""

    def __init__(
        self,
        inner: ImageBackend,
        *,
        attempts: int = 5,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        seed: int | None = None,
        sleep=time.sleep,
    ) -> None:
        super().__init__(inner)
        self.attempts = max(1, attempts)
        self.base_delay, self.max_delay = base_delay, max_delay
        self._rng = random.Random(seed)
        self._sleep = sleep
        self.retries = 0

    def delay(self, attempt: int, error: GGTError) -> float:
        """Seconds to wait before retry ``attempt`` (1-based)."""
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return min(float(retry_after), self.max_delay)
        return self._rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))

    def restore(self, request: RestoreRequest) -> RestoreResult:
        for attempt in range(1, self.attempts + 1):
            try:
                return self.inner.restore(request)
            except BackendRefused:
                raise
            except (BackendTransient, BadOutputError) as exc:
                if attempt == self.attempts:
                    raise type(exc)(exc.item, f"{exc.reason} (gave up after {attempt} attempts)") from exc
                wait = self.delay(attempt, exc)
                self.retries += 1
                logger.info("%s: %s; retry %d in %.1fs", request.item_id, exc.reason, attempt, wait)
                self._sleep(wait)
        raise AssertionError("unreachable")


class RateLimitedBackend(_Wrapper):
    """At most ``rate`` calls per second across threads (token bucket with burst ``burst``)."""

    def __init__(
        self, inner: ImageBackend, rate: float, burst: int = 1, clock=time.monotonic, sleep=time.sleep
    ) -> None:
        super().__init__(inner)
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate, self.burst = rate, max(1, burst)
        self._tokens = float(self.burst)
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = threading.Lock()

    def _acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self.rate
            self._sleep(wait)

    def restore(self, request: RestoreRequest) -> RestoreResult:
        self._acquire()
        return self.inner.restore(request)


class ConcurrencyLimitedBackend(_Wrapper):
    """At most ``limit`` calls in flight at once."""

    def __init__(self, inner: ImageBackend, limit: int) -> None:
        super().__init__(inner)
        self._slots = threading.BoundedSemaphore(max(1, limit))

    def restore(self, request: RestoreRequest) -> RestoreResult:
        with self._slots:
            return self.inner.restore(request)


class ValidatingBackend(_Wrapper):
    """Check the output decodes; resize it back to the LQ geometry (recorded) when it differs."""

    def restore(self, request: RestoreRequest) -> RestoreResult:
        result = self.inner.restore(request)
        image = result.image
        if not isinstance(image, Image.Image):
            raise BadOutputError(request.item_id, f"backend returned {type(image).__name__}, not an image")
        try:  # round-trip through the safe decoder: catches empty/garbage outputs early
            image = decode_image(encode_image(image.convert("RGB")), request.item_id).image
        except (GGTError, OSError, ValueError) as exc:
            raise BadOutputError(request.item_id, f"output does not decode: {exc}") from exc
        if image.size != request.image.size:
            result.metadata["output_size"] = list(image.size)
            result.metadata["resized_to_input"] = list(request.image.size)
            image = image.resize(request.image.size, Image.Resampling.LANCZOS)
        result.image = image
        return result


class AccountingBackend(_Wrapper):
    """Sum the usage of every successful call (thread-safe).

    ``cost_per_call`` (USD) prices calls whose backend reports no cost of its own (most APIs
    return token/image counts, not prices); it is written into each result's usage.
    """

    def __init__(self, inner: ImageBackend, cost_per_call: float = 0.0) -> None:
        super().__init__(inner)
        self.cost_per_call = cost_per_call
        self.usage = Usage()
        self.failures = 0
        self._lock = threading.Lock()

    def restore(self, request: RestoreRequest) -> RestoreResult:
        try:
            result = self.inner.restore(request)
        except GGTError:
            with self._lock:
                self.failures += 1
            raise
        if not result.usage.calls:
            result.usage.calls = 1
        if not result.usage.cost_usd and self.cost_per_call:
            result.usage.cost_usd = self.cost_per_call * result.usage.calls
        with self._lock:
            self.usage = self.usage + result.usage
        return result


def cache_key(backend: str, model_id: str, prompt: str | None, image: Image.Image, seed: int | None) -> str:
    """Content address of a restoration call (pixels, not file bytes, so re-encodes still hit)."""
    digest = hashlib.sha256()
    for part in (backend, model_id, prompt or "", str(seed), f"{image.size}{image.mode}"):
        digest.update(part.encode() + b"\0")
    digest.update(image.convert("RGB").tobytes())
    return digest.hexdigest()


class CachedBackend(_Wrapper):
    """Content-addressed response cache on disk: ``<dir>/<key[:2]>/<key>.png`` + ``.json``.

    An entry that cannot be read (truncated file, bad JSON) is a miss: both files are moved to
    ``quarantine_dir`` (default ``<dir>/.quarantine``) with a warning naming them, and the call is made.
    """

    def __init__(
        self, inner: ImageBackend, cache_dir: str | Path, quarantine_dir: str | Path | None = None
    ) -> None:
        super().__init__(inner)
        self.cache_dir = Path(cache_dir)
        self.quarantine_dir = Path(quarantine_dir) if quarantine_dir else self.cache_dir / ".quarantine"
        self.hits = self.misses = 0

    def _read(self, png: Path, meta: Path) -> RestoreResult | None:
        if not (png.exists() and meta.exists()):
            return None
        try:
            info = json.loads(meta.read_text())
            image = load_image(png).image
            return RestoreResult(
                image, info["backend"], info["model_id"], Usage(), {**info["metadata"], "cache": "hit"}
            )
        except (ValueError, KeyError, TypeError, BadImageError) as exc:
            self.quarantine_dir.mkdir(parents=True, exist_ok=True)
            for path in (png, meta):
                target = self.quarantine_dir / f"{path.name}.{time.time_ns()}"
                with contextlib.suppress(FileNotFoundError):
                    os.replace(path, target)
            logger.warning(
                "%s: corrupt cache entry (%s); moved to %s, the call is made again",
                png,
                exc,
                self.quarantine_dir,
            )
            return None

    def restore(self, request: RestoreRequest) -> RestoreResult:
        key = cache_key(self.name, self.model_id, request.prompt, request.image, request.seed)
        png, meta = self.cache_dir / key[:2] / f"{key}.png", self.cache_dir / key[:2] / f"{key}.json"
        cached = self._read(png, meta)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        result = self.inner.restore(request)
        atomic_write_bytes(png, encode_image(result.image))
        atomic_write_json(
            meta,
            {
                "backend": result.backend,
                "model_id": result.model_id,
                "metadata": result.metadata,
                "usage": result.usage.__dict__,
            },
        )
        return result


def wrap(
    backend: ImageBackend,
    *,
    cache_dir: str | Path | None = None,
    attempts: int = 5,
    rate: float | None = None,
    concurrency: int | None = None,
    base_delay: float = 1.0,
    cost_per_call: float = 0.0,
    quarantine_dir: str | Path | None = None,
) -> AccountingBackend | CachedBackend:
    """Stack the standard wrappers (see module docstring); returns the outermost."""
    inner: ImageBackend = ValidatingBackend(backend)
    if concurrency:
        inner = ConcurrencyLimitedBackend(inner, concurrency)
    if rate:
        inner = RateLimitedBackend(inner, rate)
    inner = AccountingBackend(RetryingBackend(inner, attempts=attempts, base_delay=base_delay), cost_per_call)
    return CachedBackend(inner, cache_dir, quarantine_dir) if cache_dir else inner


@dataclass
class FaultPlan:
    """Probabilities of each injected fault per call (the rest succeed)."""

    rate_limit: float = 0.0
    server_error: float = 0.0
    timeout: float = 0.0
    safety: float = 0.0
    garbage: float = 0.0
    wrong_size: float = 0.0
    shifted: float = 0.0
    retry_after: float | None = 0.0
    seed: int = 0
    counts: dict[str, int] = field(default_factory=dict)


class FaultInjectingBackend(_Wrapper):
    """Inject failures into an inner backend on a seeded schedule (per-item deterministic)."""

    def __init__(self, inner: ImageBackend, plan: FaultPlan) -> None:
        super().__init__(inner)
        self.plan = plan
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def _draw(self, item_id: str) -> str | None:
        with self._lock:
            n = self.calls[item_id] = self.calls.get(item_id, 0) + 1
        rng = random.Random(f"{self.plan.seed}:{item_id}:{n}")
        u = rng.random()
        for fault in ("rate_limit", "server_error", "timeout", "safety", "garbage", "wrong_size", "shifted"):
            p = getattr(self.plan, fault)
            if u < p:
                with self._lock:
                    self.plan.counts[fault] = self.plan.counts.get(fault, 0) + 1
                return fault
            u -= p
        return None

    def restore(self, request: RestoreRequest) -> RestoreResult:
        fault = self._draw(request.item_id)
        item = request.item_id
        if fault == "rate_limit":
            raise BackendTransient(
                item, "HTTP 429 Too Many Requests (injected)", retry_after=self.plan.retry_after
            )
        if fault == "server_error":
            raise BackendTransient(item, "HTTP 503 Service Unavailable (injected)")
        if fault == "timeout":
            raise BackendTransient(item, "request timed out (injected)")
        if fault == "safety":
            raise BackendRefused(item, "output blocked by safety filter (injected)", safety=True)
        result = self.inner.restore(request)
        if fault == "garbage":
            result.image = b"\x89PNG\r\n garbage"  # type: ignore[assignment]
        elif fault == "wrong_size":
            w, h = result.image.size
            result.image = result.image.resize((w * 3 // 4, h * 3 // 4))
        elif fault == "shifted":
            w, h = result.image.size
            result.image = result.image.transform(
                (w, h), Image.Transform.AFFINE, (1, 0, w // 10, 0, 1, h // 12)
            )
        return result
