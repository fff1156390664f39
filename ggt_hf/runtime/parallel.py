"""Small concurrency helpers shared by the stages."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def bounded_map(pool: Executor, fn: Callable[[T], R], items: Iterable[T], window: int) -> Iterator[R]:
    """Like ``pool.map`` but with at most ``window`` tasks in flight, results in input order.

    ``Executor.map`` submits every task up front, so a slow consumer lets finished results pile
    up in memory; this keeps memory bounded by ``window`` results whatever the input size.
    """
    pending: deque[Future[R]] = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= max(1, window):
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def progress_disabled(progress: bool | None) -> bool | None:
    """Map a ``progress`` flag to tqdm's ``disable``: True shows, False hides, None = only on a TTY."""
    return None if progress is None else not progress
