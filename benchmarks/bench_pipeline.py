"""Does ``ggt build`` keep a rate-limited, high-latency MFM endpoint busy, with flat memory?

A fake endpoint answers every call after a fixed latency L and accepts at most R calls per second
(``LatencyBackend``: the latency is a sleep, as network waiting is). The pipeline runs its real
generate stage (records, candidate PNGs, response cache, retry/rate/concurrency wrappers) with
concurrency C; QC is switched off so the endpoint is the bottleneck. The best any client can do is
min(R, C/L) pairs/s; the peer is the sequential loop (one call at a time: 1/L). Each size runs in
its own subprocess so its peak RSS is its own. Target from the issue: ≥0.95 of the bound, RSS flat
from N=100 to N=2000.
"""

from __future__ import annotations

import argparse
import datetime
import json
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _common import machine, write_section
from PIL import Image

HERE = Path(__file__).resolve().parent


class LatencyBackend:
    """Answers after ``latency`` seconds with a lightly smoothed copy of the input."""

    name = "fake-latency"
    model_id = "fake-latency-1"

    def __init__(self, latency: float = 0.1, model_id: str | None = None) -> None:
        self.latency = latency

    def restore(self, request):
        from ggt_hf.backends import RestoreResult, Usage

        time.sleep(self.latency)
        return RestoreResult(request.image.copy(), self.name, self.model_id, Usage(calls=1, images=1))


def make_photos(n: int, folder: Path) -> Path:
    """N distinct small LQ photos (crops of the bundled samples) in one category folder."""
    from ggt_hf.imaging.images import load_image
    from ggt_hf.pipeline.demo import sample_dir

    target = folder / f"photos-{n}" / "general"
    if target.exists() and len(list(target.glob("*.png"))) == n:
        return target.parent
    target.mkdir(parents=True, exist_ok=True)
    base = [load_image(p).image for p in sorted(sample_dir().glob("*.png"))]
    rng = np.random.default_rng(0)
    for i in range(n):
        img = base[i % len(base)]
        x, y = (int(v) for v in rng.integers(0, min(img.size) - 96, 2))
        crop = img.crop((x, y, x + 96, y + 96)).rotate(90 * int(rng.integers(4))).resize((64, 64))
        noise = rng.integers(0, 3, (64, 64, 3), dtype=np.uint8)  # keeps every crop distinct
        Image.fromarray(np.clip(np.asarray(crop) + noise, 0, 255).astype(np.uint8)).save(
            target / f"p{i:05d}.png"
        )
    return target.parent


def child(n: int, mode: str, work: Path, latency: float, rate: float, concurrency: int) -> None:
    """Run one measurement and print JSON (called in a subprocess)."""
    from ggt_hf.backends import BACKENDS
    from ggt_hf.pipeline.build import build, item_ids
    from ggt_hf.pipeline.config import BuildConfig

    BACKENDS["fake-latency"] = "bench_pipeline:LatencyBackend"
    photos = make_photos(n, work)
    run = work / f"run-{mode}-{n}"
    parallel = mode == "pipeline"
    config = BuildConfig.from_dict(
        {
            "output": str(run),
            "sources": [{"path": str(photos)}],
            "backend": {
                "name": "fake-latency",
                "options": {"latency": latency},
                "rate": rate if parallel else None,
                "concurrency": concurrency if parallel else 1,
                "cache": True,
            },
            "prompt": "fixed",
            "qc": {"metric_thresholds": {}, "geometry": False, "judge": None, "max_attempts": 1},
            "image_size": 64,
            "min_side": 32,
            "workers": concurrency if parallel else 1,
        }
    )
    build(config, stage="ingest", progress=False)
    items = len(item_ids(run))  # ingest drops near-duplicate crops: count what is really generated
    start = time.perf_counter()
    build(config, stage="generate", progress=False)
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {"n": items, "mode": mode, "seconds": seconds, "pairs_per_s": items / seconds, "rss_mb": rss}
        )
    )


def measure(n: int, mode: str, args) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        mode,
        "--n",
        str(n),
        "--work",
        str(args.work),
        "--latency",
        str(args.latency),
        "--rate",
        str(args.rate),
        "--concurrency",
        str(args.concurrency),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=HERE)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 2000])
    parser.add_argument("--sequential-n", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.1, help="endpoint latency L in seconds")
    parser.add_argument("--rate", type=float, default=50.0, help="endpoint rate limit R in calls/s")
    parser.add_argument("--concurrency", type=int, default=8, help="client concurrency C")
    parser.add_argument("--work", type=Path, default=HERE / "out" / "pipeline")
    parser.add_argument("--child", choices=("pipeline", "sequential"))
    parser.add_argument("--n", type=int)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.child:
        child(args.n, args.child, args.work, args.latency, args.rate, args.concurrency)
        return
    import shutil

    shutil.rmtree(args.work, ignore_errors=True)  # fresh runs: a finished build would skip work
    bound = min(args.rate, args.concurrency / args.latency)
    rows = [measure(args.sequential_n, "sequential", args)] + [
        measure(n, "pipeline", args) for n in args.sizes
    ]
    for r in rows:
        print(r, flush=True)
    seq = rows[0]["pairs_per_s"]
    table = "\n".join(
        f"| {r['mode']} | {r['n']} | {r['pairs_per_s']:.1f} | {r['pairs_per_s'] / bound:.2f} | "
        f"{r['pairs_per_s'] / seq:.1f}× | {r['rss_mb']:.0f} |"
        for r in rows
    )
    pipe = rows[1:]
    sustained = pipe[-1]["pairs_per_s"] / bound  # the largest N: start-up cost amortised
    growth = pipe[-1]["rss_mb"] / pipe[0]["rss_mb"] - 1
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])])
    section = f"""## bench_pipeline

Command: `{command}` (from the repo root)

Machine: {machine(("torch", "PIL"))}

Date: {datetime.date.today().isoformat()}

Fake endpoint: latency L = {args.latency} s, rate limit R = {args.rate}/s; client concurrency C =
{args.concurrency}; bound min(R, C/L) = {bound:.1f} pairs/s. Generate stage of `ggt build` only
(QC off), 64² images, records + candidate PNGs + response cache written as in a real run.

| mode | N | pairs/s | vs bound | vs sequential | peak RSS MB |
| --- | ---: | ---: | ---: | ---: | ---: |
{table}

Targets: sustained (largest N) ≥0.95 of the bound — **{"met" if sustained >= 0.95 else "not met"}**
({sustained:.2f}; smaller N include the one-off start-up: building the backend, wrappers and VLM);
RSS flat in N (≤ +10% from N={pipe[0]["n"]} to N={pipe[-1]["n"]}) —
**{"met" if growth <= 0.10 else "not met"}** ({growth:+.0%}).
"""
    print(section)
    if not args.no_write:
        write_section("bench_pipeline", section)


if __name__ == "__main__":
    main()
