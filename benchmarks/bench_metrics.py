"""How much faster is the metric engine than naive pyiqa for the paper's weight-free FR metrics?

Naive: what a user writes first — one ``pyiqa.create_metric`` per metric, then one call per image
pair with file paths, so pyiqa decodes both images again for every metric. Engine:
``ggt_hf.metrics.engine.MetricEngine`` decodes each pair once, batches, reuses the tensors across
metrics and, on CPU, runs PSNR / SSIM through the exact fast kernels of ``ggt_hf.metrics.fast``.
Same pairs, same run, values compared: the issue's target is ≥5× images/s with max |Δ| ≤ 1e-4.

Pairs: N real photos (scikit-image's and ggt-hf's bundled samples) normalised to 1024² as HQ, and
a ``ggt_hf.degrade`` degradation of each as the prediction, written once to the work folder.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _common import machine, write_section
from PIL import Image

from ggt_hf.constants import CATEGORIES
from ggt_hf.degrade import degrade
from ggt_hf.imaging.images import load_image
from ggt_hf.ingest.normalize import NormalizePolicy
from ggt_hf.metrics.engine import MetricEngine, PairItem
from ggt_hf.pipeline.demo import sample_dir

PAPER_WEIGHT_FREE_FR = ("psnr", "ssim")


def make_pairs(n: int, work: Path) -> list[tuple[str, Path, Path]]:
    """N (key, prediction, reference) PNG pairs at 1024², cached in ``work``."""
    work.mkdir(parents=True, exist_ok=True)
    photos = sorted(p for p in sample_dir().iterdir() if p.suffix in {".png", ".jpg"})
    policy = NormalizePolicy()
    pairs = []
    for i in range(n):
        ref_path, pred_path = work / f"ref{i}.png", work / f"pred{i}.png"
        if not (ref_path.exists() and pred_path.exists()):
            img = load_image(photos[i % len(photos)]).image
            if i >= len(photos):  # a different view of the photo for every round
                img = img.rotate(90 * (i // len(photos)), expand=True)
            ref = policy.plan(img.size).apply(img)
            pred = degrade(np.asarray(ref), CATEGORIES[i % len(CATEGORIES)], seed=i).image
            ref.save(ref_path, compress_level=1)
            Image.fromarray(pred).save(pred_path, compress_level=1)
        pairs.append((f"p{i}", pred_path, ref_path))
    return pairs


def run_naive(pairs, metrics) -> tuple[float, dict[str, dict[str, float]]]:
    import pyiqa

    scores: dict[str, dict[str, float]] = {k: {} for k, _, _ in pairs}
    start = time.perf_counter()
    for name in metrics:
        metric = pyiqa.create_metric(name, device="cpu")
        for key, pred, ref in pairs:
            scores[key][name] = float(metric(str(pred), str(ref)))
    return time.perf_counter() - start, scores


def run_engine(pairs, metrics, batch_size: int) -> tuple[float, dict[str, dict[str, float]]]:
    start = time.perf_counter()
    engine = MetricEngine(list(metrics), device="cpu", batch_size=batch_size)
    scores = dict(engine.score_pairs([PairItem(k, p, r) for k, p, r in pairs], progress=False))
    return time.perf_counter() - start, scores


def max_delta(a: dict, b: dict, metrics) -> dict[str, float]:
    return {m: max(abs(a[k][m] - b[k][m]) for k in a) for m in metrics}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=24, help="number of 1024² pairs")
    parser.add_argument("--work", type=Path, default=Path(__file__).parent / "out" / "metrics")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (both methods)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    pairs = make_pairs(args.n, args.work)
    rows = []
    for metrics in (PAPER_WEIGHT_FREE_FR, ("psnr",), ("ssim",), ("ms_ssim",)):
        naive_s, naive = run_naive(pairs, metrics)
        engine_s, ours = run_engine(pairs, metrics, args.batch_size)
        delta = max(max_delta(naive, ours, metrics).values())
        rows.append((", ".join(metrics), args.n / naive_s, args.n / engine_s, naive_s / engine_s, delta))
        print(rows[-1], flush=True)
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])])
    table = "\n".join(f"| {m} | {a:.2f} | {b:.2f} | {r:.1f}× | {d:.1e} |" for m, a, b, r, d in rows)
    main_row = rows[0]
    section = f"""## bench_metrics

Command: `{command}` (from the repo root; {args.n} real-photo pairs at 1024², {args.threads} torch threads)

Machine: {machine(("torch", "pyiqa"))}

Date: {datetime.date.today().isoformat()}

| metrics | naive pyiqa images/s | engine images/s | engine vs naive | max abs Δ vs pyiqa |
| --- | ---: | ---: | ---: | ---: |
{table}

Naive = one `pyiqa.create_metric` per metric, one call per pair with file paths (pyiqa decodes for
every metric); engine = `MetricEngine` (decode once, batch {args.batch_size}, fast CPU kernels).

Target (paper's weight-free FR metrics, PSNR + SSIM together): ≥5× with max |Δ| ≤ 1e-4 —
**{"met" if main_row[3] >= 5 and main_row[4] <= 1e-4 else "not met"}** ({main_row[3]:.1f}×, max |Δ| {main_row[4]:.1e}).
"""
    print(section)
    if not args.no_write:
        write_section("bench_metrics", section)


if __name__ == "__main__":
    main()
