"""The host a build probes before any work (``api_endpoints``) is the host the real SDK then calls:
from the ``base_url`` option, from the SDK's environment variable, or the provider's default."""

from __future__ import annotations

import pytest

from ggt_hf.backends import (
    BackendTransient,
    RestoreRequest,
    api_endpoints,
    backend_class,
    create_backend,
    create_vlm,
    vlm_class,
)

pytest.importorskip("google.genai")
pytest.importorskip("openai")

#: backend → (the variable its SDK reads the base URL from, the path prefix its base URL includes)
ENV_BASE_URL = {"gemini": ("GOOGLE_GEMINI_BASE_URL", ""), "openai": ("OPENAI_BASE_URL", "/v1")}


@pytest.mark.parametrize("name", sorted(ENV_BASE_URL))
def test_the_probed_host_is_the_one_the_sdk_calls(api_env, fake_server, photo, monkeypatch, name):
    variable, prefix = ENV_BASE_URL[name]
    monkeypatch.setenv(variable, fake_server.url + prefix)
    (endpoint,) = api_endpoints(backend_class(name), {})
    assert (endpoint.url, endpoint.setting) == (fake_server.url + prefix, variable)
    assert api_endpoints(vlm_class(name), {}) == [endpoint]  # the VLM client of the same API
    fake_server.respond(503, {"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}})
    with pytest.raises(BackendTransient):
        create_backend(name, timeout=5).restore(RestoreRequest(photo, "restore", item_id="x"))
    with pytest.raises(BackendTransient):
        create_vlm(name, timeout=5).describe(photo, instruction="describe", item_id="x")
    assert len(fake_server.requests) == 2  # both went where the probe looked, no other host
    assert all(api_env not in r.path for r in fake_server.requests)


@pytest.mark.parametrize("name", sorted(ENV_BASE_URL))
def test_the_base_url_option_wins_over_the_environment(api_env, monkeypatch, name):
    monkeypatch.setenv(ENV_BASE_URL[name][0], "https://nonexistent.invalid")
    (endpoint,) = api_endpoints(backend_class(name), {"base_url": "http://127.0.0.1:9/v1", "model_id": "m"})
    assert (endpoint.url, endpoint.setting) == ("http://127.0.0.1:9/v1", "the base_url option")


def test_provider_defaults_name_what_changes_them(api_env, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.delenv("GOOGLE_GEMINI_BASE_URL", raising=False)
    (gemini,) = api_endpoints(backend_class("gemini"), {})
    assert gemini.url == "https://generativelanguage.googleapis.com/"
    assert gemini.setting == "the default; the base_url option or GOOGLE_GEMINI_BASE_URL changes it"
    (openai,) = api_endpoints(backend_class("openai"), {})
    assert openai.url == "https://api.openai.com/v1"
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    hub, router = api_endpoints(backend_class("hf-inference"), {"provider": "fal-ai"})
    assert (hub.url, router.url) == (
        "https://huggingface.co",
        constants.INFERENCE_PROXY_TEMPLATE.format(provider="fal-ai"),
    )


def test_hf_inference_urls_are_used_as_given(api_env, fake_server, photo, monkeypatch):
    # CI runs with HF_HUB_OFFLINE=1; this request goes to the local fake server only.
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    cls = backend_class("hf-inference")
    (endpoint,) = api_endpoints(cls, {"base_url": fake_server.url})
    assert endpoint.url == fake_server.url
    (dedicated,) = api_endpoints(cls, {"endpoint_url": "https://x.endpoints.huggingface.cloud"})
    assert (dedicated.url, dedicated.setting) == (
        "https://x.endpoints.huggingface.cloud",
        "the endpoint_url option",
    )
    fake_server.respond(503, {"error": "loading"})
    with pytest.raises(BackendTransient):
        create_backend("hf-inference", base_url=fake_server.url, timeout=5).restore(
            RestoreRequest(photo, "r")
        )
    assert fake_server.requests  # the SDK called the host the probe looked at


def test_local_backends_call_no_api():
    assert api_endpoints(backend_class("classical"), {}) == []
    assert api_endpoints(vlm_class("heuristic"), {}) == []
