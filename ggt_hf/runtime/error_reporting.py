"""Turning exceptions into ONE line and an exit code, for ``ggt`` and the training scripts.

Exit codes: 1 for a run that failed or did nothing useful, 2 for bad arguments or input (checked
before any work), 3 for a network service that cannot be reached, 130 for Ctrl-C. The traceback is
shown only with ``--debug`` or ``GGT_DEBUG=1``. Under a distributed launcher (``RANK`` set) only
rank 0 prints, so a wrong path is reported once, not once per process.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from ggt_hf.errors import GGTError, MissingExtraError, NetworkUnavailableError, UsageError
from ggt_hf.runtime.redact import redact_text

EXIT_FAILED, EXIT_USAGE, EXIT_NETWORK, EXIT_INTERRUPTED = 1, 2, 3, 130


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


def _network_error(exc: BaseException) -> str | None:
    """A one-line reason when ``exc`` (or its cause) is a failed connection, else ``None``."""
    seen: BaseException | None = exc
    while seen is not None:
        name = type(seen).__name__
        module = type(seen).__module__
        if isinstance(seen, ConnectionError | TimeoutError) or name in {
            "OfflineModeIsEnabled",
            "ConnectError",
            "ConnectTimeout",
            "ConnectionError",
        }:
            cause = _one_line(seen)
            if name == "OfflineModeIsEnabled":  # say why the Hub client is offline
                from ggt_hf.runtime.network import hub_offline

                cause = hub_offline(log=False) or cause
            return f"cannot reach the network ({module}.{name}): {cause}"
        seen = seen.__cause__ or seen.__context__
    return None


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
