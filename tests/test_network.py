"""No network, no waiting: the Hub is probed once per process, metrics are created once per process
and a failed one is not retried; ``ggt metrics list`` never touches the network."""

from __future__ import annotations

import socket
import time

import pytest

from ggt_hf.metrics import weights
from ggt_hf.metrics.weights import MissingWeightsError, create_pyiqa_metric
from ggt_hf.runtime import network


@pytest.fixture
def closed_endpoint(monkeypatch):
    """HF_ENDPOINT on a local port where nothing listens, HF_HUB_OFFLINE unset (restored after)."""
    from huggingface_hub import constants

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for var in ("HF_HUB_OFFLINE", "GGT_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "")  # so monkeypatch restores the variable the probe sets
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    network.reset()
    yield port
    network.reset()


def test_unreachable_hub_switches_offline_once(closed_endpoint, monkeypatch, caplog):
    from huggingface_hub import constants

    calls = []
    real = socket.create_connection
    monkeypatch.setattr(network.socket, "create_connection", lambda *a, **k: calls.append(a) or real(*a, **k))
    reason = network.hub_offline()
    assert reason is not None and f"127.0.0.1:{closed_endpoint}" in reason
    assert constants.HF_HUB_OFFLINE is True  # huggingface_hub now answers from the cache at once
    assert network.hub_offline() == reason and len(calls) == 1  # probed once per process
    assert sum("unreachable" in r.message for r in caplog.records) == 1


def test_env_offline_needs_no_probe(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    network.reset()
    monkeypatch.setattr(network.socket, "create_connection", lambda *a, **k: pytest.fail("probed"))
    assert network.hub_offline() == "HF_HUB_OFFLINE is set"
    network.reset()


def test_reachable_host_is_not_offline(monkeypatch):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        network.reset()
        assert network.host_unreachable(f"http://127.0.0.1:{port}/x") is None
    network.reset()


def test_proxy_is_what_gets_probed(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert network._target("https://huggingface.co/x") == ("proxy.internal", 3128)
    monkeypatch.setenv("NO_PROXY", "huggingface.co")
    assert network._target("https://huggingface.co/x") == ("huggingface.co", 443)


def test_failed_metric_is_remembered_not_retried(monkeypatch):
    weights.forget_created()
    calls = []

    def failing(name, pyiqa_id, device, **options):
        calls.append(name)
        time.sleep(0.05)
        raise MissingWeightsError(name, "weights file 'x.pth' is not on disk")

    monkeypatch.setattr(weights, "_create", failing)
    for _ in range(3):  # e.g. three items' QC retries
        with pytest.raises(MissingWeightsError, match="not on disk"):
            create_pyiqa_metric("musiq", "musiq", "cpu")
    assert calls == ["musiq"]
    weights.forget_created()


def test_metric_model_created_once_and_shared(monkeypatch):
    weights.forget_created()
    made = []
    monkeypatch.setattr(weights, "_create", lambda *a, **k: made.append(a) or object())
    first = create_pyiqa_metric("piqe", "piqe", "cpu")
    assert create_pyiqa_metric("piqe", "piqe", "cpu") is first and len(made) == 1
    assert create_pyiqa_metric("piqe", "piqe", "cpu", test_y_channel=True) is not first
    weights.forget_created()


def test_download_to_unreachable_host_is_refused_without_waiting(closed_endpoint):
    """pyiqa's weight download from a host that does not answer fails at once, naming the file."""
    url = f"http://127.0.0.1:{closed_endpoint}/weights/fake.pth"
    attempts: list = []
    with weights._watch_downloads(attempts):
        import torch.hub

        start = time.monotonic()
        with pytest.raises(weights._OfflineDownload):
            torch.hub.download_url_to_file(url, "/nonexistent/fake.pth")
    assert time.monotonic() - start < 5 and attempts[0].url == url


@pytest.mark.slow
def test_metrics_list_without_network_does_not_retry(closed_endpoint, tmp_path):
    """``ggt metrics list`` with no network and no HF_HUB_OFFLINE: the disk only, no Hub retries."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("HF_HUB_OFFLINE", None)
    done = subprocess.run(
        [sys.executable, "-m", "ggt_hf.cli", "metrics", "list"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "Retrying" not in done.stderr and "| psnr | psnr | FR | higher | fidelity | ready |" in done.stdout
