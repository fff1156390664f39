"""Report and pack of a build run at the paper's scale: wall time and peak RSS against item count.

``ggt build CONFIG --stage pack`` (``build(config, stage="pack")``: read every record, pack accepted
pairs and negatives, then the report) and the report alone (``pipeline.report.report``) on synthetic
runs of copies of one real demo item (``_synthetic_run.py``, 1024² pairs). Each measurement runs in
its own subprocess so ``ru_maxrss`` is its own peak. Target: RSS flat in the number of items.
Packing decodes both 1024² images of every pair (a few hundred ms per pair on a loaded 2-core machine),
so pack is measured at sizes that finish in minutes and the report up to 100K. Writes RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

from _common import machine, write_section
from _synthetic_run import make_run, seed_run

HERE = Path(__file__).resolve().parent


def _measure(what: str, run: str) -> None:
    """Child process: time ``what`` on ``run`` and print JSON with seconds and peak RSS."""
    from ggt_hf.pipeline.build import build
    from ggt_hf.pipeline.config import BuildConfig
    from ggt_hf.pipeline.report import report

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
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
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps({"seconds": seconds, "rss_mib": rss / 1024, "import_rss_mib": rss0 / 1024, "rows": rows})
    )


def measure(what: str, run: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", what, str(run)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--report-sizes", default="1000,10000,100000")
    parser.add_argument("--pack-sizes", default="100,400")
    parser.add_argument("--work", default="/tmp/ggt-bench-review", help="shared with bench_review.py")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _measure(*args.child)
    work = Path(args.work)
    seed = seed_run(work)
    rows = []
    for n in [int(x) for x in args.report_sizes.split(",") if x]:
        rows.append(("report", n, measure("report", make_run(seed, work / "runs" / str(n), n))))
        print(rows[-1], flush=True)
    for n in [int(x) for x in args.pack_sizes.split(",") if x]:
        run = make_run(seed, work / "pack-runs" / str(n), n)
        rows.append(("build --stage pack (incl. report)", n, measure("pack", run)))
        print(rows[-1], flush=True)
    lines = [
        "## bench_build_scale: report and pack of a large build run",
        "",
        f"Command: `{shlex.join(['python', 'benchmarks/bench_build_scale.py', *sys.argv[1:]])}`  ",
        f"Machine: {machine(('pyarrow',))}",
        "",
        "| step | items | rows | wall (s) | per item (ms) | peak RSS (MiB) | RSS after imports (MiB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for step, n, m in rows:
        lines.append(
            f"| {step} | {n:,} | {m['rows']:,} | {m['seconds']:.1f} | {1000 * m['seconds'] / n:.2f} "
            f"| {m['rss_mib']:.0f} | {m['import_rss_mib']:.0f} |"
        )
    write_section("bench_build_scale: report and pack of a large build run", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
