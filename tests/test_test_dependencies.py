"""Skips that would hide failures: every module a test skips on (``pytest.importorskip``) is part of
the ``test`` extra, so under the README's test command (``pip install -e ".[test]"``) each must
import. A broken or missing dependency then fails here instead of silently skipping its tests."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def importorskip_targets() -> dict[str, list[str]]:
    """Module name -> the test files that call ``pytest.importorskip`` on it."""
    found: dict[str, list[str]] = {}
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "importorskip"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                found.setdefault(node.args[0].value, []).append(path.relative_to(TESTS).as_posix())
    return found


TARGETS = importorskip_targets()


def test_the_scan_finds_the_skips() -> None:
    assert "gradio" in TARGETS and "pyiqa" in TARGETS, sorted(TARGETS)


@pytest.mark.parametrize("module", sorted(TARGETS))
def test_every_skipped_on_module_imports(module: str) -> None:
    try:
        importlib.import_module(module)
    except Exception as exc:  # any failure would have turned these tests into silent skips
        pytest.fail(f"{module} does not import ({type(exc).__name__}: {exc}); skipped: {TARGETS[module]}")
