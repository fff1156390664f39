"""How fast is the Space on CPU: cold start, time to the first restored 1024² image, and the
leaderboard with 1,000 result rows?

* **Cold start → first restore → peer, K independent runs** (``--runs``, default 3): each run starts
  ``python spaces/app.py`` in a fresh subprocess (default config, offline) and times it until its
  HTTP server answers ``GET /`` (cold start); then ``gradio_client`` uploads a 1024² PNG (a real
  photo, resized), calls ``/restore`` with the default restorer (``classical``) and downloads the
  lossless PNG: upload → file received (the first restore), then the same call warm (``--repeats``
  times); the Space is stopped. The named peer is timed in this process just before the Space
  starts and just after it stops (``--repeats`` calls each, their median; the load on a shared
  machine moves): the library call the endpoint wraps (``RestoreService.restore`` — restore + NR
  deltas — and the two PNG writes, warm). Each run's ratio is its first restore over
  its peer; the median and the worst run are reported, with each run's figures.
* ``--baseline DIR``: another checkout of ggt-hf (e.g. ``mkdir /tmp/old && git archive main | tar -x -C /tmp/old``) whose
  ``spaces/app.py`` runs the same way in alternating order within each run (same load), for a
  before/after comparison; the peer is this checkout's library call in both.
* **Leaderboard**: the store holds 1,000 result files (one real ``evaluate()`` result of the
  ``classical`` baseline on a packed test split of the bundled sample photos as 256² crops, replicated as 1,000 models with seeded
  per-model jitter on every score, so the table has 1,000 distinct rows); ``/leaderboard`` through
  ``gradio_client`` (store read + table + composite + plot + transfer) in the first run, and its
  parts in-process.

Writes the "Space" section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import copy
import os
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
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


def start_app(
    store_dir: Path, port: int, root: Path = REPO, label: str = "app"
) -> tuple[subprocess.Popen, float]:
    """``python <root>/spaces/app.py`` with ``root`` first on the import path; the process and the
    seconds until its server answers ``GET /``."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GGT_SPACE_STORE": str(store_dir),
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    log = OUT / f"{label}.log"
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(root / "spaces" / "app.py")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "w"),  # noqa: SIM115 - closed with the process
    )
    url = f"http://127.0.0.1:{port}/"
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return proc, time.perf_counter() - start
        except OSError:
            time.sleep(0.05)


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def library_peer(image: Path):
    """The library call ``/restore`` wraps (restore + NR deltas, two PNG writes), warm: a function
    that times it ``n`` times in this process."""
    from ggt_hf.space import SpaceConfig
    from ggt_hf.space.restoration import RestoreService

    service = RestoreService(SpaceConfig(store=str(OUT / "unused"), warm_up=False))
    service.warm_up()  # warm, like the Space's calls

    def call():
        outcome = service.restore(image, "classical")
        service.save_png(outcome.input, "in")
        service.save_png(outcome.output, "out")

    def calls(n: int) -> list[tuple[float, float]]:
        out = []
        for _ in range(n):
            cpu = time.process_time()
            wall, _ = timed(call)
            out.append((wall, time.process_time() - cpu))
        return out

    return calls


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def leaderboard_parts(store_dir: Path) -> dict[str, float]:
    from ggt_hf.leaderboard import LeaderboardStore, leaderboard_frame
    from ggt_hf.space.leaderboard_tab import leaderboard_plot

    store = LeaderboardStore(store_dir)
    t_read, results = timed(store.results)
    t_frame, frame = timed(leaderboard_frame, results)
    t_plot, _ = timed(leaderboard_plot, frame)
    assert len(frame) == N_ROWS, len(frame)
    return {"read": t_read, "frame": t_frame, "plot": t_plot}


@dataclass
class Run:
    """One cold start → first restore of one app (see the module docstring)."""

    number: int
    app: str
    cold: float
    connect: float
    first: float
    #: metric rows in the first answer's deltas table (0: it came without the NR deltas)
    first_deltas: int
    #: CPU seconds the Space's process used during the first restore (all its threads)
    first_cpu: float
    warm: list[float]
    peer: float = 0.0
    peer_cpu: float = 0.0

    @property
    def ratio(self) -> float:
        return self.first / self.peer


def serve_and_restore(
    number: int, app: str, root: Path, store_dir: Path, image: Path, repeats: int, board: bool
):
    """Cold-start the app of ``root``, restore ``image`` first and warm; with ``board``, time the
    leaderboard too. The run and the leaderboard timings (first, warm) or None."""
    from gradio_client import Client, handle_file

    port = free_port()
    proc, cold = start_app(store_dir, port, root, "app" if root == REPO else "app-baseline")
    try:
        t_client, client = timed(Client, f"http://127.0.0.1:{port}/", verbose=False)

        def restore() -> int:
            _, result, deltas, _ = client.predict(handle_file(str(image)), "classical", api_name="/restore")
            assert Image.open(result).size == (1024, 1024)
            return len(deltas["data"])

        cpu = process_cpu(proc.pid)
        first, rows = timed(restore)
        first_cpu = process_cpu(proc.pid) - cpu
        warm = [timed(restore)[0] for _ in range(repeats)]
        boards = None
        if board:

            def leaderboard():
                table, _ = client.predict("overall", [], [], "", "", api_name="/leaderboard")
                assert len(table["data"]) == N_ROWS

            boards = (timed(leaderboard)[0], [timed(leaderboard)[0] for _ in range(repeats)])
        client.close()  # its heartbeat thread would retry a stopped server beside the peer
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return Run(number, app, cold, t_client, first, rows, first_cpu, warm), boards


