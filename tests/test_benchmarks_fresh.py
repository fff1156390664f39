"""Benchmarks are documented commands too: on a fresh clone (no ``benchmarks/out/``) the ones that
write there find the folder made (issue 23 point 7)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_importing_the_shared_module_makes_out(tmp_path: Path) -> None:
    clone = tmp_path / "benchmarks"
    shutil.copytree(BENCHMARKS, clone, ignore=shutil.ignore_patterns("out", "__pycache__"))
    assert not (clone / "out").exists()
    subprocess.run([sys.executable, "-c", "import _common"], cwd=clone, check=True, timeout=60)
    assert (clone / "out").is_dir()


@pytest.mark.parametrize(
    "script", ["bench_loader.py", "bench_pack.py", "bench_pipeline.py", "bench_space.py"]
)
def test_benchmarks_writing_to_out_import_the_shared_module_first(script: str) -> None:
    tree = ast.parse((BENCHMARKS / script).read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "_common"]
    assert top, f"{script}: import _common at module level (it makes benchmarks/out/)"
