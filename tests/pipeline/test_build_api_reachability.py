"""``ggt build`` with a hosted-API backend (Gemini, OpenAI, HF Inference) whose host cannot be
reached stops at once with exit 3, naming the component, the host and the setting that chose it,
before anything is ingested, written or sent; a reachable host is used as before (its mid-run
failures are retried as configured).

The commands run through ``ggt_hf.cli.main`` from a temporary working directory, as a user types
them; the SDKs talk to 127.0.0.1 only (a closed port, a local HTTP server) or to a name that cannot
resolve (``nonexistent.invalid``).
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from ggt_hf.cli import main
from ggt_hf.runtime import network
from ggt_hf.runtime.error_reporting import EXIT_FAILED, EXIT_NETWORK

KEY = "sk-FAKE-KEY-do-not-leak-81c2"
#: backend → (the variable its key is read from, the variable that sets its base URL, or None)
BACKENDS = {
    "gemini": ("GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL"),
    "openai": ("OPENAI_API_KEY", "OPENAI_BASE_URL"),
    "hf-inference": ("HF_TOKEN", None),
}


@pytest.fixture
def cwd(tmp_path: Path, photos, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with one real photo in ``photos/general``, no proxy, fresh probes."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos" / "general").mkdir(parents=True)
    photos[0].resize((96, 96)).save(tmp_path / "photos" / "general" / "a.png")
    for var in (
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "GOOGLE_GEMINI_BASE_URL",
        "OPENAI_BASE_URL",
    ):
        monkeypatch.delenv(var, raising=False)
    for key_var, _ in BACKENDS.values():
        monkeypatch.setenv(key_var, KEY)
    network.reset()
    yield tmp_path
    network.reset()


def _config(cwd: Path, backend: str, retries: int = 1, **options: str) -> str:
    """A small build config (fixed prompt, no judge, no metric filter) with ``backend``."""
    config = {
        "name": "t",
        "output": "runs/t",
        "sources": [{"path": "photos/", "license": "cc0-1.0"}],
        "backend": {"name": backend, "retries": retries, "base_delay": 0.0, "options": options},
        "prompt": "fixed",
        "vlm": {"name": "heuristic"},
        "qc": {"metric_thresholds": None, "judge": None, "geometry": False, "max_attempts": 1},
        "image_size": 64,
        "min_side": 32,
        "workers": 1,
    }
    (cwd / "build.yaml").write_text(json.dumps(config))  # JSON is YAML
    return "build.yaml"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_closed_port_stops_the_build_before_any_work(cwd, capsys, monkeypatch, backend) -> None:
    port = _closed_port()
    connects: list[tuple] = []
    original = socket.socket.connect

    def connect(self, address):
        if tuple(address[:2]) == ("127.0.0.1", port):
            connects.append(address)
        return original(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    config = _config(cwd, backend, retries=5, base_url=f"http://127.0.0.1:{port}")
    assert main(["build", config]) == EXIT_NETWORK
    err = capsys.readouterr().err
    line = _error_line(err)
    assert f"error: config.backend (backend '{backend}'): needs " in line
    assert f"at http://127.0.0.1:{port} (the base_url option)" in line
    assert f"cannot connect to 127.0.0.1:{port}" in line and KEY not in err
    assert len(connects) == 1  # the probe; the SDK and our retries never ran
    assert not (cwd / "runs").exists()  # nothing ingested, no run folder to resume or clean


@pytest.mark.parametrize("backend", ["gemini", "openai"])
def test_unresolvable_host_from_the_environment_is_named_with_its_variable(cwd, capsys, monkeypatch, backend):
    variable = BACKENDS[backend][1]
    monkeypatch.setenv(variable, "https://nonexistent.invalid/api")
    assert main(["build", _config(cwd, backend)]) == EXIT_NETWORK
    line = _error_line(capsys.readouterr().err)
    assert f"at https://nonexistent.invalid/api ({variable})" in line
    assert "cannot resolve nonexistent.invalid" in line
    assert not (cwd / "runs").exists()


def test_default_hosts_are_named_with_the_settings_that_change_them(cwd, capsys, monkeypatch) -> None:
    """No base URL: the provider's own host, and how to point the backend elsewhere."""
    monkeypatch.setenv("HF_ENDPOINT", "https://nonexistent.invalid")  # the Hub the SDK asks for the provider
    assert main(["build", _config(cwd, "hf-inference")]) == EXIT_NETWORK
    line = _error_line(capsys.readouterr().err)
    assert (
        "needs the Hugging Face Hub (provider mapping) at https://nonexistent.invalid (HF_ENDPOINT)" in line
    )


def test_prompt_writer_and_judge_hosts_are_probed_too(cwd, capsys, monkeypatch) -> None:
    """The VLM of an adaptive prompt and the judge call their API on every item as well."""
    port = _closed_port()
    config = json.loads((cwd / _config(cwd, "classical")).read_text())
    config["prompt"] = "adaptive:openai"
    config["vlm"] = {"name": "openai", "options": {"base_url": f"http://127.0.0.1:{port}/v1"}}
    (cwd / "build.yaml").write_text(json.dumps(config))
    assert main(["build", "build.yaml"]) == EXIT_NETWORK
    line = _error_line(capsys.readouterr().err)
    assert "config.vlm (VLM client 'openai'): needs the OpenAI API" in line and f"127.0.0.1:{port}" in line
    config["vlm"] = {"name": "heuristic"}
    config["prompt"], config["qc"]["judge"] = "fixed", "gemini"
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", f"http://127.0.0.1:{port}")
    (cwd / "build.yaml").write_text(json.dumps(config))
    assert main(["build", "build.yaml"]) == EXIT_NETWORK
    assert "config.qc.judge (VLM client 'gemini')" in _error_line(capsys.readouterr().err)


class _Overloaded(BaseHTTPRequestHandler):
    """Every Gemini call answers 503 UNAVAILABLE (a transient error the build retries)."""

    paths: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).paths.append(self.path)
        body = json.dumps({"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}).encode()
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_reachable_host_is_used_and_its_transient_errors_still_retried(cwd, capsys) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Overloaded)
    _Overloaded.paths = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = _config(cwd, "gemini", retries=2, base_url=f"http://127.0.0.1:{server.server_port}")
        assert main(["build", config]) == EXIT_FAILED  # the item failed: the server only said 503
    finally:
        server.shutdown()
        server.server_close()
    assert len(_Overloaded.paths) == 2 and all(":generateContent" in p for p in _Overloaded.paths)
    record = next((cwd / "runs" / "t" / "items").glob("*.json"))
    assert json.loads(record.read_text())["state"] == "failed"  # --retry-failed redoes it
    assert KEY not in capsys.readouterr().err
