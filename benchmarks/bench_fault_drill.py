"""Fault drill: random ``kill -9`` during ``ggt build`` (all stages, pack included) with resume, and
two concurrent runs on one folder.

Each round starts ``ggt build CONFIG`` and kills it after a random delay drawn over the length of an
uninterrupted run (seeded), until a run finishes. Every call that reaches the backend is logged by
the child (``start``/``done`` lines, appended with O_APPEND); a call is *repeated* when the same
request (item, seed, prompt) completed twice. Checks: the final dataset is byte-identical to the
uninterrupted reference, no completed call was repeated, and of two builds started together one
is refused ("run in use by PID ...") and the calls are not doubled. Writes RESULTS.md.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import random
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from _common import machine, write_section
from PIL import Image

from ggt_hf.constants import CATEGORIES
from ggt_hf.degrade import degrade
from ggt_hf.demo import sample_dir

CHILD = """
import hashlib, os, sys
from ggt_hf.backends.classical import ClassicalBackend
log, original = os.environ["DRILL_LOG"], ClassicalBackend.restore
def note(line):
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, (line + "\\n").encode()); os.close(fd)
def logged(self, request):
    key = f"{request.item_id}:{request.seed}:{hashlib.sha1((request.prompt or '').encode()).hexdigest()[:8]}"
    note("start " + key)
    result = original(self, request)
    note("done " + key)
    return result
ClassicalBackend.restore = logged
from ggt_hf.cli import main
sys.exit(main())
"""


def make_inputs(work: Path, n: int) -> None:
    photos = work / "photos"
    names = ["astronaut.png", "camera.png", "chelsea.png", "coffee.png", "rocket.jpg"]
    for i in range(n):
        category = CATEGORIES[i % len(CATEGORIES)]
        clean = Image.open(sample_dir() / names[i % len(names)]).convert("RGB").resize((192, 192))
        if i >= len(names):
            clean = clean.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        (photos / category).mkdir(parents=True, exist_ok=True)
        Image.fromarray(degrade(np.asarray(clean), category, seed=i).image).save(
            photos / category / f"p{i}.png"
        )


def write_config(work: Path, name: str) -> Path:
    config = {
        "name": "drill",
        "output": name,
        "sources": [{"path": "photos", "license": "cc0-1.0"}],
        "backend": {"name": "classical", "concurrency": 2, "base_delay": 0.0},
        "qc": {"metric_thresholds": {"piqe": -100.0}, "max_attempts": 3},
        "image_size": 128,
        "min_side": 64,
        "workers": 2,
    }
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start(config: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, "build", str(config)],
        cwd=config.parent,
        env={**__import__("os").environ, "DRILL_LOG": str(log)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def dataset(run: Path) -> dict[str, str]:
    root = run / "dataset"
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.parquet"))
        if "/." not in p.relative_to(root).as_posix()
    }


def calls(log: Path) -> tuple[int, int, int]:
    lines = log.read_text().splitlines() if log.exists() else []
    done = collections.Counter(line[5:] for line in lines if line.startswith("done "))
    started = sum(line.startswith("start ") for line in lines)
    return started, sum(done.values()), sum(c - 1 for c in done.values() if c > 1)


def stage_hit(run: Path) -> str:
    """Where a killed run was: starting/ingesting, generating, or packing (all items final)."""
    import json

    items = sorted((run / "items").glob("*.json")) if (run / "items").is_dir() else []
    if not items:
        return "start-up/ingest"
    states = []
    for path in items:
        try:
            states.append(json.loads(path.read_text())["state"])
        except ValueError:
            states.append("torn")
    return "pack/report" if all(s in ("accepted", "rejected", "failed") for s in states) else "generate"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--items", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default="/tmp/ggt-fault-drill")
    args = parser.parse_args()
    work = Path(args.work)
    subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    make_inputs(work, args.items)
    rng = random.Random(args.seed)

    t = time.perf_counter()
    ref = start(write_config(work, "reference"), work / "reference.log")
    ref.communicate()
    reference_seconds = time.perf_counter() - t
    assert ref.returncode == 0, ref.stderr[-2000:]
    _, ref_completed, _ = calls(work / "reference.log")

    trials, hits = [], collections.Counter()
    while sum(t["kills"] for t in trials) < args.kills:
        name = f"killed{len(trials)}"
        config, log = write_config(work, name), work / f"{name}.log"
        kills, starts = 0, 0
        while True:
            starts += 1
            proc = start(config, log)
            try:
                proc.wait(timeout=rng.uniform(0.2, reference_seconds))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                kills += 1
                hits[stage_hit(work / name)] += 1
                continue
            if proc.returncode != 0:
                raise SystemExit(f"resume failed (exit {proc.returncode}):\n{proc.stderr.read()[-3000:]}")
            break
        _, completed, repeated = calls(log)
        same = dataset(work / name) == dataset(work / "reference")
        trials.append(
            {
                "kills": kills,
                "starts": starts,
                "identical": same,
                "completed": completed,
                "repeated": repeated,
            }
        )
        print(trials[-1], flush=True)
    kills = sum(t["kills"] for t in trials)
    identical = all(t["identical"] for t in trials)
    repeated = sum(t["repeated"] for t in trials)

    concurrent_config, concurrent_log = write_config(work, "concurrent"), work / "concurrent.log"
    pair = [start(concurrent_config, concurrent_log) for _ in range(2)]
    outcomes = [(p.wait(timeout=900), p.stderr.read()) for p in pair]
    refused = [err for code, err in outcomes if code != 0 and "in use by PID" in err]
    ok = [code for code, _ in outcomes if code == 0]
    _, c_completed, c_repeated = calls(concurrent_log)

    lines = [
        "## bench_fault_drill: random kill -9 during build and pack, then resume; two concurrent runs",
        "",
        f"Command: `{shlex.join(['python', 'benchmarks/bench_fault_drill.py', *sys.argv[1:]])}`  ",
        f"Machine: {machine()}",
        "",
        f"{args.items} photos, classical backend, QC up to 3 attempts. Uninterrupted reference run: "
        f"{reference_seconds:.1f} s, {ref_completed} backend calls.",
        "",
        f"- {kills} kills over {len(trials)} trials (each: kill at a random delay until a run finishes, in a "
        f"fresh folder); the process was killed during: "
        + ", ".join(f"{k} ×{v}" for k, v in sorted(hits.items())),
        f"- every trial's dataset byte-identical to the reference: **{identical}**",
        f"- completed backend calls per trial: {[t['completed'] for t in trials]} (reference {ref_completed}); "
        f"**{repeated} completed call(s) repeated** in all",
        f"- two concurrent `ggt build` on one folder: {len(ok)} finished, {len(refused)} refused with "
        f'"run in use by PID ..."; {c_completed} calls completed, {c_repeated} repeated',
    ]
    if refused:
        lines.append(f"- refusal message: `{refused[0].strip().splitlines()[-1]}`")
    write_section(
        "bench_fault_drill: random kill -9 during build and pack, then resume; two concurrent runs",
        "\n".join(lines) + "\n",
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
