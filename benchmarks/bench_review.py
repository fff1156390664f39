"""Does human review keep up with a 100K-item run? Open time and keypress latency of the review queue.

A keypress is what the review app does when a reviewer presses ``a``: record the decision and show
the next pending item (``ReviewQueue.decide`` + ``next_pending``, and ``ReviewController.accept``,
which also renders the view and the progress). Through ``gradio_client`` it is the ``/accept``
endpoint of the running review app (HTTP, queue, JSON included). Synthetic run folders of 1K, 10K and
100K items are copies of one real demo item (``_synthetic_run.py``). Peer: the previous
implementation (``git show REV:ggt_hf/qc/review.py``), which re-read every record twice per
keypress, measured where it is feasible. Targets: median keypress < 50 ms and open < 20 s at 100K.
Writes ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import machine, write_section
from _synthetic_run import make_run, seed_run

from ggt_hf.files.run_store import RunLayout
from ggt_hf.qc.review import ReviewQueue
from ggt_hf.qc.review_app import ReviewController

HERE = Path(__file__).resolve().parent
OLD_REV = "cdf0891"  # last commit with the un-indexed queue


def _fresh(run: Path) -> None:
    RunLayout(run).review_file.unlink(missing_ok=True)


def _median_ms(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return statistics.median(times) * 1000, times[int(0.95 * (len(times) - 1))] * 1000


def bench_queue(run: Path, keys: int) -> dict[str, float]:
    _fresh(run)
    t = time.perf_counter()
    queue = ReviewQueue(run)
    opened = time.perf_counter() - t
    item, times = queue.next_pending(), []
    for _ in range(keys):
        t = time.perf_counter()
        queue.decide(item.id, "accept")
        item = queue.next_pending(after=item.id)
        times.append(time.perf_counter() - t)
    ctl, ctl_times = ReviewController(run), []
    view = ctl.view()
    for _ in range(keys):
        t = time.perf_counter()
        view = ctl.accept(view["item"]["id"])
        ctl_times.append(time.perf_counter() - t)
    return {"open": opened, "key": _median_ms(times), "ctl": _median_ms(ctl_times)}


def bench_gradio(run: Path, keys: int) -> tuple[float, float]:
    from gradio_client import Client

    from ggt_hf.qc.review_app import launch_review

    _fresh(run)
    app = launch_review(run, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(app.local_url, verbose=False)
        view, times = client.predict(api_name="/current"), []
        for _ in range(keys):
            t = time.perf_counter()
            view = client.predict(view["item"]["id"], api_name="/accept")
            times.append(time.perf_counter() - t)
    finally:
        app.close()
    return _median_ms(times)


def bench_gradio_noop(keys: int) -> tuple[float, float]:
    """The same client round trip to an endpoint that does nothing: Gradio's own overhead here."""
    import gradio as gr
    from gradio_client import Client

    with gr.Blocks() as app:

        def echo(item_id: str) -> dict:
            return {"item": {"id": item_id}}

        gr.api(echo, api_name="echo")
    app.launch(prevent_thread_lock=True, quiet=True)
    try:
        client, times = Client(app.local_url, verbose=False), []
        for _ in range(keys):
            t = time.perf_counter()
            client.predict("x", api_name="/echo")
            times.append(time.perf_counter() - t)
    finally:
        app.close()
    return _median_ms(times)


def load_old_queue(work: Path):
    source = subprocess.run(
        ["git", "-C", str(HERE.parent), "show", f"{OLD_REV}:ggt_hf/qc/review.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = work / "old_review.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_review", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_review"] = module
    spec.loader.exec_module(module)
    return module.ReviewQueue


def bench_old(old_queue, run: Path, keys: int) -> tuple[float, float]:
    _fresh(run)
    queue, times = old_queue(run), []
    item = queue.pending()[0]
    for _ in range(keys):
        t = time.perf_counter()
        queue.decide(item.id, "accept")
        item = queue.pending()[0]
        times.append(time.perf_counter() - t)
    return _median_ms(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--old-sizes", default="1000,10000", help="sizes to time the old queue at")
    parser.add_argument("--keys", type=int, default=200, help="keypresses timed per size")
    parser.add_argument("--gradio-keys", type=int, default=40)
    parser.add_argument("--old-keys", type=int, default=3)
    parser.add_argument("--work", default="/tmp/ggt-bench-review")
    args = parser.parse_args()
    work = Path(args.work)
    seed = seed_run(work)
    old_queue = load_old_queue(work)
    rows, old = [], {}
    for n in map(int, args.sizes.split(",")):
        run = make_run(seed, work / "runs" / str(n), n)
        queue = bench_queue(run, args.keys)
        gradio = bench_gradio(run, args.gradio_keys)
        noop = bench_gradio_noop(args.gradio_keys)
        if str(n) in args.old_sizes.split(","):
            old[n] = bench_old(old_queue, run, args.old_keys)
        rows.append((n, queue, gradio, noop))
        print(n, queue, gradio, noop, old.get(n), flush=True)
    lines = [
        "## bench_review: review queue open time and keypress latency at scale",
        "",
        f"Command: `{shlex.join(['python', 'benchmarks/bench_review.py', *sys.argv[1:]])}`  ",
        f"Machine: {machine(('gradio',))}",
        "",
        "Keypress = accept the shown item and get the next pending one; median (p95) in ms. The no-op "
        "endpoint column is the same gradio_client round trip to an endpoint doing nothing (Gradio's own "
        "overhead on this machine at that moment). "
        f"Old = the un-indexed queue of {OLD_REV} (decide + pending()[0]), {args.old_keys} keypresses.",
        "",
        "| items | open (s) | queue keypress ms | app controller ms | gradio_client /accept ms | gradio no-op endpoint ms | old keypress ms | speed-up vs old |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, q, g, e in rows:
        o = old.get(n)
        old_ms = f"{o[0]:.0f}" if o else "not run"
        ratio = f"{o[0] / q['key'][0]:.0f}×" if o else "-"
        lines.append(
            f"| {n:,} | {q['open']:.2f} | {q['key'][0]:.2f} ({q['key'][1]:.2f}) | {q['ctl'][0]:.2f} ({q['ctl'][1]:.2f}) "
            f"| {g[0]:.1f} ({g[1]:.1f}) | {e[0]:.1f} ({e[1]:.1f}) | {old_ms} | {ratio} |"
        )
    write_section(
        "bench_review: review queue open time and keypress latency at scale", "\n".join(lines) + "\n"
    )


if __name__ == "__main__":
    main()
