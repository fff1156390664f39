"""Helpers shared by the command modules."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

from ggt_hf.constants import CATEGORIES, SPLITS


def add_category_arg(
    parser,
    help_text: str = "category for items that have none from folders or a manifest",
    choices: tuple[str, ...] = CATEGORIES,
) -> None:
    parser.add_argument("--category", choices=None, metavar="|".join(choices), help=help_text)


def add_split_arg(parser, default: str | None = "train") -> None:
    parser.add_argument(
        "--split", default=default, choices=SPLITS, help=f"dataset split (default: {default})"
    )


def print_problems(problems: Iterable[object], title: str, limit: int = 50) -> int:
    """Print up to ``limit`` problems under a title to stderr; returns how many there were."""
    problems = list(problems)
    if problems:
        print(f"{title}: {len(problems)}", file=sys.stderr)
        for problem in problems[:limit]:
            print(f"  {problem}", file=sys.stderr)
        if len(problems) > limit:
            print(f"  ... and {len(problems) - limit} more", file=sys.stderr)
    return len(problems)


def write_problems(path: str | Path | None, problems: Iterable[object]) -> None:
    """Write problems as ``item<TAB>reason`` lines (when a report path is given)."""
    if path is None:
        return
    from ggt_hf.io_utils import atomic_write_text

    lines = "".join(f"{getattr(p, 'item', '')}\t{getattr(p, 'reason', p)}\n" for p in problems)
    atomic_write_text(path, lines)
