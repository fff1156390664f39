"""Is the network there? One fast probe per host and process, so nothing waits on retries.

Without a network (and without ``HF_HUB_OFFLINE=1``), huggingface_hub retries every request with
an exponential backoff (1+2+4+8+8 s per file) and pyiqa / timm / torch.hub try their downloads one
after the other: a command that only needed the local cache lost minutes. :func:`hub_offline`
answers once per process, from the environment (``HF_HUB_OFFLINE``, ``TRANSFORMERS_OFFLINE``,
``GGT_OFFLINE``) or from a TCP connect to the Hub endpoint (``HF_ENDPOINT``; through the HTTPS proxy
when one is configured, with a ``CONNECT`` to the host) with a short timeout; when the Hub is unreachable it switches
huggingface_hub, datasets and transformers to their offline mode (local cache only) and logs ONE
line naming the cause. :func:`host_unreachable` does the same probe for any download URL (torch.hub
and pyiqa weights come from GitHub and download.pytorch.org). :func:`require_apis` does it for the
hosted APIs a build calls (Gemini, OpenAI, HF Inference: each backend says where in an
:class:`ApiEndpoint`), so a run without a network stops before any work instead of after the SDK's
timeouts and our retries.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
import socket
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

logger = logging.getLogger(__name__)

#: Seconds a probe waits for a TCP connection before calling the host unreachable.
PROBE_TIMEOUT = float(os.environ.get("GGT_NETWORK_PROBE_TIMEOUT", "2"))
#: Seconds an HTTPS proxy gets to answer a ``CONNECT`` (it reaches the host first), at least
#: ``PROBE_TIMEOUT``: a slow but working proxy must not read as "no network".
TUNNEL_TIMEOUT = 10.0
DEFAULT_ENDPOINT = "https://huggingface.co"
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "GGT_OFFLINE")
_TRUE = {"1", "true", "yes", "on"}

_lock = threading.Lock()
#: (host, port connected to, tunnel destination or "") → why it failed, or None.
_probes: dict[tuple[str, int, str], str | None] = {}
_hub_state: dict[str, str | None] = {}


def env_offline() -> bool:
    """True when the environment says not to touch the network."""
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in _OFFLINE_VARS)


def hub_endpoint() -> str:
    """The Hub's base URL (``HF_ENDPOINT`` or huggingface.co)."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def _proxy(url: str) -> str | None:
    """The proxy URL a connection to ``url`` goes through (``HTTPS_PROXY`` / ``HTTP_PROXY`` by
    scheme, unless ``NO_PROXY`` names the host), or ``None`` for a direct connection."""
    parts = urlsplit(url)
    proxy_vars = ("HTTPS_PROXY", "https_proxy") if parts.scheme == "https" else ("HTTP_PROXY", "http_proxy")
    no_proxy = os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or ""
    host = parts.hostname or ""
    if any(host.endswith(h.strip().lstrip(".")) for h in no_proxy.split(",") if h.strip()):
        return None
    proxy = next((os.environ[v] for v in proxy_vars if os.environ.get(v)), None)
    return None if proxy is None else proxy if "://" in proxy else f"http://{proxy}"


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def _target(url: str) -> tuple[str, int]:
    """The (host, port) a connection to ``url`` goes to first: the proxy when one is set."""
    return _host_port(_proxy(url) or url)


