"""Is the network there? One fast probe per host and process, so nothing waits on retries.

Without a network (and without ``HF_HUB_OFFLINE=1``), huggingface_hub retries every request with
an exponential backoff (1+2+4+8+8 s per file) and pyiqa / timm / torch.hub try their downloads one
after the other: a command that only needed the local cache lost minutes. :func:`hub_offline`
answers once per process, from the environment (``HF_HUB_OFFLINE``, ``TRANSFORMERS_OFFLINE``,
``GGT_OFFLINE``) or from a TCP connect to the Hub endpoint (``HF_ENDPOINT``, through the HTTPS proxy
when one is configured) with a short timeout; when the Hub is unreachable it switches
huggingface_hub, datasets and transformers to their offline mode (local cache only) and logs ONE
line naming the cause. :func:`host_unreachable` does the same probe for any download URL (torch.hub
and pyiqa weights come from GitHub and download.pytorch.org).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

#: Seconds a probe waits for a TCP connection before calling the host unreachable.
PROBE_TIMEOUT = float(os.environ.get("GGT_NETWORK_PROBE_TIMEOUT", "2"))
DEFAULT_ENDPOINT = "https://huggingface.co"
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "GGT_OFFLINE")
_TRUE = {"1", "true", "yes", "on"}

_lock = threading.Lock()
_probes: dict[tuple[str, int], str | None] = {}
_hub_state: dict[str, str | None] = {}


def env_offline() -> bool:
    """True when the environment says not to touch the network."""
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in _OFFLINE_VARS)


def hub_endpoint() -> str:
    """The Hub's base URL (``HF_ENDPOINT`` or huggingface.co)."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def _target(url: str) -> tuple[str, int]:
    """The (host, port) a connection to ``url`` goes to first: the proxy when one is set."""
    parts = urlsplit(url)
    proxy_vars = ("HTTPS_PROXY", "https_proxy") if parts.scheme == "https" else ("HTTP_PROXY", "http_proxy")
    no_proxy = os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or ""
    host = parts.hostname or ""
    bypass = any(host.endswith(h.strip().lstrip(".")) for h in no_proxy.split(",") if h.strip())
    proxy = next((os.environ[v] for v in proxy_vars if os.environ.get(v)), None)
    if proxy and not bypass:
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return host, port


def host_unreachable(url: str) -> str | None:
    """``None`` when a TCP connection to ``url``'s host opens; else why not (probed once per host)."""
    target = _target(url)
    with _lock:
        if target in _probes:
            return _probes[target]
    host, port = target
    reason: str | None
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT):
            reason = None
    except socket.gaierror as exc:
        reason = f"cannot resolve {host} ({exc.strerror or exc})"
    except TimeoutError:
        reason = f"no answer from {host}:{port} within {PROBE_TIMEOUT:g} s"
    except OSError as exc:
        reason = f"cannot connect to {host}:{port} ({exc.strerror or exc})"
    with _lock:
        _probes[target] = reason
    return reason


def _switch_libraries_offline() -> None:
    """Put huggingface_hub (and the libraries that copied its flag) into offline mode.

    The flag is set on the imported modules, not in the environment: downloads from other hosts
    (GitHub, download.pytorch.org) are still allowed when those answer.
    """
    from huggingface_hub import constants as hub_constants

    hub_constants.HF_HUB_OFFLINE = True  # read by is_offline_mode(): transformers, timm, diffusers
    datasets_config = sys.modules.get("datasets.config")
    if datasets_config is not None:
        datasets_config.HF_HUB_OFFLINE = True
        if hasattr(datasets_config, "HF_DATASETS_OFFLINE"):
            datasets_config.HF_DATASETS_OFFLINE = True


def hub_offline(log: bool = True) -> str | None:
    """``None`` when the Hub can be used; else the one-line reason it cannot (and offline mode is on).

    Decided once per process; the first "unreachable" answer is logged as a single warning
    (unless ``log`` is false: the caller reports it itself).
    """
    with _lock:
        if "reason" in _hub_state:
            return _hub_state["reason"]
    if env_offline():
        reason: str | None = "HF_HUB_OFFLINE is set"
        _switch_libraries_offline()
    else:
        why = host_unreachable(hub_endpoint())
        reason = None if why is None else f"the Hugging Face Hub ({hub_endpoint()}) is unreachable: {why}"
        if reason is not None:
            _switch_libraries_offline()
        if reason is not None and log:
            logger.warning("%s; using the local cache only (set HF_HUB_OFFLINE=1 to skip this check)", reason)
    with _lock:
        _hub_state["reason"] = reason
    return reason


def require_hub(what: str) -> None:
    """Raise :class:`~ggt_hf.errors.NetworkUnavailableError` at once when ``what`` (e.g. ``ggt
    push``) cannot reach the Hub: before any work, instead of after the Hub client's retries."""
    reason = hub_offline(log=False)
    if reason is not None:
        from ggt_hf.errors import NetworkUnavailableError

        raise NetworkUnavailableError(what, f"needs the Hugging Face Hub, but {reason}")


def reset() -> None:
    """Forget every probe (for tests)."""
    with _lock:
        _probes.clear()
        _hub_state.clear()


@contextlib.contextmanager
def forced_offline() -> Iterator[None]:
    """Within the block huggingface_hub and the download guards act as if ``HF_HUB_OFFLINE=1``."""
    from huggingface_hub import constants as hub_constants

    saved_env = {v: os.environ.get(v) for v in ("HF_HUB_OFFLINE", "GGT_OFFLINE")}
    saved_flag = hub_constants.HF_HUB_OFFLINE
    os.environ["GGT_OFFLINE"] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"
    hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        hub_constants.HF_HUB_OFFLINE = saved_flag
