"""Shared fixtures of the metric tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run the module's tests on one torch thread: small float64 convolutions (pyiqa's SSIM) and
    the kernels under test are fastest, and steadiest, that way on a shared, loaded machine."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
