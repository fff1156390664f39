"""Keep only the cosmic-ray mutants that mutmut never makes: those inside decorated functions.

mutmut 3.8 skips every function with a decorator other than exactly one bare ``@staticmethod`` /
``@classmethod`` (``@property``, ``@functools.cache``, ``@contextmanager``, ...), and every decorator
(see ``mutmut/mutation/file_mutation.py``). This marks every other work item of a cosmic-ray session
as skipped, so ``cosmic-ray exec`` runs only what mutmut's score leaves out.

Usage (from the scratch copy's root, after ``cosmic-ray init``)::

    python .ci/cosmic-ray/only_decorated.py session.sqlite
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import WorkerOutcome, WorkResult


def _mutmut_skips(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    decorators = fn.decorator_list
    lone_builtin = (
        len(decorators) == 1
        and isinstance(decorators[0], ast.Name)
        and decorators[0].id in ("staticmethod", "classmethod")
    )
    return bool(decorators) and not lone_builtin


def decorated_spans(source: str) -> list[tuple[int, int]]:
    """(first decorator line, last line) of every function mutmut skips, nested ones included."""
    spans: list[tuple[int, int]] = []

    def walk(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) and _mutmut_skips(child):
                spans.append((min(d.lineno for d in child.decorator_list), child.end_lineno or child.lineno))
            else:
                walk(child)

    walk(ast.parse(source))
    return spans


def main(session: str) -> None:
    spans: dict[str, list[tuple[int, int]]] = {}
    keep, skip = 0, []
    with use_db(session, WorkDB.Mode.open) as db:
        for item in db.pending_work_items:
            inside = all(
                any(
                    a <= m.start_pos[0] and m.end_pos[0] <= b
                    for a, b in spans.setdefault(
                        str(m.module_path), decorated_spans(Path(m.module_path).read_text())
                    )
                )
                for m in item.mutations
            )
            if inside:
                keep += 1
            else:
                skip.append(item.job_id)
        if skip:
            db.set_multiple_results(
                skip, WorkResult(output="outside decorated functions", worker_outcome=WorkerOutcome.SKIPPED)
            )
    print(f"kept {keep} mutants inside decorated functions, skipped {len(skip)}")


if __name__ == "__main__":
    main(sys.argv[1])