def uptime() -> str:
    """``uptime``'s line (time, up, users, load averages)."""
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="independent cold start → first restore runs")
    parser.add_argument("--repeats", type=int, default=3, help="warm calls per measurement")
    parser.add_argument(
        "--baseline", type=Path, help="another ggt-hf checkout to run alternately (before/after)"
    )
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    store_dir = OUT / f"store-{os.getpid()}"
    t_seed, _ = timed(seed_results, store_dir)
    image = upload_image(OUT / "upload_1024.png")
    apps = [("this checkout", REPO)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = uptime()
    runs: list[Run] = []
    boards = None
    peer_calls = library_peer(image)
    for k in range(args.runs):
        order = apps if k % 2 == 0 else apps[::-1]
        these = []
        peers = peer_calls(args.repeats)  # the peer brackets the run: before and after, same load
        for name, root in order:
            run, board = serve_and_restore(
                k + 1, name, root, store_dir, image, args.repeats, board=boards is None
            )
            boards = boards or board
            these.append(run)
        peers += peer_calls(args.repeats)
        peer, peer_cpu = (statistics.median(p[i] for p in peers) for i in (0, 1))
        for run in these:
            run.peer, run.peer_cpu = peer, peer_cpu
            print(
                f"run {k + 1} {run.app}: cold {run.cold:.2f} s, first restore {run.first:.2f} s "
                f"({run.first_deltas} delta rows), peer {peer:.2f} s → {run.ratio:.2f}×",
                flush=True,
            )
        runs += these
    load_after = uptime()
    parts = leaderboard_parts(store_dir)
    shutil.rmtree(store_dir)  # 1,000 result files of this run only
    section = report(args, runs, boards, parts, t_seed, date, load_before, load_after)
    print(section)
    write_section("Space", section)


def report(
    args, runs: list[Run], boards, parts: dict[str, float], t_seed: float, date: str, *loads: str
) -> str:
    """The "Space" section of RESULTS.md."""
    med = statistics.median
    command = "python " + " ".join(shlex.quote(a) for a in ["benchmarks/bench_space.py", *sys.argv[1:]])
    lines = [
        "## Space",
        "",
        f"`{command}` — {date}; {machine(('gradio', 'gradio_client', 'torch'))}",
        f"`uptime` before: `{loads[0]}`; after: `{loads[1]}`",
        "",
        "CPU only, offline (`HF_HUB_OFFLINE=1`), default config: restorer `classical`, NR deltas over the "
        "paper's NR metrics + PIQE (offline only PIQE has its weights; the others are dropped at start-up). "
        "1024² upload = a real photo resized, darkened and blurred. Each run: cold start → first restore "
        "through `gradio_client` → warm restores → Space stopped; peer = the library call the endpoint "
        f"wraps, in-process, warm, median of {args.repeats} calls just before the start and "
        f"{args.repeats} just after the stop. CPU s: the CPU time the Space's process used (all its threads, "
        "from `/proc`) while the first restore was served — a warm-up thread's imports included — against "
        "the peer's; less sensitive than wall time to the other processes on a shared machine.",
        "",
        "| run | app | cold start: `python spaces/app.py` until `GET /` answers | first restored 1024² image "
        "(upload → `/restore` → PNG received) | NR delta rows in it | warm restore (median) | peer | "
        "**first / peer** | launch → first image | CPU s: Space process in the first restore / peer |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        lines.append(
            f"| {run.number} | {run.app} | {run.cold:.2f} | {run.first:.2f} | {run.first_deltas} | "
            f"{med(run.warm):.2f} | {run.peer:.2f} | **{run.ratio:.2f}×** | "
            f"{run.cold + run.connect + run.first:.2f} | {run.first_cpu:.2f} / {run.peer_cpu:.2f} |"
        )
    lines.append("")
    for app in dict.fromkeys(r.app for r in runs):
        mine = [r for r in runs if r.app == app]
        ratios = [r.ratio for r in mine]
        lines.append(
            f"- **{app}**: first restore / library call over {len(mine)} runs: median **{med(ratios):.2f}×**, "
            f"worst **{max(ratios):.2f}×** (target ≤ 2×); cold start median {med([r.cold for r in mine]):.2f} s "
            f"(worst {max(r.cold for r in mine):.2f} s); launch → first restored image median "
            f"{med([r.cold + r.connect + r.first for r in mine]):.2f} s; warm Space overhead "
            f"{med([med(r.warm) - r.peer for r in mine]):.2f} s over the library call; CPU time of the first "
            f"restore / the peer's: median {med([r.first_cpu / r.peer_cpu for r in mine]):.2f}×, worst "
            f"{max(r.first_cpu / r.peer_cpu for r in mine):.2f}×; first / warm restore of the same Space: "
            f"median {med([r.first / med(r.warm) for r in mine]):.2f}×, worst "
            f"{max(r.first / med(r.warm) for r in mine):.2f}×."
        )
    board_first, board_warm = boards
    lines += [
        "",
        "| leaderboard (first run) | seconds |",
        "|---|---|",
        f"| **{N_ROWS:,} result rows** via `/leaderboard` (first call) | **{board_first:.2f}** |",
        f"| {N_ROWS:,} rows, warm (median of {args.repeats}) | {med(board_warm):.2f} |",
        f"| in-process parts: read {N_ROWS:,} result files / table + composite / plot | "
        f"{parts['read']:.2f} / {parts['frame']:.2f} / {parts['plot']:.2f} |",
        "",
        f"Seeding the {N_ROWS:,} results took {t_seed:.1f} s.",
        "",  # a blank line before the next section
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
