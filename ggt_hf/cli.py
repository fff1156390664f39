"""The ``ggt`` command line: a thin dispatcher over :mod:`ggt_hf.commands`.

Every failure ends in ONE line on stderr and a non-zero exit code (see
:mod:`ggt_hf.runtime.error_reporting`); the traceback is shown only with ``--debug`` (or ``GGT_DEBUG=1``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from ggt_hf import __version__
from ggt_hf.commands import COMMANDS
from ggt_hf.runtime.error_reporting import run_reporting_errors
from ggt_hf.runtime.redact import RedactingFilter


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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ggt`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())  # keys never reach the log
    return run_reporting_errors(lambda: args._run(args), debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
