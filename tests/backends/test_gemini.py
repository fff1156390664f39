"""GeminiImageBackend and GeminiVLM through the real google-genai SDK against a local fake of
``POST /v1beta/models/{model}:generateContent`` (fixtures in conftest.py)."""

from __future__ import annotations

import io
import json
import logging
import sys

import numpy as np
import pytest
from PIL import Image

from ggt_hf.backends import create_backend, create_vlm
from ggt_hf.backends.base import (
    BackendRefused,
    BackendTransient,
    BadOutputError,
    ImageBackend,
    RestoreRequest,
    VLMClient,
)
from ggt_hf.backends.gemini import GeminiImageBackend, GeminiVLM
from ggt_hf.constants import JUDGE_ASPECTS
from ggt_hf.errors import MissingExtraError

pytest.importorskip("google.genai")

MODEL = "gemini-3-pro-image-preview"
PATH = f"/v1beta/models/{MODEL}:generateContent"
RETRY_INFO = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}


def pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"))


@pytest.fixture
def backend(api_env, fake_server):
    return GeminiImageBackend(base_url=fake_server.url, timeout=5)


@pytest.fixture
def vlm(api_env, fake_server):
    return GeminiVLM(model_id="gemini-3-pro-preview", base_url=fake_server.url, timeout=5)


@pytest.fixture
def nano_banana(fake_server, wire):
    """Install a fake Nano Banana: a thought image, a text part, then the restored image."""

    def handler(req):
        received = wire.gemini_image_in(req)
        thought = {**wire.gemini_image_part(wire.png(Image.new("RGB", (8, 8)))), "thought": True}
        parts = [thought, {"text": "Here is the restored photo."}]
        parts.append(wire.gemini_image_part(wire.restore_bytes(received)))
        usage = {"promptTokenCount": 560, "candidatesTokenCount": 1120, "thoughtsTokenCount": 200}
        return wire.Reply(200, wire.gemini_response(parts, usage=usage))

    fake_server.handler = handler
    return handler


def restore(backend, photo, prompt="Remove the noise; keep the astronaut.", seed=7):
    return backend.restore(RestoreRequest(photo, prompt, seed=seed, item_id="astro-1"))


# ----------------------------------------------------------------------------- success


def test_restore_round_trips_a_real_photo(backend, fake_server, wire, photo, nano_banana):
    result = restore(backend, photo)

    req = fake_server.last
    assert req.method == "POST" and req.path == PATH
    assert req.headers["x-goog-api-key"] == wire.key  # the key travels in a header, not the URL
    assert wire.key not in req.path
    texts = [p["text"] for p in wire.gemini_parts(req) if "text" in p]
    assert texts == ["Remove the noise; keep the astronaut."]
    sent = Image.open(io.BytesIO(wire.gemini_image_in(req)))
    assert sent.format == "PNG" and np.array_equal(pixels(sent), pixels(photo))
    config = req.json["generationConfig"]
    assert config["responseModalities"] == ["IMAGE"] and config["seed"] == 7

    # the final (non-thought) image is the server's restoration of exactly what it received
    assert result.image.mode == "RGB" and result.image.size == photo.size
    assert np.array_equal(pixels(result.image), pixels(wire.restore(photo)))
    assert result.backend == "gemini" and result.model_id == MODEL
    assert result.usage.calls == 1 and result.usage.images == 1
    assert result.usage.input_tokens == 560 and result.usage.output_tokens == 1320  # + thoughts
    assert result.metadata["finish_reason"] == "STOP" and result.metadata["seed"] == 7
    assert result.metadata["model_version"] == "fake-model-001"
    assert isinstance(backend, ImageBackend)
    json.dumps(result.metadata)  # the cache stores it as JSON


def test_missing_prompt_uses_the_fixed_restoration_prompt(backend, fake_server, wire, photo, nano_banana):
    result = backend.restore(RestoreRequest(photo, None, item_id="astro-2"))
    texts = [p["text"] for p in wire.gemini_parts(fake_server.last) if "text" in p]
    assert texts and texts[0].startswith("Restore this photo")
    assert result.metadata["default_prompt"] is True


def test_registry_builds_the_sdk_backends(api_env, fake_server):
    assert isinstance(create_backend("gemini", base_url=fake_server.url), GeminiImageBackend)
    assert isinstance(create_vlm("gemini", base_url=fake_server.url), VLMClient)


# ----------------------------------------------------------------------------- transient


