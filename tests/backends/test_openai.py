"""OpenAIImageBackend (``POST /v1/images/edits``) and OpenAIVLM (``POST /v1/chat/completions``)
through the real openai SDK against a local fake of the API (fixtures in conftest.py)."""

from __future__ import annotations

import base64
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
from ggt_hf.backends.openai_images import OpenAIImageBackend
from ggt_hf.backends.openai_vlm import OpenAIVLM
from ggt_hf.constants import JUDGE_ASPECTS
from ggt_hf.errors import MissingExtraError

pytest.importorskip("openai")

USAGE = {
    "input_tokens": 323,
    "output_tokens": 4160,
    "total_tokens": 4483,
    "input_tokens_details": {"image_tokens": 258, "text_tokens": 65},
}


def pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"))


@pytest.fixture
def backend(api_env, fake_server):
    return OpenAIImageBackend(base_url=f"{fake_server.url}/v1", timeout=5)


@pytest.fixture
def vlm(api_env, fake_server):
    return OpenAIVLM(model_id="gpt-4.1", base_url=f"{fake_server.url}/v1", timeout=5)


@pytest.fixture
def gpt_image(fake_server, wire):
    """Install a fake GPT-Image edit endpoint that sharpens the uploaded image."""

    def handler(req):
        if req.path != "/v1/images/edits" or "image" not in req.form:
            return wire.Reply(400, wire.openai_error("bad fake request", "invalid_request_error"))
        _, ctype, data = req.form["image"]
        assert ctype == "image/png"
        return wire.Reply(200, wire.openai_images(wire.b64(wire.restore_bytes(data)), usage=USAGE))

    fake_server.handler = handler
    return handler


def restore(backend, photo, prompt="Remove the noise; keep the astronaut.", seed=5):
    return backend.restore(RestoreRequest(photo, prompt, seed=seed, item_id="astro-1"))


# ----------------------------------------------------------------------------- images: success


def test_edit_round_trips_a_real_photo(backend, fake_server, wire, photo, gpt_image):
    result = restore(backend, photo)

    req = fake_server.last
    assert req.method == "POST" and req.path == "/v1/images/edits"
    assert req.headers["authorization"] == f"Bearer {wire.key}"
    assert req.headers["content-type"].startswith("multipart/form-data")
    assert req.form["model"] == "gpt-image-1"
    assert req.form["prompt"] == "Remove the noise; keep the astronaut."
    assert req.form["size"] == "auto" and req.form["quality"] == "high" and req.form["n"] == "1"
    filename, ctype, data = req.form["image"]
    assert (filename, ctype) == ("lq.png", "image/png")
    assert np.array_equal(pixels(Image.open(io.BytesIO(data))), pixels(photo))

    assert result.image.size == photo.size and result.image.mode == "RGB"
    assert np.array_equal(pixels(result.image), pixels(wire.restore(photo)))
    assert result.backend == "openai" and result.model_id == "gpt-image-1"
    assert (result.usage.calls, result.usage.images) == (1, 1)
    assert (result.usage.input_tokens, result.usage.output_tokens) == (323, 4160)
    assert result.metadata["seed"] == 5  # recorded only: the images API has no seed
    assert isinstance(backend, ImageBackend)


def test_configurable_model_and_options(api_env, fake_server, wire, photo, gpt_image):
    backend = create_backend(
        "openai",
        model_id="gpt-image-2",
        base_url=f"{fake_server.url}/v1",
        quality="medium",
        input_fidelity="high",
    )
    restore(backend, photo)
    form = fake_server.last.form
    assert form["model"] == "gpt-image-2" and form["quality"] == "medium" and form["input_fidelity"] == "high"


def test_usage_absent_still_counts_the_call(backend, fake_server, wire, photo):
    fake_server.respond(200, wire.openai_images(wire.b64(wire.png(photo))))
    result = restore(backend, photo)
    assert (result.usage.calls, result.usage.images, result.usage.input_tokens) == (1, 1, 0)


# ----------------------------------------------------------------------------- images: transient


@pytest.mark.parametrize(
    "headers", [{"Retry-After": "2"}, {"retry-after-ms": "2000"}], ids=["retry-after", "retry-after-ms"]
)
def test_429_is_transient_with_retry_after(backend, fake_server, wire, photo, headers):
    body = wire.openai_error("Rate limit reached for gpt-image-1", "requests", "rate_limit_exceeded")
    fake_server.respond(429, body, headers)
    with pytest.raises(BackendTransient) as err:
        restore(backend, photo)
    assert err.value.retry_after == 2.0 and "rate_limit_exceeded" in err.value.reason
    assert len(fake_server.requests) == 1  # max_retries=0: no SDK-internal retry


