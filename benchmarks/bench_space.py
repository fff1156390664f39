"""How fast is the Space on CPU: cold start, time to the first restored 1024² image, and the
leaderboard with 1,000 result rows?

* **Cold start**: ``python spaces/app.py`` in a fresh subprocess (default config, offline) until its
  HTTP server answers ``GET /``.
* **Time to first restored image**: right after the cold start, ``gradio_client`` uploads a 1024²
  PNG (a real photo, resized), calls ``/restore`` with the default restorer (``classical``) and
  downloads the lossless PNG: upload → file received. Then the same call warm (median of N). The
  named peer is the library call the endpoint wraps (``RestoreService.restore`` + PNG writes,
  in-process, warm): the difference is what the Space adds (upload, queue, encode, download).
* **Leaderboard**: the store holds 1,000 result files (one real ``evaluate()`` result of the
  ``classical`` baseline on a packed test split of the bundled sample photos as 256² crops, replicated as 1,000 models with seeded
  per-model jitter on every score, so the table has 1,000 distinct rows); ``/leaderboard`` through
  ``gradio_client`` (store read + table + composite + plot + transfer), and its parts in-process.

Writes the "Space" section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import copy
import os
import shlex
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
from _common import machine, write_section
from PIL import Image, ImageFilter

from ggt_hf.pipeline.demo import sample_dir

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out" / "space"
N_ROWS = 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def upload_image(path: Path) -> Path:
    """A 1024² PNG from a real photo, darkened and blurred so the baseline has work to do."""
    img = Image.open(sample_dir() / "astronaut.png").convert("RGB").resize((1024, 1024), Image.LANCZOS)
    img = img.filter(ImageFilter.GaussianBlur(1.5)).point(lambda v: int(v * 0.5))
    img.save(path)
    return path


def seed_results(store_dir: Path) -> None:
    """1,000 result files from one real evaluate() result (see the module docstring)."""
    from ggt_hf.backends.base import RestoreRequest
    from ggt_hf.backends.classical import ClassicalBackend
    from ggt_hf.constants import CATEGORIES
    from ggt_hf.evaluation.restorer_eval import evaluate
    from ggt_hf.hub.pack import PackConfig, pack
    from ggt_hf.hub.pairs import pairs_from_dir
    from ggt_hf.leaderboard import LeaderboardStore
    from ggt_hf.metrics.specs import get_spec

    work = OUT / "split"
    if not (work / "dataset").exists():
        photos = sorted(p for p in sample_dir().iterdir() if p.suffix in {".png", ".jpg"})
        for i, photo in enumerate(photos):
            img = Image.open(photo).convert("RGB")
            side = min(img.size)
            hq = img.crop((0, 0, side, side)).resize((256, 256), Image.LANCZOS)
            lq = hq.filter(ImageFilter.GaussianBlur(1.2)).point(lambda v: int(v * 0.7))
            for name, im in (("lq", lq), ("hq", hq)):
                (work / "pairs" / name / CATEGORIES[i % 6]).mkdir(parents=True, exist_ok=True)
                im.save(work / "pairs" / name / CATEGORIES[i % 6] / f"b{i}.png")
            (work / "pred").mkdir(parents=True, exist_ok=True)
            ClassicalBackend().restore(RestoreRequest(lq)).image.save(work / "pred" / f"b{i}.png")
        records, problems = pairs_from_dir(work / "pairs", split="test")
        pack(records, work / "dataset", PackConfig(), problems=problems, progress=False)
    specs = [get_spec(m) for m in ("psnr", "ssim", "ms_ssim", "piqe")]
    base = evaluate(work / "pred", str(work / "dataset"), metrics=specs, model="classical", progress=False)
    template = base.to_json()
    rng = np.random.default_rng(0)
    store = LeaderboardStore(store_dir)
    for k in range(N_ROWS):
        result = copy.deepcopy(template)
        result["model"] = f"model-{k:04d}"
        for block in (result["overall"], *result["per_category"].values()):
            for name in block:
                block[name] *= float(rng.uniform(0.9, 1.1))
        result["per_image"] = {}  # the table reads the aggregates; keeps 1,000 files small
        store.add_result(result, {"model_type": "predictions", "model_repo": f"bench/model-{k:04d}"})


def start_app(store_dir: Path, port: int) -> tuple[subprocess.Popen, float]:
    env = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GGT_SPACE_STORE": str(store_dir),
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "spaces" / "app.py")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(OUT / "app.log", "w"),  # noqa: SIM115 - closed with the process
    )
    url = f"http://127.0.0.1:{port}/"
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited with {proc.returncode}; see {OUT / 'app.log'}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return proc, time.perf_counter() - start
        except OSError:
            time.sleep(0.1)


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def library_peer(image: Path, repeats: int) -> list[float]:
    from ggt_hf.space import SpaceConfig
    from ggt_hf.space.restoration import RestoreService

    service = RestoreService(SpaceConfig(store=str(OUT / "unused"), warm_up=False))
    service.metric_engine()  # warm, like the warm Space calls

    def call():
        outcome = service.restore(image, "classical")
        service.save_png(outcome.input, "in")
        service.save_png(outcome.output, "out")

    return [timed(call)[0] for _ in range(repeats)]


def leaderboard_parts(store_dir: Path) -> dict[str, float]:
    from ggt_hf.leaderboard import LeaderboardStore, leaderboard_frame
    from ggt_hf.space.leaderboard_tab import leaderboard_plot

    store = LeaderboardStore(store_dir)
    t_read, results = timed(store.results)
    t_frame, frame = timed(leaderboard_frame, results)
    t_plot, _ = timed(leaderboard_plot, frame)
    assert len(frame) == N_ROWS, len(frame)
    return {"read": t_read, "frame": t_frame, "plot": t_plot}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="warm calls per measurement")
    args = parser.parse_args()
    from gradio_client import Client, handle_file

    OUT.mkdir(parents=True, exist_ok=True)
    store_dir = OUT / f"store-{os.getpid()}"
    t_seed, _ = timed(seed_results, store_dir)
    image = upload_image(OUT / "upload_1024.png")

    port = free_port()
    proc, cold = start_app(store_dir, port)
    try:
        t_client, client = timed(Client, f"http://127.0.0.1:{port}/", verbose=False)

        def restore():
            _, result, _, _ = client.predict(handle_file(str(image)), "classical", api_name="/restore")
            assert Image.open(result).size == (1024, 1024)

        first, _ = timed(restore)
        warm = [timed(restore)[0] for _ in range(args.repeats)]

        def board():
            table, _ = client.predict("overall", [], [], "", "", api_name="/leaderboard")
            assert len(table["data"]) == N_ROWS

        board_first, _ = timed(board)
        board_warm = [timed(board)[0] for _ in range(args.repeats)]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    peer = library_peer(image, args.repeats)
    parts = leaderboard_parts(store_dir)

    med = statistics.median
    command = "python " + " ".join(shlex.quote(a) for a in ["benchmarks/bench_space.py", *sys.argv[1:]])
    lines = [
        "## Space",
        "",
        f"`{command}` — {machine(('gradio', 'gradio_client', 'torch'))}",
        "",
        "CPU only, offline (`HF_HUB_OFFLINE=1`), default config: restorer `classical`, NR deltas over the "
        "paper's NR metrics + PIQE (offline only PIQE has its weights; the others are dropped at start-up "
        "in a background thread). 1024² upload = a real photo resized, darkened and blurred.",
        "",
        "| measurement | seconds |",
        "|---|---|",
        f"| cold start: `python spaces/app.py` until `GET /` answers | {cold:.2f} |",
        f"| gradio_client connect | {t_client:.2f} |",
        f"| **first restored 1024² image** (upload → `/restore` → PNG received), right after start | "
        f"**{first:.2f}** |",
        f"| restored 1024² image, warm (median of {args.repeats}) | {med(warm):.2f} |",
        f"| peer: the library call it wraps, in-process, warm (median of {args.repeats}) | {med(peer):.2f} |",
        f"| **leaderboard, {N_ROWS:,} result rows** via `/leaderboard` (first call) | **{board_first:.2f}** |",
        f"| leaderboard, {N_ROWS:,} rows, warm (median of {args.repeats}) | {med(board_warm):.2f} |",
        f"| in-process parts: read {N_ROWS:,} result files / table + composite / plot | "
        f"{parts['read']:.2f} / {parts['frame']:.2f} / {parts['plot']:.2f} |",
        "",
        f"Space overhead on a warm restore: {med(warm) - med(peer):.2f} s "
        f"({med(warm) / med(peer):.2f}× the library call). Seeding the {N_ROWS:,} results took {t_seed:.1f} s.",
    ]
    section = "\n".join(lines)
    print(section)
    write_section("Space", section)


if __name__ == "__main__":
    main()
