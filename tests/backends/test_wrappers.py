"""The shared backend wrappers: retries, rate limit, concurrency, validation, cache, accounting,
and the fault injector that drives the pipeline's fault tests."""

from __future__ import annotations

import threading
import time

import pytest
from PIL import ImageFilter

from ggt_hf.backends.base import (
    BackendRefused,
    BackendTransient,
    BadOutputError,
    RestoreRequest,
    RestoreResult,
    Usage,
)
from ggt_hf.backends.wrappers import (
    AccountingBackend,
    CachedBackend,
    ConcurrencyLimitedBackend,
    FaultInjectingBackend,
    FaultPlan,
    RateLimitedBackend,
    RetryingBackend,
    ValidatingBackend,
    cache_key,
    wrap,
)


class Smooth:
    """A tiny deterministic restorer that counts its (paid) calls."""

    name = "smooth"
    model_id = "smooth-1"

    def __init__(self, delay: float = 0.0, size=None):
        self.calls = 0
        self.delay = delay
        self.size = size
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()

    def restore(self, request: RestoreRequest) -> RestoreResult:
        with self._lock:
            self.calls += 1
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(self.delay)
        out = request.image.filter(ImageFilter.GaussianBlur(1))
        if self.size:
            out = out.resize(self.size)
        with self._lock:
            self.active -= 1
        return RestoreResult(out, self.name, self.model_id, Usage(calls=1, images=1, cost_usd=0.04))


class Flaky:
    name, model_id = "flaky", "f"

    def __init__(self, errors):
        self.errors = list(errors)
        self.calls = 0

    def restore(self, request):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return RestoreResult(request.image.copy(), self.name, self.model_id)


@pytest.fixture
def lq(photos):
    return photos[0].resize((96, 96))


def test_retry_backoff_honours_retry_after_and_gives_up(lq):
    slept = []
    inner = Flaky(
        [
            BackendTransient("x", "429", retry_after=2.0),
            BackendTransient("x", "503"),
            BadOutputError("x", "garbage"),
        ]
    )
    backend = RetryingBackend(inner, attempts=5, base_delay=1.0, seed=0, sleep=slept.append)
    backend.restore(RestoreRequest(lq, item_id="x"))
    assert inner.calls == 4 and slept[0] == 2.0
    assert 0 <= slept[1] <= 2.0 and 0 <= slept[2] <= 4.0  # full jitter within the exponential cap
    inner = Flaky([BackendTransient("x", "503")] * 3)
    with pytest.raises(BackendTransient, match="gave up after 3 attempts"):
        RetryingBackend(inner, attempts=3, sleep=lambda s: None).restore(RestoreRequest(lq, item_id="x"))
    inner = Flaky([BackendRefused("x", "blocked", safety=True)])
    with pytest.raises(BackendRefused):
        RetryingBackend(inner, sleep=lambda s: None).restore(RestoreRequest(lq, item_id="x"))
    assert inner.calls == 1  # refusals are never retried


def test_rate_limit_spaces_calls(lq):
    clock = [0.0]
    waits = []

    def sleep(s):
        waits.append(s)
        clock[0] += s

    backend = RateLimitedBackend(Smooth(), rate=4.0, clock=lambda: clock[0], sleep=sleep)
    for _ in range(5):
        backend.restore(RestoreRequest(lq))
    assert clock[0] == pytest.approx(1.0)  # 5 calls at 4/s with burst 1: 4 waits of 0.25 s


def test_concurrency_limit(lq):
    inner = Smooth(delay=0.05)
    backend = ConcurrencyLimitedBackend(inner, limit=2)
    threads = [threading.Thread(target=backend.restore, args=(RestoreRequest(lq),)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert inner.calls == 6 and inner.peak <= 2


def test_validation_resizes_back_and_rejects_garbage(lq):
    result = ValidatingBackend(Smooth(size=(192, 192))).restore(RestoreRequest(lq, item_id="a"))
    assert result.image.size == (96, 96)
    assert result.metadata == {"output_size": [192, 192], "resized_to_input": [96, 96]}
    plan = FaultPlan(garbage=1.0)
    with pytest.raises(BadOutputError, match="backend returned bytes"):
        ValidatingBackend(FaultInjectingBackend(Smooth(), plan)).restore(RestoreRequest(lq, item_id="a"))


def test_cache_never_pays_twice_and_keys_on_pixels(lq, tmp_path):
    inner = Smooth()
    backend = CachedBackend(AccountingBackend(inner), tmp_path / "cache")
    first = backend.restore(RestoreRequest(lq, "fix", 1, "a"))
    second = backend.restore(RestoreRequest(lq.copy(), "fix", 1, "a"))
    assert inner.calls == 1 and backend.hits == 1 and second.metadata["cache"] == "hit"
    assert first.image.tobytes() == second.image.tobytes()
    backend.restore(RestoreRequest(lq, "fix", 2, "a"))  # another seed is another call
    backend.restore(RestoreRequest(lq, "other", 1, "a"))  # another prompt too
    assert inner.calls == 3
    assert cache_key("b", "m", "p", lq, 1) != cache_key("b", "m", "p", lq.rotate(90), 1)
    again = CachedBackend(Smooth(), tmp_path / "cache")  # a new process, same cache folder
    again.restore(RestoreRequest(lq, "fix", 1, "a"))
    assert again.inner.calls == 0


def test_accounting_sums_usage(lq):
    backend = AccountingBackend(Smooth())
    for _ in range(3):
        backend.restore(RestoreRequest(lq))
    assert backend.usage.calls == 3 and backend.usage.cost_usd == pytest.approx(0.12)


def test_fault_injector_with_full_stack_loses_nothing(lq, tmp_path):
    plan = FaultPlan(rate_limit=0.15, server_error=0.1, timeout=0.05, garbage=0.05, wrong_size=0.1, seed=3)
    inner = Smooth()
    backend = wrap(FaultInjectingBackend(inner, plan), cache_dir=tmp_path / "c", attempts=10, base_delay=0.0)
    images = {i: lq.rotate(i * 7) for i in range(30)}  # distinct content: distinct cache keys
    outputs = {}
    for i in range(30):
        outputs[i] = backend.restore(RestoreRequest(images[i], "p", 0, f"item{i}"))
    assert all(o.image.size == lq.size for o in outputs.values())
    assert sum(plan.counts.values()) >= 8  # faults were really injected
    assert {"rate_limit", "server_error", "timeout", "garbage", "wrong_size"} <= set(plan.counts)
    paid = inner.calls
    for i in range(30):  # a re-run pays for nothing
        backend.restore(RestoreRequest(images[i], "p", 0, f"item{i}"))
    assert inner.calls == paid