def test_insufficient_quota_429_is_refused(backend, fake_server, wire, photo):
    fake_server.respond(
        429, wire.openai_error("You exceeded your quota", "insufficient_quota", "insufficient_quota")
    )
    with pytest.raises(BackendRefused) as err:
        restore(backend, photo)
    assert not err.value.safety


@pytest.mark.parametrize("code", [500, 502, 503])
def test_server_errors_are_transient(backend, fake_server, wire, photo, code):
    fake_server.respond(code, wire.openai_error("The server had an error", "server_error"))
    with pytest.raises(BackendTransient) as err:
        restore(backend, photo)
    assert str(code) in err.value.reason
    assert len(fake_server.requests) == 1


def test_timeout_is_transient(api_env, fake_server, wire, photo):
    backend = OpenAIImageBackend(base_url=f"{fake_server.url}/v1", timeout=0.3)
    fake_server.respond(200, wire.openai_images(None), delay=3)
    with pytest.raises(BackendTransient, match="timed out"):
        restore(backend, photo)


def test_connection_failure_is_transient(api_env, photo):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = OpenAIImageBackend(base_url=f"http://127.0.0.1:{port}/v1", timeout=2)
    with pytest.raises(BackendTransient, match="connection failed"):
        restore(backend, photo)


# ----------------------------------------------------------------------------- images: refused


@pytest.mark.parametrize("code", ["moderation_blocked", "content_policy_violation"])
def test_safety_system_rejection_is_a_safety_refusal(backend, fake_server, wire, photo, code):
    message = "Your request was rejected as a result of our safety system."
    fake_server.respond(400, wire.openai_error(message, "image_generation_user_error", code))
    with pytest.raises(BackendRefused) as err:
        restore(backend, photo)
    assert err.value.safety is True and code in err.value.reason


@pytest.mark.parametrize(
    ("status", "type_", "code"),
    [
        (401, "invalid_request_error", "invalid_api_key"),
        (400, "invalid_request_error", "invalid_value"),
        (403, "invalid_request_error", None),
        (404, "invalid_request_error", "model_not_found"),
    ],
)
def test_client_errors_are_refused_not_safety(backend, fake_server, wire, photo, status, type_, code):
    fake_server.respond(
        status, wire.openai_error("Incorrect API key provided: sk-FAKE***7f3a9c.", type_, code)
    )
    with pytest.raises(BackendRefused) as err:
        restore(backend, photo)
    assert err.value.safety is False and str(status) in err.value.reason


# ----------------------------------------------------------------------------- images: bad output


@pytest.mark.parametrize(
    "body",
    [
        {"created": 1, "data": []},
        {"created": 1, "data": [{"url": "https://example.invalid/img.png"}]},
        {"created": 1, "data": [{"b64_json": ""}]},
        {"created": 1, "data": [{"b64_json": base64.b64encode(b"<html>not an image</html>").decode()}]},
        {"created": 1, "data": [{"b64_json": "%%% not base64 %%%"}]},
    ],
    ids=["no-data", "url-only", "empty", "garbage-bytes", "bad-base64"],
)
def test_unusable_output_is_bad_output(backend, fake_server, photo, body):
    fake_server.respond(200, body)
    with pytest.raises(BadOutputError) as err:
        restore(backend, photo)
    assert err.value.item == "astro-1"


# ----------------------------------------------------------------------------- VLM


def test_describe_returns_prompt_and_analysis(vlm, fake_server, wire, photo):
    fake_server.respond(200, wire.chat_completion(json.dumps(wire.prompt_answer())))
    result = vlm.describe(photo, instruction="List the degradations as JSON.", item_id="astro-2")

    assert result.prompt.startswith("Remove the strong noise")
    assert result.analysis["degradations"] == ["strong Gaussian noise", "mild blur"]
    assert result.analysis["preserve"][0] == "the astronaut's face"
    assert (result.usage.calls, result.usage.input_tokens, result.usage.output_tokens) == (1, 812, 95)
    req = fake_server.last
    assert req.path == "/v1/chat/completions"
    assert req.json["model"] == "gpt-4.1" and req.json["response_format"] == {"type": "json_object"}
    user = req.json["messages"][-1]["content"]
    assert user[0] == {"type": "text", "text": "List the degradations as JSON."}
    (sent,) = wire.chat_images(req)
    assert np.array_equal(pixels(Image.open(io.BytesIO(sent))), pixels(photo))
    assert "temperature" not in req.json  # not sent unless configured (reasoning models reject it)


