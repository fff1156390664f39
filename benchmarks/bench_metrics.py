"""How much faster is the metric engine than naive pyiqa for the paper's weight-free FR metrics?

Naive: what a user writes first — one ``pyiqa.create_metric`` per metric, then one call per image
pair with file paths, so pyiqa decodes both images again for every metric. Engine:
``ggt_hf.metrics.engine.MetricEngine`` decodes each pair once, batches, reuses the tensors across
metrics and, on CPU, runs PSNR / SSIM through the exact fast kernels of ``ggt_hf.metrics.fast``.
Same pairs, same run, values compared: the issue's target is ≥5× images/s with max |Δ| ≤ 1e-4.

Decode bound: pairs/s of the engine's own decoder alone (``load_rgb`` of prediction and reference,
in as many threads as the engine's decode workers), measured right before and right after each of
a few extra engine PSNR + SSIM runs, each run's ratio against the mean of its two bounds; the
engine can score no faster than it decodes, and the target for PSNR + SSIM is ≥0.7× that bound.

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
from ggt_hf.metrics.engine import MetricEngine, PairItem, load_rgb
from ggt_hf.pipeline.demo import sample_dir

PAPER_WEIGHT_FREE_FR = ("psnr", "ssim")
METRIC_SETS = (PAPER_WEIGHT_FREE_FR, ("psnr",), ("ssim",), ("ms_ssim",))


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


def decode_bound(pairs, workers: int) -> float:
    """Pairs/s of decoding both images of every pair, as the engine does, in ``workers`` threads."""
    from concurrent.futures import ThreadPoolExecutor

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(lambda pair: (load_rgb(pair[1]), load_rgb(pair[2])), pairs):
            pass
    return len(pairs) / (time.perf_counter() - start)


def run_engine(pairs, metrics, batch_size: int) -> tuple[float, dict[str, dict[str, float]]]:
    start = time.perf_counter()
    engine = MetricEngine(list(metrics), device="cpu", batch_size=batch_size)
    scores = dict(engine.score_pairs([PairItem(k, p, r) for k, p, r in pairs], progress=False))
    return time.perf_counter() - start, scores


def max_delta(a: dict, b: dict, metrics) -> dict[str, float]:
    return {m: max(abs(a[k][m] - b[k][m]) for k in a if k in b) for m in metrics}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=24, help="number of 1024² pairs")
    parser.add_argument("--work", type=Path, default=Path(__file__).parent / "out" / "metrics")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (both methods)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument(
        "--naive-n", type=int, default=None, help="run naive pyiqa on the first N pairs only (default: all)"
    )
    parser.add_argument("--only-main", action="store_true", help="only the PSNR + SSIM row")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of decode bound / engine / decode bound"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    pairs = make_pairs(args.n, args.work)
    naive_pairs = pairs[: args.naive_n] if args.naive_n else pairs
    workers = MetricEngine(["psnr"]).workers
    decode_bound(pairs, workers)  # first touch of the files (page cache) outside the timing
    rows = []
    for metrics in METRIC_SETS[:1] if args.only_main else METRIC_SETS:
        naive_s, naive = run_naive(naive_pairs, metrics)
        engine_s, ours = run_engine(pairs, metrics, args.batch_size)
        delta = max(max_delta(naive, ours, metrics).values())
        naive_rate, engine_rate = len(naive_pairs) / naive_s, args.n / engine_s
        rows.append((", ".join(metrics), naive_rate, engine_rate, engine_rate / naive_rate, delta))
        print(rows[-1], flush=True)
    # Engine (PSNR + SSIM) against the decode bound measured right before and right after it, in
    # several rounds: the machine is shared, so only adjacent measurements are compared.
    rounds = []
    for _ in range(args.rounds):
        before = decode_bound(pairs, workers)
        engine_rate = args.n / run_engine(pairs, PAPER_WEIGHT_FREE_FR, args.batch_size)[0]
        after = decode_bound(pairs, workers)
        rounds.append((before, engine_rate, after, engine_rate / ((before + after) / 2)))
        print("decode bound before / engine / after (pairs/s), ratio:", rounds[-1], flush=True)
    ratios = sorted(r[3] for r in rounds)
    median_ratio = ratios[len(ratios) // 2]
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])])
    table = "\n".join(f"| {m} | {a:.2f} | {b:.2f} | {r:.1f}× | {d:.1e} |" for m, a, b, r, d in rows)
    main_row = rows[0]
    section = f"""## bench_metrics

Command: `{command}` (from the repo root; {args.n} real-photo pairs at 1024², naive pyiqa on
{len(naive_pairs)} of them, {args.threads} torch threads)

Machine: {machine(("torch", "pyiqa"))}

Date: {datetime.date.today().isoformat()}

| metrics | naive pyiqa images/s | engine images/s | engine vs naive | max abs Δ vs pyiqa |
| --- | ---: | ---: | ---: | ---: |
{table}

Naive = one `pyiqa.create_metric` per metric, one call per pair with file paths (pyiqa decodes for
every metric); engine = `MetricEngine` (decode once, batch {args.batch_size}, fast CPU kernels).

Decode bound (the engine's decoder alone, {workers} threads) against the engine's PSNR + SSIM, in
{args.rounds} rounds of bound / engine / bound (pairs/s; ratio = engine / mean of the two bounds):

| round | decode bound before | engine PSNR + SSIM | decode bound after | engine / bound |
| ---: | ---: | ---: | ---: | ---: |
{chr(10).join(f"| {i + 1} | {b:.2f} | {e:.2f} | {a:.2f} | {r:.2f}× |" for i, (b, e, a, r) in enumerate(rounds))}

The engine scores PSNR + SSIM at **{median_ratio:.2f}× the decode bound** (median of the rounds,
range {ratios[0]:.2f}–{ratios[-1]:.2f}; target ≥0.7×).

Target (paper's weight-free FR metrics, PSNR + SSIM together): ≥5× with max |Δ| ≤ 1e-4 —
**{"met" if main_row[3] >= 5 and main_row[4] <= 1e-4 else "not met"}** ({main_row[3]:.1f}×, max |Δ| {main_row[4]:.1e}).
"""
    print(section)
    if not args.no_write:
        write_section("bench_metrics", section)


if __name__ == "__main__":
    main()