@pytest.mark.parametrize("where", ["header", "retry_info"])
def test_429_is_transient_with_retry_after(backend, fake_server, wire, photo, where):
    details = [RETRY_INFO] if where == "retry_info" else []
    headers = {"Retry-After": "2"} if where == "header" else {}
    body = wire.gemini_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted", details)
    fake_server.respond(429, body, headers)
    with pytest.raises(BackendTransient) as err:
        restore(backend, photo)
    assert err.value.retry_after == 2.0
    assert err.value.item == "astro-1" and "429" in err.value.reason
    assert len(fake_server.requests) == 1  # the SDK's own retries are off


@pytest.mark.parametrize(
    ("code", "status"), [(500, "INTERNAL"), (503, "UNAVAILABLE"), (504, "DEADLINE_EXCEEDED")]
)
def test_server_errors_are_transient(backend, fake_server, wire, photo, code, status):
    fake_server.respond(code, wire.gemini_error(code, status, "try again later"))
    with pytest.raises(BackendTransient) as err:
        restore(backend, photo)
    assert str(code) in err.value.reason and err.value.retry_after is None
    assert len(fake_server.requests) == 1


def test_timeout_is_transient(api_env, fake_server, wire, photo):
    backend = GeminiImageBackend(base_url=fake_server.url, timeout=0.3)
    fake_server.respond(200, wire.gemini_response([]), delay=3)
    with pytest.raises(BackendTransient, match="timed out"):
        restore(backend, photo)