def test_judge_returns_a_verdict_over_the_five_aspects(vlm, fake_server, wire, photo):
    answer = wire.verdict_answer(failing=("geometry_alignment", "object_consistency"))
    fake_server.respond(200, wire.chat_completion(json.dumps(answer)))
    verdict = vlm.judge(photo, wire.restore(photo))

    assert set(verdict.aspects) == set(JUDGE_ASPECTS)
    assert verdict.failed == ["object_consistency", "geometry_alignment"]
    assert verdict.feedback and verdict.reasons["restoration_quality"].endswith("fine")
    assert len(wire.chat_images(fake_server.last)) == 2
    assert isinstance(vlm, VLMClient)


@pytest.mark.parametrize(
    "content",
    ["{not json", "", None, "[1, 2]", json.dumps({"restoration_quality": {"pass": "maybe"}})],
    ids=["broken", "empty", "null", "list", "bad-aspects"],
)
def test_judge_malformed_json_is_bad_output(vlm, fake_server, wire, photo, content):
    fake_server.respond(200, wire.chat_completion(content))
    with pytest.raises(BadOutputError):
        vlm.judge(photo, photo, item_id="astro-5")


def test_vlm_refusal_and_content_filter_are_safety_refusals(vlm, fake_server, wire, photo):
    fake_server.respond(200, wire.chat_completion(None, refusal="I can't help with that."))
    with pytest.raises(BackendRefused) as err:
        vlm.describe(photo, instruction="JSON")
    assert err.value.safety
    fake_server.respond(200, wire.chat_completion(None, finish="content_filter"))
    with pytest.raises(BackendRefused) as err:
        vlm.judge(photo, photo)
    assert err.value.safety


def test_vlm_errors_map_like_images(vlm, fake_server, wire, photo):
    fake_server.respond(
        429, wire.openai_error("slow down", "requests", "rate_limit_exceeded"), {"Retry-After": "2"}
    )
    with pytest.raises(BackendTransient) as transient:
        vlm.describe(photo, instruction="JSON")
    assert transient.value.retry_after == 2.0
    fake_server.respond(401, wire.openai_error("bad key", "invalid_request_error", "invalid_api_key"))
    with pytest.raises(BackendRefused) as refused:
        vlm.judge(photo, photo)
    assert not refused.value.safety


# ----------------------------------------------------------------------------- key hygiene


def test_api_key_never_leaks(api_env, fake_server, wire, photo, gpt_image, caplog):
    caplog.set_level(logging.DEBUG)
    backend = create_backend("openai", base_url=f"{fake_server.url}/v1")
    vlm = create_vlm("openai", base_url=f"{fake_server.url}/v1")
    result = restore(backend, photo)
    fake_server.respond(401, wire.openai_error("bad key", "invalid_request_error", "invalid_api_key"))
    with pytest.raises(BackendRefused) as err:
        restore(backend, photo)

    assert wire.key not in repr(backend) and wire.key not in repr(vlm)
    for obj in (backend, vlm):  # not on any attribute (the SDK client holds it; its repr hides it)
        assert not [k for k, v in vars(obj).items() if wire.key in repr(v)]
    assert wire.key not in json.dumps(result.metadata) and wire.key not in str(err.value)
    assert "httpx2" in caplog.text or "openai" in caplog.text  # the SDK did log, just not the key
    assert wire.key not in caplog.text
    assert fake_server.requests[0].headers["authorization"] == f"Bearer {wire.key}"


def test_missing_key_and_missing_sdk(monkeypatch, api_env):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        OpenAIImageBackend()
    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(MissingExtraError, match=r"ggt-hf\[generate\]"):
        OpenAIVLM(api_key="x")


def test_retry_after_parsing_helpers():
    from ggt_hf.backends.http_status import parse_duration, parse_retry_after, retry_after_from_headers

    assert parse_retry_after("2") == 2.0 and parse_retry_after(" 1.5 ") == 1.5
    now = 1_445_412_478.0  # Wed, 21 Oct 2015 07:27:58 GMT
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 2.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now=now) == 0.0  # already past
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert retry_after_from_headers({"Retry-After": "7", "retry-after-ms": "2000"}) == 2.0
    assert parse_duration("2s") == 2.0 and parse_duration({"seconds": 1, "nanos": 500_000_000}) == 1.5