def _tunnel_refused(sock: socket.socket, url: str, proxy: str) -> str | None:
    """``None`` when the proxy opens a tunnel (``CONNECT``) to ``url``'s host; else why not.

    Only ``CONNECT host:port`` (and the proxy's own credentials from its URL) is sent: a proxy that
    is up but cannot reach the host, or drops the connection, is caught here, not by the SDK.
    """
    host, port = _host_port(url)
    proxy_host, proxy_port = _host_port(proxy)
    request = f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n"
    parts = urlsplit(proxy)
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        request += f"Proxy-Authorization: Basic {base64.b64encode(credentials).decode()}\r\n"
    where = f"the proxy {proxy_host}:{proxy_port}"
    # The proxy connects on to the host before it answers: give that longer than a plain connect.
    sock.settimeout(max(PROBE_TIMEOUT, TUNNEL_TIMEOUT))
    try:
        sock.sendall(f"{request}\r\n".encode())
        with sock.makefile("rb") as answer:
            status = answer.readline(512).decode("latin-1").strip()
    except TimeoutError:
        return f"{where} did not open a tunnel to {host}:{port} within {sock.gettimeout():g} s"
    except ConnectionError:  # reset by the proxy
        status = ""
    fields = status.split()
    if len(fields) >= 2 and fields[1].startswith("2"):
        return None
    if not status:
        return f"{where} dropped the connection instead of opening a tunnel to {host}:{port}"
    return f"{where} refused a tunnel to {host}:{port} ({status[:120]})"


def host_unreachable(url: str) -> str | None:
    """``None`` when a connection to ``url``'s host opens; else why not (probed once per host).

    Direct: a TCP connect. Through an HTTPS proxy: a TCP connect to the proxy and a ``CONNECT`` to
    the host (:func:`_tunnel_refused`). Nothing else is sent.
    """
    proxy = _proxy(url)
    tunnel = proxy is not None and urlsplit(url).scheme == "https"
    key = (*_target(url), "{}:{}".format(*_host_port(url)) if tunnel else "")
    with _lock:
        if key in _probes:
            return _probes[key]
    host, port = key[0], key[1]
    reason: str | None
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT) as sock:
            reason = _tunnel_refused(sock, url, proxy) if tunnel and proxy else None
    except socket.gaierror as exc:
        reason = f"cannot resolve {host} ({exc.strerror or exc})"
    except TimeoutError:
        reason = f"no answer from {host}:{port} within {PROBE_TIMEOUT:g} s"
    except OSError as exc:
        reason = f"cannot connect to {host}:{port} ({exc.strerror or exc})"
    with _lock:
        _probes[key] = reason
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


def network_problems() -> list[str]:
    """Why this process could not use the network: the offline setting, every host probed
    unreachable so far (each once, in probe order); empty when nothing was refused."""
    with _lock:
        probed = [reason for reason in _probes.values() if reason is not None]
    return (["HF_HUB_OFFLINE is set"] if env_offline() else []) + probed


def require_hub(what: str) -> None:
    """Raise :class:`~ggt_hf.errors.NetworkUnavailableError` at once when ``what`` (e.g. ``ggt
    push``) cannot reach the Hub: before any work, instead of after the Hub client's retries."""
    reason = hub_offline(log=False)
    if reason is not None:
        from ggt_hf.errors import NetworkUnavailableError

        raise NetworkUnavailableError(what, f"needs the Hugging Face Hub, but {reason}")


_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def hub_repo_id(source: str) -> str | None:
    """The Hub repo a model/dataset argument names (``owner/name``, ``hf://[datasets/]owner/name/...``),
    or ``None`` when it is a local path or not a repo id."""
    if source.startswith("hf://"):
        parts = source.removeprefix("hf://").split("/")
        parts = parts[1:] if parts[0] in ("datasets", "spaces", "models") else parts
        return "/".join(parts[:2]).split("@")[0] if len(parts) >= 2 else None
    if os.path.exists(source) or source.startswith(("./", "../", "/")) or not _HUB_ID.fullmatch(source):
        return None
    return source


def _cached(repo_id: str, repo_type: str) -> bool:
    """True when the Hub cache holds a snapshot of ``repo_id`` (what offline loading reads)."""
    from huggingface_hub import constants as hub_constants

    folder = f"{repo_type}s--{repo_id.replace('/', '--')}"
    snapshots = os.path.join(hub_constants.HF_HUB_CACHE, folder, "snapshots")
    if os.path.isdir(snapshots) and any(os.scandir(snapshots)):
        return True
    if repo_type == "dataset":  # a dataset `datasets` prepared before: its own cache
        datasets_cache = os.environ.get("HF_DATASETS_CACHE") or os.path.join(
            hub_constants.HF_HOME, "datasets"
        )
        return os.path.isdir(os.path.join(datasets_cache, repo_id.replace("/", "___")))
    return False


