"""No network, no waiting: the Hub is probed once per process, metrics are created once per process
and a failed one is not retried; ``ggt metrics list`` never touches the network."""

from __future__ import annotations

import contextlib
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


# ------------------------------------------------------------- hosted APIs: probed before any work


class _Listener:
    """A TCP server on 127.0.0.1 that keeps what each connection sent; ``reply`` (bytes, or ``None``
    to send nothing) is answered once the client sent a blank line or closed its side."""

    def __init__(self, reply: bytes | None = None, delay: float = 0.0) -> None:
        import threading

        self.reply, self.received, self.delay = reply, [], delay
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)  # so the thread sees close() soon
        self.open = True
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.open:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:  # closed
                return
            with conn:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.received.append(data)
                time.sleep(self.delay)
                if self.reply is not None:
                    with contextlib.suppress(OSError):  # the prober may have given up
                        conn.sendall(self.reply)

    def close(self, connections: int = 1) -> list[bytes]:
        """What each connection sent, after waiting (5 s at most) for ``connections`` of them."""
        deadline = time.monotonic() + 5
        while len(self.received) < connections and time.monotonic() < deadline:
            time.sleep(0.01)
        self.open = False
        self.thread.join(5)
        self.sock.close()
        return self.received


@pytest.fixture
def no_proxy(monkeypatch):
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    network.reset()
    yield
    network.reset()


def _endpoint(url: str, setting: str = "the base_url option") -> network.ApiEndpoint:
    return network.ApiEndpoint("the Gemini API", url, setting)


def test_reachable_api_host_is_connected_to_and_sent_nothing(no_proxy):
    """A reachable host costs one TCP connect: no request, so no key and no paid call."""
    server = _Listener()
    network.require_apis([("config.backend ('gemini')", _endpoint(f"{server.url}/v1beta"))])
    assert server.close() == [b""]  # one connection, not a byte sent


@pytest.mark.parametrize(
    ("url", "why"),
    [
        (None, "cannot connect to 127.0.0.1:{port} (Connection refused)"),
        ("http://nonexistent.invalid/", "cannot resolve nonexistent.invalid"),
    ],
    ids=["closed-port", "unresolvable-name"],
)
def test_unreachable_api_host_is_named_with_its_setting(no_proxy, url, why):
    from ggt_hf.errors import NetworkUnavailableError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = url or f"http://127.0.0.1:{port}"
    with pytest.raises(NetworkUnavailableError) as caught:
        network.require_apis(
            [("config.backend (backend 'gemini')", _endpoint(url, "GOOGLE_GEMINI_BASE_URL"))]
        )
    message = str(caught.value)
    assert message.startswith("config.backend (backend 'gemini'): needs the Gemini API at " + url)
    assert "(GOOGLE_GEMINI_BASE_URL)" in message and why.format(port=port) in message


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (
            b"",
            "the proxy 127.0.0.1:{port} dropped the connection instead of opening a tunnel to api.example.invalid:443",
        ),
        (
            b"HTTP/1.1 502 Bad Gateway\r\n\r\n",
            "refused a tunnel to api.example.invalid:443 (HTTP/1.1 502 Bad Gateway)",
        ),
    ],
    ids=["drops", "bad-gateway"],
)
def test_proxy_that_cannot_reach_the_api_is_caught(no_proxy, monkeypatch, reply, why):
    """A proxy that accepts the TCP connection but drops it (or cannot reach the host) is unreachable too."""
    proxy = _Listener(reply)
    monkeypatch.setenv("HTTPS_PROXY", f"http://user:p%40ss@127.0.0.1:{proxy.port}")
    reason = network.host_unreachable("https://api.example.invalid/v1")
    sent = proxy.close()
    assert reason is not None and why.format(port=proxy.port) in reason
    assert sent[0].startswith(b"CONNECT api.example.invalid:443 HTTP/1.1\r\n")
    assert b"Proxy-Authorization: Basic dXNlcjpwQHNz\r\n" in sent[0]  # the proxy's own credentials only


def test_proxy_that_opens_the_tunnel_is_reachable(no_proxy, monkeypatch):
    proxy = _Listener(b"HTTP/1.1 200 Connection established\r\n\r\n")
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    network.require_apis([("config.backend", _endpoint("https://api.example.invalid/v1"))])
    assert len(proxy.close()) == 1


@pytest.mark.parametrize(("tunnel_timeout", "reachable"), [(5.0, True), (0.3, False)])
def test_a_proxy_gets_longer_than_a_connect_to_open_its_tunnel(
    no_proxy, monkeypatch, tunnel_timeout, reachable
):
    """The proxy reaches the host before it answers CONNECT: a working proxy slower than the plain
    connect timeout must not read as "no network"; one that never answers is named."""
    monkeypatch.setattr(network, "PROBE_TIMEOUT", 0.2)
    monkeypatch.setattr(network, "TUNNEL_TIMEOUT", tunnel_timeout)
    proxy = _Listener(b"HTTP/1.1 200 Connection established\r\n\r\n", delay=1.0)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    reason = network.host_unreachable("https://api.example.invalid/v1")
    proxy.close()
    if reachable:
        assert reason is None
    else:
        assert reason == (
            f"the proxy 127.0.0.1:{proxy.port} did not open a tunnel to api.example.invalid:443 within 0.3 s"
        )