def test_connection_refused_is_transient(api_env, photo):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = GeminiImageBackend(base_url=f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(BackendTransient, match="connection failed"):
        restore(backend, photo)


# ----------------------------------------------------------------------------- refused


@pytest.mark.parametrize("finish", ["IMAGE_SAFETY", "SAFETY", "PROHIBITED_CONTENT"])
def test_safety_finish_reason_is_a_safety_refusal(backend, fake_server, wire, photo, finish):
    fake_server.respond(200, wire.gemini_response([], finish=finish))
    with pytest.raises(BackendRefused) as err:
        restore(backend, photo)
    assert err.value.safety is True and finish in err.value.reason


def test_blocked_prompt_is_a_safety_refusal(backend, fake_server, wire, photo):
    fake_server.respond(200, wire.gemini_response([], prompt_feedback={"blockReason": "PROHIBITED_CONTENT"}))
    with pytest.raises(BackendRefused) as err:
        restore(backend, photo)
    assert err.value.safety is True and "PROHIBITED_CONTENT" in err.value.reason


@pytest.mark.parametrize(
    ("code", "status"),
    [(400, "INVALID_ARGUMENT"), (401, "UNAUTHENTICATED"), (403, "PERMISSION_DENIED"), (404, "NOT_FOUND")],
)
def test_client_errors_are_refused_not_safety(backend, fake_server, wire, photo, code, status):
    fake_server.respond(
        code, wire.gemini_error(code, status, "API key not valid. Please pass a valid API key.")
    )
    with pytest.raises(BackendRefused) as err:
        restore(backend, photo)
    assert err.value.safety is False and str(code) in err.value.reason and status in err.value.reason


# ----------------------------------------------------------------------------- bad output


@pytest.mark.parametrize(
    "parts",
    [
        [{"text": "I cannot edit images today."}],  # no image at all
        [{"inlineData": {"mimeType": "image/png", "data": ""}}],  # empty payload
        [{"inlineData": {"mimeType": "image/png", "data": "R0FSQkFHRSBHQVJCQUdF"}}],  # "GARBAGE GARBAGE"
        [{"inlineData": {"mimeType": "image/png", "data": "!!not base64!!"}}],  # unparseable response
    ],
    ids=["text-only", "empty", "garbage-bytes", "bad-base64"],
)
def test_unusable_output_is_bad_output(backend, fake_server, wire, photo, parts):
    fake_server.respond(200, wire.gemini_response(parts, finish="STOP"))
    with pytest.raises(BadOutputError) as err:
        restore(backend, photo)
    assert err.value.item == "astro-1"


# ----------------------------------------------------------------------------- VLM


def test_describe_returns_prompt_and_analysis(vlm, fake_server, wire, photo):
    fake_server.respond(200, wire.gemini_response([{"text": json.dumps(wire.prompt_answer())}]))
    result = vlm.describe(photo, instruction="Describe the degradations as JSON.", item_id="astro-3")

    assert result.prompt.startswith("Remove the strong noise")
    assert result.analysis == {
        "degradations": ["strong Gaussian noise", "mild blur"],
        "preserve": ["the astronaut's face", "the flag", "framing"],
    }
    assert result.usage.calls == 1 and result.usage.input_tokens == 270
    req = fake_server.last
    assert req.path == "/v1beta/models/gemini-3-pro-preview:generateContent"
    config = req.json["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert set(config["responseJsonSchema"]["required"]) == {"degradations", "preserve", "prompt"}
    texts = [p["text"] for p in wire.gemini_parts(req) if "text" in p]
    assert texts[0].startswith("Describe the degradations as JSON.")
    assert np.array_equal(pixels(Image.open(io.BytesIO(wire.gemini_image_in(req)))), pixels(photo))


def test_judge_returns_a_verdict_over_the_five_aspects(vlm, fake_server, wire, photo):
    fake_server.respond(200, wire.gemini_response([{"text": json.dumps(wire.verdict_answer())}]))
    verdict = vlm.judge(photo, wire.restore(photo), prompt="Remove the noise.")

    assert set(verdict.aspects) == set(JUDGE_ASPECTS)
    assert verdict.failed == ["color_consistency"] and not verdict.success
    assert verdict.reasons["color_consistency"] == "color_consistency looks wrong"
    assert verdict.feedback and "colours" in verdict.feedback
    req = fake_server.last
    assert sum("inlineData" in p for p in wire.gemini_parts(req)) == 2
    assert any("Remove the noise." in p.get("text", "") for p in wire.gemini_parts(req))
    assert set(req.json["generationConfig"]["responseJsonSchema"]["required"]) >= set(JUDGE_ASPECTS)
    assert isinstance(vlm, VLMClient)


@pytest.mark.parametrize(
    "text",
    ['{"degradations": ["noise"], "prompt": ', "not json at all", '["a", "list"]', '{"degradations": []}'],
    ids=["truncated", "prose", "list", "no-prompt"],
)
def test_describe_malformed_json_is_bad_output(vlm, fake_server, wire, photo, text):
    fake_server.respond(200, wire.gemini_response([{"text": text}]))
    with pytest.raises(BadOutputError) as err:
        vlm.describe(photo, instruction="JSON please", item_id="astro-4")
    assert err.value.item == "astro-4"


def test_judge_missing_aspect_is_bad_output(vlm, fake_server, wire, photo):
    answer = wire.verdict_answer()
    del answer["geometry_alignment"]
    fake_server.respond(200, wire.gemini_response([{"text": json.dumps(answer)}]))
    with pytest.raises(BadOutputError, match="geometry_alignment"):
        vlm.judge(photo, photo)


def test_vlm_safety_and_rate_limit(vlm, fake_server, wire, photo):
    fake_server.respond(200, wire.gemini_response([], finish="SAFETY"))
    with pytest.raises(BackendRefused) as refused:
        vlm.describe(photo, instruction="JSON please")
    assert refused.value.safety
    fake_server.respond(429, wire.gemini_error(429, "RESOURCE_EXHAUSTED", "slow down", [RETRY_INFO]))
    with pytest.raises(BackendTransient) as transient:
        vlm.judge(photo, photo)
    assert transient.value.retry_after == 2.0


# ----------------------------------------------------------------------------- key hygiene


def test_api_key_never_leaks(api_env, fake_server, wire, photo, nano_banana, caplog):
    caplog.set_level(logging.DEBUG)
    backend = GeminiImageBackend(base_url=fake_server.url, timeout=5)
    vlm = GeminiVLM(base_url=fake_server.url, timeout=5)
    result = restore(backend, photo)
    fake_server.respond(401, wire.gemini_error(401, "UNAUTHENTICATED", "API key not valid"))
    with pytest.raises(BackendRefused) as err:
        restore(backend, photo)

    assert wire.key not in repr(backend) and wire.key not in repr(vlm)
    for obj in (backend, vlm):  # not on any attribute (the SDK client holds it; its repr hides it)
        assert not [k for k, v in vars(obj).items() if wire.key in repr(v)]
    assert wire.key not in json.dumps(result.metadata) and wire.key not in str(err.value)
    assert wire.key not in caplog.text
    assert fake_server.requests[0].headers["x-goog-api-key"] == wire.key  # it was used, though


def test_missing_key_and_missing_sdk(monkeypatch, api_env):
    monkeypatch.delenv("GEMINI_API_KEY")
    with pytest.raises(ValueError, match="GEMINI_API_KEY"):
        GeminiImageBackend()
    monkeypatch.setenv("GOOGLE_API_KEY", "fallback-key")
    assert GeminiImageBackend().model_id == MODEL  # GOOGLE_API_KEY is the fallback
    monkeypatch.setitem(sys.modules, "google.genai", None)
    with pytest.raises(MissingExtraError, match=r"ggt-hf\[generate\]"):
        GeminiVLM()
