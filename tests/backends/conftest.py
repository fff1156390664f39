"""Fake HTTP servers for the hosted-API backends (Gemini, OpenAI, HF Inference).

The real SDKs are pointed at a local ``ThreadingHTTPServer`` (127.0.0.1, random free port, one
background thread, shut down at teardown) through their ``base_url`` options. Each test installs a
``handler(request) -> Reply`` that answers in the provider's documented wire format; every request
is recorded (method, path, headers, body, parsed JSON or multipart form) for assertions.

Test modules run with ``--import-mode=importlib`` and cannot import each other, so everything
shared is exposed as fixtures: ``fake_server``, ``wire`` (wire-format builders and a reference
"restorer"), ``photo`` (a real ``skimage.data`` photo) and ``api_env`` (a clean environment with
fake API keys).
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import io
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image, ImageFilter

#: The fake API key every test uses; it must never show up in reprs, logs or metadata.
FAKE_KEY = "sk-FAKE-KEY-do-not-leak-7f3a9c"


@dataclass
class Recorded:
    """One request the fake server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any = None
    form: dict[str, Any] = field(default_factory=dict)  # multipart: name → str or (filename, ctype, bytes)


@dataclass
class Reply:
    """What the fake server answers: status, body, headers, and an optional delay before it."""

    status: int = 200
    body: bytes | str | dict | list = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, (dict, list)):
            return json.dumps(self.body).encode(), "application/json"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return self.body, "application/octet-stream"


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    form: dict[str, Any] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        payload = part.get_payload(decode=True) or b""
        form[name] = (filename, part.get_content_type(), payload) if filename else payload.decode()
    return form


