"""The ``ggt`` command line: a thin dispatcher over :mod:`ggt_hf.commands`.

Every failure ends in ONE line on stderr (``error: <item>: <reason>``) and a non-zero exit code;
the traceback is shown only with ``--debug`` (or ``GGT_DEBUG=1``). Exit codes: 1 for a run that
failed or did nothing useful, 2 for bad arguments / input, 3 for an unreachable network service,
130 for Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from ggt_hf import __version__
from ggt_hf.commands import COMMANDS
from ggt_hf.errors import GGTError, MissingExtraError, NetworkUnavailableError, UsageError

EXIT_FAILED, EXIT_USAGE, EXIT_NETWORK, EXIT_INTERRUPTED = 1, 2, 3, 130


def build_parser() -> argparse.ArgumentParser:
    """The full parser (imports every command module; used for ``--help`` and tests)."""
    parser = argparse.ArgumentParser(
        prog="ggt", description="Generative Ground Truth datasets for image restoration."
    )
    parser.add_argument("--version", action="version", version=f"ggt-hf {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback of an error (also: GGT_DEBUG=1)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=module.HELP, description=module.__doc__)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


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
            from ggt_hf.network import hub_offline

            cause = hub_offline(log=False) or (str(seen).strip().splitlines() or [name])[0]
            return f"cannot reach the network ({module}.{name}): {cause}"
        seen = seen.__cause__ or seen.__context__
    return None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ggt`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    debug = args.debug or os.environ.get("GGT_DEBUG", "").strip().lower() in {"1", "true", "yes"}
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted: re-run the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if debug:
            raise
        code, message = _classify(exc)
        print(f"error: {message}", file=sys.stderr)
        if code is None:  # a bug, not a user error: say where to look
            print("(run again with --debug for the traceback)", file=sys.stderr)
            return EXIT_FAILED
        return code


def _classify(exc: Exception) -> tuple[int | None, str]:
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


if __name__ == "__main__":
    sys.exit(main())