def _local_owner(source: str) -> bool:
    """True when ``owner/name``'s owner is a folder here: the user may have meant a local path."""
    return not source.startswith("hf://") and os.path.isdir(source.split("/")[0])


def require_hub_repos(sources: Iterable[str | None], what: str, repo_type: str = "model") -> None:
    """Fail at once, naming the host, the repo and what to do, when one of ``sources`` is a Hub repo
    (see :func:`hub_repo_id`) that is not in the local cache while the Hub cannot be reached.

    One TCP probe per process (:func:`hub_offline`): no Hub client retries, no per-item repeats.
    ``hf://`` sources are read live (never from the cache), so they always need the Hub.
    """
    repos = [(s, hub_repo_id(s)) for s in sources if s]
    repos = [(s, r) for s, r in repos if r is not None]
    if not repos:
        return
    reason = hub_offline(log=False)
    if reason is None:
        return
    for source, repo in repos:
        live = source.startswith("hf://")  # read through HfFileSystem: never from the cache
        if live or not _cached(repo, repo_type):
            from ggt_hf.errors import NetworkUnavailableError

            kind = " --repo-type dataset" if repo_type == "dataset" else ""
            raise NetworkUnavailableError(
                source,
                f"{what} needs {hub_endpoint()}/{'datasets/' if kind else ''}{repo}, but {reason}"
                f"{'' if live else ' and it is not in the local cache'}; connect (or set HTTPS_PROXY), or "
                f"download it where the network is available (`hf download {repo}{kind} --local-dir DIR`)"
                " and give DIR instead"
                + (
                    f" (or, if you meant the local folder {source}: it does not exist)"
                    if _local_owner(source)
                    else ""
                ),
            )
    logger.warning("%s; using the cached copies of %s", reason, ", ".join(r for _, r in repos))


@dataclass(frozen=True)
class ApiEndpoint:
    """A hosted API a backend or VLM client calls: ``service`` (``"the Gemini API"``), the base
    ``url`` its SDK will use, and ``setting``: what decided that URL, in words the user can act on."""

    service: str
    url: str
    setting: str

    @classmethod
    def resolve(cls, service: str, option: str | None, env_var: str | None, default: str) -> ApiEndpoint:
        """The endpoint an SDK resolves from its ``base_url`` option, then ``env_var``, then
        ``default`` (the order the Gemini and OpenAI SDKs use), with what decided it."""
        env = os.environ.get(env_var) if env_var else None
        alternatives = f"the base_url option{f' or {env_var}' if env_var else ''}"
        if option:
            return cls(service, option, "the base_url option")
        if env:
            return cls(service, env, env_var or "")
        return cls(service, default, f"the default; {alternatives} changes it")


def require_apis(endpoints: Iterable[tuple[str, ApiEndpoint]]) -> None:
    """Raise :class:`~ggt_hf.errors.NetworkUnavailableError` at once when one of ``endpoints``
    (``(who calls it, endpoint)``, e.g. ``("config.backend 'gemini'", ...)``) cannot be reached.

    One TCP connect per host and process (:func:`host_unreachable`, through the HTTPS proxy when one
    is set): nothing is sent, so no key and no paid request leaves the machine.
    """
    for who, endpoint in endpoints:
        why = host_unreachable(endpoint.url)
        if why is None:
            continue
        from ggt_hf.errors import NetworkUnavailableError

        raise NetworkUnavailableError(
            who,
            f"needs {endpoint.service} at {endpoint.url} ({endpoint.setting}), but it is unreachable: "
            f"{why}; connect (or set HTTPS_PROXY) or point it at a reachable server, and run it again "
            "(nothing was sent)",
        )


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
