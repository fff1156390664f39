"""Shared by the benchmark scripts: the machine description, the RESULTS.md writer and ``out/``."""

from __future__ import annotations

import importlib
import os
import platform
import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
#: Where the benchmarks write their work files (git-ignored); made on import, so a fresh clone runs.
OUT = Path(__file__).resolve().parent / "out"
OUT.mkdir(exist_ok=True)
HEADER = (
    "# Benchmark results\n\nAll figures measured on this machine by the command shown; ratios against "
    "the named peer in the same run.\n"
)


def machine(packages: tuple[str, ...] = ()) -> str:
    """nproc, RAM, CPU model, Python and the versions of ``packages``."""
    ram = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[1]) / 1024**2
    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    versions = ", ".join(f"{p} {importlib.import_module(p).__version__}" for p in packages)
    load = ", load average " + "/".join(f"{v:.1f}" for v in os.getloadavg())
    return (
        f"nproc {os.cpu_count()}, RAM {ram:.1f} GiB, CPU {cpu[1].strip() if cpu else 'unknown'}; "
        f"python {platform.python_version()}" + (f", {versions}" if versions else "") + load
    )


def _section_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"^## {re.escape(name)}\n.*?(?=^## |\Z)", re.S | re.M)


def write_section(name: str, section: str, after: str | None = None) -> None:
    """Replace the ``## name`` section of RESULTS.md; a new one goes right after the ``## after``
    section when there is one, else at the end."""
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    pattern = _section_pattern(name)
    if pattern.search(text):
        new = pattern.sub(lambda _: section + "\n", text)
    elif after is not None and (previous := _section_pattern(after).search(text)):
        new = text[: previous.end()] + section + "\n" + text[previous.end() :]
    else:
        new = f"{text}\n{section}"
    RESULTS.write_text(new.rstrip() + "\n")
