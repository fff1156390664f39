"""`ggt metrics list` against its floor: importing pyiqa and listing its models.

The listing reads the weight files pyiqa declares and looks for them on disk (no model is built);
importing pyiqa (torch, torchvision) is the floor it cannot go under. The two commands run in
turn (A B A B ...), each a fresh process from start to exit, and the ratio is taken pair by pair
(so a drift in the machine's speed moves both sides); figures are medians. The old way — building
every learned metric's pyiqa model offline to see which download it attempts, what the listing did
before — is timed too, for scale (``--old-runs 0`` skips it).

Run from the repo root: `python benchmarks/bench_metrics_list.py` (about 3 minutes on a busy 2-core
machine).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, write_section

ROOT = Path(__file__).resolve().parents[1]
LIST = [sys.executable, "-m", "ggt_hf.cli", "metrics", "list"]
PEER = [sys.executable, "-c", "import pyiqa; pyiqa.list_models()"]
OLD = [
    sys.executable,
    "-c",
    "from ggt_hf.metrics.engine import MetricEngine\n"
    "from ggt_hf.metrics.specs import METRICS\n"
    "from ggt_hf.runtime.network import forced_offline\n"
    "for spec in METRICS.values():\n"
    "    if spec.pyiqa_id:\n"
    "        with forced_offline():\n"
    "            MetricEngine([spec]).drop_unavailable()\n",
]


def run_once(cmd: list[str], cwd: str) -> tuple[float, float]:
    """(wall s, cpu s) of one run of ``cmd`` as a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="pairs of runs (listing, peer)")
    parser.add_argument("--old-runs", type=int, default=2, help="runs of the old model-building way")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as cwd:
        run_once(LIST, cwd), run_once(PEER, cwd)  # warm the page cache for both
        pairs = [(run_once(LIST, cwd), run_once(PEER, cwd)) for _ in range(args.runs)]
        old = [run_once(OLD, cwd) for _ in range(args.old_runs)]

    def med(values):
        return statistics.median(values)

    list_wall, peer_wall = med([a[0] for a, _ in pairs]), med([b[0] for _, b in pairs])
    list_cpu, peer_cpu = med([a[1] for a, _ in pairs]), med([b[1] for _, b in pairs])
    ratio = med([a[0] / b[0] for a, b in pairs])
    rows = [
        "| command | wall s (median) | cpu s (median) |",
        "|---|---|---|",
        f"| `ggt metrics list` | {list_wall:.2f} | {list_cpu:.2f} |",
        f'| peer: `python -c "import pyiqa; pyiqa.list_models()"` | {peer_wall:.2f} | {peer_cpu:.2f} |',
    ]
    if old:
        rows.append(
            f"| old way: build every pyiqa metric offline ({len(old)} runs) | {med([w for w, _ in old]):.2f} "
            f"| {med([c for _, c in old]):.2f} |"
        )
    section = "\n".join(
        [
            "## ggt metrics list",
            "",
            f"Command: `python benchmarks/bench_metrics_list.py --runs {args.runs} --old-runs {args.old_runs}`. "
            f"Machine: {machine(('torch', 'pyiqa'))}.",
            "",
            *rows,
            "",
            f"Listing / peer wall time, median of {args.runs} paired runs: **{ratio:.2f}×**. The listing "
            "builds no model and touches no network; what is left is importing pyiqa (torch, torchvision: "
            "the peer's cost) plus timm for its backbones' configs.",
        ]
    )
    print(section)
    write_section("ggt metrics list", section)


if __name__ == "__main__":
    main()
