"""Shared by the fault drill's case modules: ``ggt ...`` run as a user types it (measured), fresh
folders, tiny images, file snapshots, and the *figure* a case reports.

A case performs one attack for real, in a fresh temporary folder, and counts its outcome from what
is on disk afterwards. It returns a list of figures ``(figure, value, bound, note)`` where bound is
the value it must have (``"0"``) or ``"-"`` when the figure is a measurement to report, not a
pass/fail count.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

import ggt_hf

#: The checkout whose ggt_hf this script imported: the ``ggt`` children run the same code.
REPO = Path(ggt_hf.__file__).resolve().parents[1]
Figure = tuple[str, object, str, str]
#: A table row's issue point, the attack, and the function performing it.
Case = tuple[str, str, Callable[[Path], list[Figure]]]
#: Address-space cap of every ``ggt`` child, so a runaway allocation fails instead of starving the
#: machine (the figures then show it reached the cap).
MEMORY_CAP = 8 << 30
#: GNU time, to take a child's peak RSS from a small parent (see :func:`measured`).
TIME = shutil.which("time", path="/usr/bin:/bin")


@dataclasses.dataclass
class Run:
    """One finished ``ggt`` command: exit code, output, wall time and the child's peak RSS."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_mib: float


def ggt(cwd: Path, *argv: str, timeout: float = 300, env: dict[str, str] | None = None) -> Run:
    """``ggt ARGV`` run from ``cwd`` as a user would type it (this checkout's ggt_hf on the path),
    measured: its own peak RSS (``wait4``), killed after ``timeout`` seconds (exit -9)."""
    exe = shutil.which("ggt")
    cmd = [exe, *argv] if exe else [sys.executable, "-c", CLI_CHILD, *argv]
    return measured(cmd, cwd, timeout, env)


CLI_CHILD = "import sys; from ggt_hf.cli import main; sys.exit(main())"


def measured(cmd: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None) -> Run:
    """Run ``cmd`` under ``/usr/bin/time``: a forked child's own ``ru_maxrss`` would include the RSS
    this (large, torch-importing) process had when it forked, so the peak is taken by a small parent."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory() as tmp,
    ):
        peak_file = Path(tmp) / "peak"
        timed = [TIME, "-f", "%M", "-o", str(peak_file), *cmd] if TIME else cmd
        t = time.perf_counter()
        proc = subprocess.Popen(
            timed, cwd=cwd, env={**child_env(), **(env or {})}, stdout=out, stderr=err, preexec_fn=cap,
            start_new_session=True,
        )  # fmt: skip
        timer = threading.Timer(timeout, os.killpg, (proc.pid, signal.SIGKILL))
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        timed_out = not timer.is_alive()
        timer.cancel()
        proc.returncode = -9 if timed_out else os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        text = [f.read().decode("utf-8", "backslashreplace") for f in (out, err)]
        lines = peak_file.read_text().split() if peak_file.is_file() else []
        peak_kib = int(lines[-1]) if lines and lines[-1].isdigit() else usage.ru_maxrss
    return Run(proc.returncode, text[0], text[1], seconds, peak_kib / 1024)


def child_env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO)}


def fresh(work: Path, case: str) -> Path:
    """A new empty folder for one case (the user's current directory for its commands)."""
    folder = work / case
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def make_pairs(root: Path, names: list[str], seed: int, size: int = 64, category: str = "rain") -> None:
    """``root/{lq,hq}/<category>/<name>.png``: tiny random RGB images, distinct per pair."""
    rng = np.random.default_rng(seed)
    for name in names:
        for side in ("lq", "hq"):
            path = root / side / category / f"{name}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every regular file under ``root``, by relative path."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def lost(before: dict[str, str], root: Path) -> int:
    """How many of the files in ``before`` are now missing under ``root`` or changed."""
    after = snapshot(root) if root.is_dir() else {}
    return sum(after.get(name) != digest for name, digest in before.items())


def error_line(proc: Run) -> str:
    """The ``error: ...`` line of a failed run (else its last line)."""
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    return errors[-1] if errors else last_line(proc)


def line_naming(proc: Run, word: str) -> str:
    """The first output line of ``proc`` that holds ``word`` (else its last line)."""
    lines = [line for line in (proc.stderr + proc.stdout).splitlines() if word in line]
    return lines[0].strip() if lines else last_line(proc)


def last_line(proc: Run) -> str:
    lines = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
    return lines[-1][:200] if lines else ""


def png(path: Path, seed: int, size: int = 64) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)


def off_bound(value: object, bound: str) -> bool:
    """Whether ``value`` misses ``bound``: ``"-"`` (a measurement, never), ``"≤ N ..."`` (its first
    number above N), else any other text than ``bound``."""
    if bound == "-":
        return False
    if bound.startswith("≤"):
        number = re.match(r"[\d,.]+", str(value))
        return number is None or float(number[0].replace(",", "")) > float(bound.split()[1])
    return str(value) != bound
