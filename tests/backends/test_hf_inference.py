"""HFInferenceBackend through the real ``huggingface_hub.InferenceClient.image_to_image`` against a
local fake of the HF-Inference protocol (``POST {base}/models/{model_id}``, JSON
``{"inputs": <base64 image>, "parameters": {...}}`` in, raw image bytes out)."""

from __future__ import annotations

import io
import json
import logging

import numpy as np
import pytest
from PIL import Image

from ggt_hf.backends import create_backend
from ggt_hf.backends.base import (
    BackendRefused,
    BackendTransient,
    BadOutputError,
    ImageBackend,
    RestoreRequest,
)
from ggt_hf.backends.hf_inference import HFInferenceBackend

MODEL = "Qwen/Qwen-Image-Edit"


@pytest.fixture(autouse=True)
def hub_online(monkeypatch):
    """CI sets HF_HUB_OFFLINE=1 so nothing reaches the real Hub; these tests only talk to the local
    fake server on 127.0.0.1, so let huggingface_hub send requests (read at request time)."""
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)


def pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"))


@pytest.fixture
def backend(api_env, fake_server):
    return HFInferenceBackend(base_url=fake_server.url, timeout=5)


@pytest.fixture
def qwen_edit(fake_server, wire):
    """Install a fake HF-Inference image-to-image server that sharpens the received image."""

    def handler(req):
        if req.json is None or "inputs" not in req.json:
            return wire.Reply(400, {"error": "expected JSON with inputs"})
        data = wire.b64decode(req.json["inputs"])
        return wire.Reply(200, wire.restore_bytes(data), {"Content-Type": "image/png"})

    fake_server.handler = handler
    return handler


def restore(backend, photo, prompt="Remove the haze; keep every building.", seed=11):
    return backend.restore(RestoreRequest(photo, prompt, seed=seed, item_id="astro-1"))


def test_image_to_image_round_trips_a_real_photo(backend, fake_server, wire, photo, qwen_edit):
    result = restore(backend, photo)

    req = fake_server.last
    assert req.method == "POST" and req.path == f"/models/{MODEL}"  # the router's hf-inference layout
    assert req.headers["authorization"] == f"Bearer {wire.key}"
    assert req.headers["accept"] == "image/png"
    assert req.json["parameters"] == {"prompt": "Remove the haze; keep every building.", "seed": 11}
    sent = Image.open(io.BytesIO(wire.b64decode(req.json["inputs"])))
    assert sent.format == "PNG" and np.array_equal(pixels(sent), pixels(photo))

    assert result.image.size == photo.size and result.image.mode == "RGB"
    assert np.array_equal(pixels(result.image), pixels(wire.restore(photo)))
    assert (result.backend, result.model_id) == ("hf-inference", MODEL)
    assert (result.usage.calls, result.usage.images) == (1, 1)
    assert result.metadata == {"provider": "hf-inference", "seed": 11}
    assert isinstance(backend, ImageBackend)


def test_endpoint_url_is_used_verbatim_and_seed_can_be_withheld(api_env, fake_server, wire, photo, qwen_edit):
    backend = create_backend(
        "hf-inference", endpoint_url=f"{fake_server.url}/my-endpoint", send_seed=False, timeout=5
    )
    restore(backend, photo)
    assert fake_server.last.path == "/my-endpoint"
    assert fake_server.last.json["parameters"] == {"prompt": "Remove the haze; keep every building."}


def test_429_is_transient_with_retry_after(backend, fake_server, photo):
    fake_server.respond(429, {"error": "Rate limit reached. Please retry later."}, {"Retry-After": "2"})
    with pytest.raises(BackendTransient) as err:
        restore(backend, photo)
    assert err.value.retry_after == 2.0 and "429" in err.value.reason
    assert len(fake_server.requests) == 1


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_server_errors_are_transient(backend, fake_server, photo, code):
    fake_server.respond(code, {"error": "upstream failure"})
    with pytest.raises(BackendTransient) as err:
        restore(backend, photo)
    assert str(code) in err.value.reason


def test_model_loading_uses_estimated_time(backend, fake_server, photo):
    fake_server.respond(
        503, {"error": "Model Qwen/Qwen-Image-Edit is currently loading", "estimated_time": 2.0}
    )
    with pytest.raises(BackendTransient) as err:
        restore(backend, photo)
    assert err.value.retry_after == 2.0


def test_timeout_is_transient(api_env, fake_server, photo):
    backend = HFInferenceBackend(base_url=fake_server.url, timeout=0.3)
    fake_server.respond(200, b"", delay=3)
    with pytest.raises(BackendTransient, match="timed out"):
        restore(backend, photo)


def test_safety_filter_is_a_safety_refusal(backend, fake_server, photo):
    fake_server.respond(400, {"error": "NSFW content detected in the output; the safety checker blocked it."})
    with pytest.raises(BackendRefused) as err:
        restore(backend, photo)
    assert err.value.safety is True


@pytest.mark.parametrize("code", [400, 401, 403, 404])
def test_client_errors_are_refused_not_safety(backend, fake_server, photo, code):
    fake_server.respond(code, {"error": "Invalid credentials in Authorization header"})
    with pytest.raises(BackendRefused) as err:
        restore(backend, photo)
    assert err.value.safety is False and str(code) in err.value.reason


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x00garbage bytes, definitely not an image", "truncated-png"],
    ids=["empty", "garbage", "truncated-png"],
)
def test_unusable_output_is_bad_output(backend, fake_server, wire, photo, payload):
    if payload == "truncated-png":
        payload = wire.png(photo)[:300]
    fake_server.respond(200, payload, {"Content-Type": "image/png"})
    with pytest.raises(BadOutputError) as err:
        restore(backend, photo)
    assert err.value.item == "astro-1"


def test_token_never_leaks(api_env, fake_server, wire, photo, qwen_edit, caplog):
    caplog.set_level(logging.DEBUG)
    backend = HFInferenceBackend(base_url=fake_server.url, timeout=5)
    result = restore(backend, photo)
    fake_server.respond(401, {"error": "Invalid credentials"})
    with pytest.raises(BackendRefused) as err:
        restore(backend, photo)

    assert wire.key not in repr(backend)
    assert not [k for k, v in vars(backend).items() if wire.key in repr(v)]
    assert wire.key not in json.dumps(result.metadata) and wire.key not in str(err.value)
    assert wire.key not in caplog.text
    assert fake_server.requests[0].headers["authorization"] == f"Bearer {wire.key}"


def test_constructor_makes_no_network_call_and_rejects_two_urls(api_env):
    backend = HFInferenceBackend(provider="auto")  # the provider mapping is only fetched on restore()
    assert backend.provider == "auto" and backend.model_id == MODEL
    with pytest.raises(ValueError, match="either"):
        HFInferenceBackend(base_url="http://127.0.0.1:1", endpoint_url="http://127.0.0.1:2")
