"""Give memory a long batch job has freed back to the operating system.

Arrow's allocator (mimalloc or jemalloc) and glibc's ``malloc`` keep freed memory for reuse, so a
process that writes a 30 MB row group, then decodes images, then renders a preview holds the
high-water mark of each phase on top of the next. Releasing between phases keeps the peak near the
largest single phase (``benchmarks/bench_build_scale.py`` measures it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        return None


def release_freed_memory() -> None:
    """Return memory freed by Arrow's pool and by glibc's ``malloc`` to the OS (a no-op elsewhere)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