class FakeServer:
    """A local HTTP server whose answers come from ``self.handler`` (set by the test)."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.handler: Callable[[Recorded], Reply] = lambda req: Reply(404, {"error": "no handler"})
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                rec = Recorded(self.command, self.path, headers, body)
                ctype = headers.get("content-type", "")
                if ctype.startswith("application/json") and body:
                    try:
                        rec.json = json.loads(body)
                    except ValueError:
                        rec.json = None
                elif ctype.startswith("multipart/form-data"):
                    rec.form = _parse_multipart(ctype, body)
                server.requests.append(rec)
                try:
                    reply = server.handler(rec)
                except Exception as exc:  # a broken test handler shows up as a 599 with the reason
                    reply = Reply(599, {"error": {"message": f"fake handler crashed: {exc!r}"}})
                if reply.delay and server._stop.wait(reply.delay):
                    return
                data, default_type = reply.encoded()
                try:
                    self.send_response(reply.status)
                    hdrs = {"Content-Type": default_type, **reply.headers}
                    for key, value in hdrs.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

            do_POST = _handle
            do_GET = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-api", daemon=True
        )
        self._thread.start()

    def respond(
        self, status: int = 200, body: Any = b"", headers: dict[str, str] | None = None, delay: float = 0.0
    ) -> None:
        """Answer every request with the same reply."""
        reply = Reply(status, body, dict(headers or {}), delay)
        self.handler = lambda req: reply

    @property
    def last(self) -> Recorded:
        assert self.requests, "the fake server received no request"
        return self.requests[-1]

    def close(self) -> None:
        self._stop.set()  # wake handlers sleeping in a timeout test
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def fake_server():
    """A running :class:`FakeServer` on 127.0.0.1 (random port), shut down after the test."""
    server = FakeServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def api_env(monkeypatch: pytest.MonkeyPatch) -> str:
    """A clean environment: fake keys for every provider, no proxy / Vertex / base-URL overrides."""
    for var in (
        "GOOGLE_API_KEY",
        "GOOGLE_GENAI_USE_VERTEXAI",
        "GOOGLE_GENAI_USE_ENTERPRISE",
        "GOOGLE_CLOUD_PROJECT",
        "GOOGLE_GENAI_API_VERSION",
        "OPENAI_BASE_URL",
        "OPENAI_ORG_ID",
        "OPENAI_PROJECT_ID",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("GEMINI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("HF_TOKEN", FAKE_KEY)
    return FAKE_KEY


@pytest.fixture(scope="session")
def photo() -> Image.Image:
    """A real photo (``skimage.data.astronaut``), 96×96 RGB so the tests stay fast."""
    data = pytest.importorskip("skimage.data")
    img = Image.fromarray(data.astronaut()).convert("RGB")
    return img.resize((96, 96), Image.Resampling.LANCZOS)


class Wire:
    """Wire-format builders for the fake providers and the fake "restoration" they perform."""

    key = FAKE_KEY
    Reply = Reply

    # ------------------------------------------------------------------ images
    @staticmethod
    def png(img: Image.Image) -> bytes:
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        return buf.getvalue()

    @staticmethod
    def restore(img: Image.Image) -> Image.Image:
        """What every fake MFM does to the image it received: a sharpen (a visible change)."""
        return img.convert("RGB").filter(ImageFilter.SHARPEN)

    @classmethod
    def restore_bytes(cls, data: bytes) -> bytes:
        return cls.png(cls.restore(Image.open(io.BytesIO(data))))

    @staticmethod
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    @staticmethod
    def b64decode(text: str) -> bytes:
        """Standard or URL-safe base64 (google-genai sends URL-safe), padding optional — like the API."""
        text = text.replace("-", "+").replace("_", "/")
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)

    # ------------------------------------------------------------------ Gemini
    @staticmethod
    def gemini_parts(req: Recorded) -> list[dict[str, Any]]:
        return [p for c in req.json["contents"] for p in c["parts"]]

    @classmethod
    def gemini_image_in(cls, req: Recorded) -> bytes:
        parts = [p for p in cls.gemini_parts(req) if "inlineData" in p]
        assert parts, "no inline image in the Gemini request"
        return Wire.b64decode(parts[0]["inlineData"]["data"])

    @staticmethod
    def gemini_response(
        parts: list[dict[str, Any]],
        *,
        finish: str = "STOP",
        usage: dict[str, int] | None = None,
        prompt_feedback: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "candidates": [
                {"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}
            ],
            "usageMetadata": usage
            or {"promptTokenCount": 270, "candidatesTokenCount": 1290, "totalTokenCount": 1560},
            "modelVersion": "fake-model-001",
            "responseId": "resp-123",
        }
        if not parts:
            body["candidates"][0].pop("content")
        if prompt_feedback is not None:
            body = {"promptFeedback": prompt_feedback, "usageMetadata": body["usageMetadata"]}
        return body

    @staticmethod
    def gemini_image_part(data: bytes, mime: str = "image/png") -> dict[str, Any]:
        return {"inlineData": {"mimeType": mime, "data": base64.b64encode(data).decode()}}

    @staticmethod
    def gemini_error(code: int, status: str, message: str, details: list | None = None) -> dict[str, Any]:
        return {"error": {"code": code, "message": message, "status": status, "details": details or []}}

    # ------------------------------------------------------------------ OpenAI
    @staticmethod
    def openai_error(message: str, type_: str, code: str | None = None) -> dict[str, Any]:
        return {"error": {"message": message, "type": type_, "param": None, "code": code}}

    @staticmethod
    def openai_images(b64: str | None, usage: dict[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "created": 1_700_000_000,
            "data": [{"b64_json": b64}] if b64 is not None else [],
        }
        if usage is not None:
            body["usage"] = usage
        return body

    @staticmethod
    def chat_completion(content: str | None, *, finish: str = "stop", refusal: str | None = None) -> dict:
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": "fake-vlm",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": refusal},
                    "finish_reason": finish,
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": 812, "completion_tokens": 95, "total_tokens": 907},
        }

    @staticmethod
    def chat_images(req: Recorded) -> list[bytes]:
        """Decoded base64 data-URL images of a chat.completions request."""
        found = []
        for message in req.json["messages"]:
            content = message["content"]
            if isinstance(content, str):
                continue
            for part in content:
                if part.get("type") == "image_url":
                    url = part["image_url"]["url"]
                    assert url.startswith("data:image/png;base64,")
                    found.append(base64.b64decode(url.split(",", 1)[1]))
        return found

    # ------------------------------------------------------------------ VLM answers
    @staticmethod
    def prompt_answer() -> dict[str, Any]:
        return {
            "degradations": ["strong Gaussian noise", "mild blur"],
            "preserve": ["the astronaut's face", "the flag", "framing"],
            "prompt": "Remove the strong noise and mild blur; keep the astronaut, the flag and the framing.",
        }

    @staticmethod
    def verdict_answer(failing: tuple[str, ...] = ("color_consistency",)) -> dict[str, Any]:
        from ggt_hf.constants import JUDGE_ASPECTS

        answer: dict[str, Any] = {
            a: {"pass": a not in failing, "reason": f"{a} looks {'wrong' if a in failing else 'fine'}"}
            for a in JUDGE_ASPECTS
        }
        answer["feedback"] = "Keep the original colours of the suit; do not warm the white balance."
        return answer


@pytest.fixture(scope="session")
def wire() -> type[Wire]:
    """The :class:`Wire` helpers (builders of each provider's wire format)."""
    return Wire
