"""Turning exceptions into ONE line and an exit code, for ``ggt`` and the training scripts.

The exit codes are :data:`EXIT_CODES`, the one table of them (README "Exit codes" shows it, and
tests/test_cli_errors.py checks that the two agree). The traceback is shown only with ``--debug``
or ``GGT_DEBUG=1``. Under a distributed launcher (``RANK`` set) only
rank 0 prints, so a wrong path is reported once, not once per process.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from ggt_hf.errors import GGTError, MissingExtraError, NetworkUnavailableError, UsageError
from ggt_hf.runtime.redact import redact_text

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NETWORK, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
#: Every exit code of ``ggt`` and the training scripts → what it means (README "Exit codes").
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "done",
    EXIT_FAILED: "the run failed, or did nothing (nothing to pack, ingest or restore; a weights file not fetched)",
    EXIT_USAGE: "a bad argument or input (a missing file, an unknown name, a refused folder), before any work",
    EXIT_NETWORK: "a network service the command needs (the Hub, an API, a download host) cannot be reached",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C): re-run the same command to resume",
}


def debug_requested() -> bool:
    """True when ``GGT_DEBUG`` asks for tracebacks."""
    return os.environ.get("GGT_DEBUG", "").strip().lower() in {"1", "true", "yes"}


def _is_main_rank() -> bool:
    return os.environ.get("RANK", "0") in ("", "0")


def run_reporting_errors(fn: Callable[[], int | None], debug: bool = False) -> int:
    """Run ``fn`` and return its exit code; an exception becomes one ``error:`` line and a code."""
    try:
        return int(fn() or 0)
    except KeyboardInterrupt:
        if _is_main_rank():
            print("interrupted: re-run the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if debug or debug_requested():
            raise
        code, message = classify(exc)
        if _is_main_rank():
            print(f"error: {redact_text(message)}", file=sys.stderr)
            if code is None:  # a bug, not a user error: say where to look
                print("(run again with GGT_DEBUG=1 or --debug for the traceback)", file=sys.stderr)
        return EXIT_FAILED if code is None else code


#: Failed connections by class name, whichever HTTP client raised them (httpx, the Hub client's httpx2,
#: requests): failing to connect, and a connection that broke after it was made (a server or proxy
#: that closed it without a response, a read or write that timed out), which is the network too.
_NETWORK_ERRORS = {
    "OfflineModeIsEnabled",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionError",
    "RemoteProtocolError",
    "ReadError",
    "ReadTimeout",
    "WriteError",
    "WriteTimeout",
    "PoolTimeout",
    "ProxyError",
    "ChunkedEncodingError",
}


def _network_error(exc: BaseException) -> str | None:
    """A one-line reason when ``exc`` (or its cause) is a failed connection, else ``None``."""
    seen: BaseException | None = exc
    while seen is not None:
        name = type(seen).__name__
        module = type(seen).__module__
        if isinstance(seen, ConnectionError | TimeoutError) or name in _NETWORK_ERRORS:
            cause = _one_line(seen)
            if name == "OfflineModeIsEnabled":  # say why the Hub client is offline
                from ggt_hf.runtime.network import hub_offline

                cause = hub_offline(log=False) or cause
            host = _request_host(seen)
            where = f"cannot reach {host}" if host else "cannot reach the network"
            return (
                f"{where} ({module}.{name}): {cause}; check the connection (or HTTPS_PROXY) and run it again"
            )
        seen = seen.__cause__ or seen.__context__
    return None


def _request_host(exc: BaseException) -> str | None:
    """The host an HTTP client (httpx, requests) failed to reach, when the exception records it."""
    from urllib.parse import urlsplit

    try:
        request = getattr(exc, "request", None)  # httpx raises RuntimeError when it has none
    except RuntimeError:
        request = None
    url = getattr(request, "url", None)
    return urlsplit(str(url)).netloc or None if url is not None else None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def classify(exc: Exception) -> tuple[int | None, str]:
    """(exit code, one-line message) of an exception; code ``None`` for an unexpected one."""
    if isinstance(exc, NetworkUnavailableError):
        return EXIT_NETWORK, _one_line(exc)
    if isinstance(exc, UsageError | MissingExtraError):
        return EXIT_USAGE, _one_line(exc)
    network = _network_error(exc)
    if network is not None:
        return EXIT_NETWORK, network
    if isinstance(exc, GGTError):
        return EXIT_FAILED, _one_line(exc)
    if isinstance(exc, FileNotFoundError | NotADirectoryError | IsADirectoryError | ValueError):
        return EXIT_USAGE, _one_line(exc)
    return None, f"{type(exc).__name__}: {_one_line(exc)}"
