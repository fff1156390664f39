"""Report and pack of a build run at the paper's scale: wall time and peak RSS against item count.

``ggt build CONFIG --stage pack`` (``build(config, stage="pack")``: read every record, pack accepted
pairs and negatives, then the report) and the report alone (``pipeline.report.report``) on synthetic
runs of copies of one real demo item (``_synthetic_run.py``, 1024² pairs; human review on and
every item decided, one in ten rejected). Each measurement runs in
its own subprocess and reads its own peak from ``/proc/self/status`` (``VmHWM``; ``ru_maxrss`` would
carry the parent's peak over the fork). Target: RSS flat in the number of items.
Packing decodes both 1024² images of every pair (a few hundred ms per pair on a loaded 2-core machine),
so pack is measured at sizes that finish in minutes and the report up to 100K. Writes RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from _common import machine, write_section
from _synthetic_run import make_run, seed_run

HERE = Path(__file__).resolve().parent


def _status_mib(field: str) -> float:
    """A ``VmRSS``/``VmHWM`` line of this process's ``/proc/self/status``, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def _measure(what: str, run: str) -> None:
    """Child process: time ``what`` on ``run`` and print JSON with seconds and peak RSS."""
    from ggt_hf.pipeline.build import build
    from ggt_hf.pipeline.config import BuildConfig
    from ggt_hf.pipeline.report import report

    rss0 = _status_mib("VmHWM")
    t = time.perf_counter()
    if what == "report":
        result = report(run)
        rows = sum(c["ingested"] for c in result.states.values())
    else:
        data = json.loads((Path(run) / "build_config.json").read_text())
        data["output"] = run
        result = build(BuildConfig.from_dict(data), stage="pack", progress=False)
        rows = result.packed
    seconds = time.perf_counter() - t
    print(
        json.dumps(
            {"seconds": seconds, "rss_mib": _status_mib("VmHWM"), "import_rss_mib": rss0, "rows": rows}
        )
    )


def measure(what: str, run: Path, code: str | None = None) -> dict:
    """Measure in a fresh process; ``code`` is a checkout whose ``ggt_hf`` is imported instead."""
    env = dict(os.environ, PYTHONPATH=code) if code else None
    out = subprocess.run(
        [sys.executable, __file__, "--child", what, str(run)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _pack_row(step: str, n: int, run: Path, args: argparse.Namespace) -> tuple:
    checks = run / "pack_checks.sqlite"  # RunLayout.PACK_CHECKS; the peer's code may not have it
    checks.unlink(missing_ok=True)  # a run's first pack: nothing checked yet
    ours = measure("pack", run)
    peer = measure("pack", run, args.peer) if args.peer and n <= args.peer_max_items else None
    return step, n, ours, peer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--report-sizes", default="1000,10000,100000")
    parser.add_argument("--pack-sizes", default="100,400", help="item counts of the 1024² pack runs")
    parser.add_argument(
        "--small-pack-sizes",
        default="",
        help="item counts of pack runs made of --small-size² copies (per-item bookkeeping up to 100K)",
    )
    parser.add_argument("--small-size", type=int, default=64)
    parser.add_argument("--peer", help="checkout of the code to compare against (e.g. a git worktree)")
    parser.add_argument("--peer-max-items", type=int, default=10_000, help="largest run the peer packs")
    parser.add_argument("--work", default="/tmp/ggt-bench-review", help="shared with bench_review.py")
    parser.add_argument("--no-write", action="store_true", help="print the rows, leave RESULTS.md alone")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _measure(*args.child)
    work = Path(args.work)
    seed = seed_run(work)
    rows = []
    for n in [int(x) for x in args.report_sizes.split(",") if x]:
        rows.append(
            (
                "report",
                n,
                measure("report", make_run(seed, work / "runs" / f"{n}-reviewed", n, reviewed=True)),
                None,
            )
        )
        print(rows[-1], flush=True)
    for n in [int(x) for x in args.pack_sizes.split(",") if x]:
        run = make_run(seed, work / "pack-runs" / f"{n}-reviewed", n, reviewed=True)
        rows.append(_pack_row("build --stage pack (incl. report), 1024²", n, run, args))
        print(rows[-1], flush=True)
    for n in [int(x) for x in args.small_pack_sizes.split(",") if x]:
        size = args.small_size
        run = make_run(seed, work / "pack-runs" / f"{n}-{size}px-reviewed", n, size=size, reviewed=True)
        rows.append(_pack_row(f"build --stage pack (incl. report), {size}²", n, run, args))
        print(rows[-1], flush=True)
    lines = [
        "## bench_build_scale: report and pack of a large build run",
        "",
        f"Command: `{shlex.join(['python', 'benchmarks/bench_build_scale.py', *sys.argv[1:]])}`  ",
        f"Machine: {machine(('pyarrow',))}",
        "",
        f"Peer: {args.peer or 'none'} (same run folders, measured right after ours)",
        "",
        "| step | items | rows | wall (s) | per item (ms) | peak RSS (MiB) | RSS after imports (MiB) "
        "| peer wall (s) | peer peak RSS (MiB) | wall ratio peer/ours |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for step, n, m, peer in rows:
        theirs = (
            f"{peer['seconds']:.1f} | {peer['rss_mib']:.0f} | {peer['seconds'] / m['seconds']:.2f}×"
            if peer
            else "– | – | –"
        )
        lines.append(
            f"| {step} | {n:,} | {m['rows']:,} | {m['seconds']:.1f} | {1000 * m['seconds'] / n:.2f} "
            f"| {m['rss_mib']:.0f} | {m['import_rss_mib']:.0f} | {theirs} |"
        )
    print("\n".join(lines))
    if not args.no_write:
        write_section("bench_build_scale: report and pack of a large build run", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
