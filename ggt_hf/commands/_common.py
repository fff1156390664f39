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
    """Print up to ``limit`` problems under a title to stderr, one line each (control characters
    escaped, :func:`~ggt_hf.errors.printable`); returns how many there were."""
    from ggt_hf.errors import printable

    problems = list(problems)
    if problems:
        print(f"{title}: {len(problems)}", file=sys.stderr)
        for problem in problems[:limit]:
            print(f"  {printable(problem)}", file=sys.stderr)
        if len(problems) > limit:
            print(f"  ... and {len(problems) - limit} more", file=sys.stderr)
    return len(problems)


def write_problems(path: str | Path | None, problems: Iterable[object]) -> None:
    """Write problems as ``item<TAB>reason`` lines (when a report path is given): one line per
    problem, control characters of the item and the reason escaped (a file name holding a newline or
    a tab cannot forge a line or a column; :func:`~ggt_hf.errors.printable`)."""
    if path is None:
        return
    from ggt_hf.errors import printable
    from ggt_hf.files.io_utils import atomic_write_text

    lines = "".join(
        f"{printable(getattr(p, 'item', ''))}\t{printable(getattr(p, 'reason', p))}\n" for p in problems
    )
    atomic_write_text(path, lines)


def check_dataset_arg(value: str | None, option: str = "--dataset") -> None:
    """Refuse, before any work, a dataset argument that is neither a folder nor a Hub id
    (:func:`ggt_hf.hub.locations.resolve_location`: an existing path is local, a path that does not
    exist is a missing folder, else a valid ``namespace/name``). A Hub id while the Hub is
    unreachable fails at once with the cause unless the dataset is in the local cache (the loader
    decides that).
    """
    from ggt_hf.hub.locations import resolve_location

    if value is None or not resolve_location(value, option).is_hub:
        return
    from ggt_hf.runtime.network import require_hub_repos

    require_hub_repos([value], option, repo_type="dataset")  # unreachable and not cached: named now


def print_release_report(label: str, report, leaks_title: str, report_path: str | Path | None) -> None:
    """Print a release pack/mirror report (rows written per subset/category/split, skipped pairs,
    leaks) and write its problems to ``report_path`` when given."""
    print(f"{label}: {report}")
    for (subset, category, split), n in sorted(report.written.items()):
        print(f"  {subset}/{category}/{split}: {n}")
    print_problems(report.problems, "skipped pairs")
    print_problems(report.leaks, leaks_title)
    write_problems(report_path, report.problems + report.leaks)
