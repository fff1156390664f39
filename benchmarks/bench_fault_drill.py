"""Fault drill: random ``kill -9`` during ``ggt build`` (all stages, pack included) with resume, and
two concurrent runs on one folder.

Each round starts ``ggt build CONFIG`` and kills it after a random delay drawn over the length of an
uninterrupted run (seeded), until a run finishes. Every call that reaches the backend is logged by
the child (``start``/``done`` lines, appended with O_APPEND); a call is *repeated* when the same
request (item, seed, prompt) completed twice. Checks: the final dataset is byte-identical to the
uninterrupted reference, no completed call was repeated, and of two builds started together one
is refused ("run in use by PID ...") and the calls are not doubled.

Trust cases (issue 21, ``--only trust``): each attack is really performed, as a user or an attacker
would, by running ``ggt ...`` with relative paths in a fresh temporary folder, and its outcome is
counted from the files on disk afterwards (user files lost, leaked test pairs, source files changed,
...). Each case is one small function returning its figures. Writes two RESULTS.md sections.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
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


def kill_drill(args: argparse.Namespace) -> None:
    """Random kill -9 during build and pack, resume, and two concurrent builds; writes its section."""
    work = Path(args.work) / "kill"
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


# ---------------------------------------------------------------------------------------------
# Trust cases (issue 21). Each case performs one attack for real, in a fresh temporary folder, and
# counts its outcome from what is on disk afterwards. A case returns a list of figures:
# (figure, value, bound, note) where bound is the value it must have ("0") or "-" when the figure
# is a measurement to report, not a pass/fail count.

REPO = Path(__file__).resolve().parents[1]
Figure = tuple[str, object, str, str]


def ggt(cwd: Path, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``ggt ARGV`` run from ``cwd`` as a user would type it (this checkout's ggt_hf on the path)."""
    exe = shutil.which("ggt")
    cmd = (
        [exe, *argv]
        if exe
        else [sys.executable, "-c", "import sys; from ggt_hf.cli import main; sys.exit(main())", *argv]
    )
    return subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO)}


def fresh(work: Path, case: str) -> Path:
    """A new empty folder for one case (the user's current directory for its commands)."""
    folder = work / case
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def make_pairs(root: Path, names: list[str], seed: int, size: int = 64, category: str = "rain") -> None:
    """``root/{lq,hq}/<category>/<name>.png``: tiny random RGB images, distinct per pair."""
    rng = np.random.default_rng(seed)
    for name in names:
        for side in ("lq", "hq"):
            path = root / side / category / f"{name}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every regular file under ``root``, by relative path."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def lost(before: dict[str, str], root: Path) -> int:
    """How many of the files in ``before`` are now missing under ``root`` or changed."""
    after = snapshot(root) if root.is_dir() else {}
    return sum(after.get(name) != digest for name, digest in before.items())


def last_line(proc: subprocess.CompletedProcess) -> str:
    lines = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
    return lines[-1][:200] if lines else ""


def case_pack_into_user_folder(work: Path) -> list[Figure]:
    """Point 1: ``ggt pack pairs userout`` where userout holds the user's README.md and assets/."""
    cwd = fresh(work, "pack-user-folder")
    make_pairs(cwd / "pairs", [f"p{i}" for i in range(4)], seed=1)
    (cwd / "userout" / "assets").mkdir(parents=True)
    (cwd / "userout" / "README.md").write_text("mine\n")
    (cwd / "userout" / "assets" / "logo.png").write_text("x\n")
    before = snapshot(cwd / "userout")
    proc = ggt(cwd, "pack", "pairs", "userout")
    note = f"exit {proc.returncode}: `{last_line(proc)}`"
    return [(f"user files lost in `userout` (of {len(before)})", lost(before, cwd / "userout"), "0", note)]


def case_repack_keeps_user_files(work: Path) -> list[Figure]:
    """Point 1: a re-pack must keep a note and a backup folder the user put in data/rain/."""
    cwd = fresh(work, "repack-user-files")
    make_pairs(cwd / "pairs", [f"p{i}" for i in range(4)], seed=2)
    first = ggt(cwd, "pack", "pairs", "ds")
    rain = cwd / "ds" / "data" / "rain"
    (rain / "notes.txt").write_text("n\n")
    (rain / "backup").mkdir()
    (rain / "backup" / "old.txt").write_text("b\n")
    before = {k: v for k, v in snapshot(cwd / "ds").items() if k.endswith(".txt")}
    second = ggt(cwd, "pack", "pairs", "ds")
    note = f"exits {first.returncode}, {second.returncode}"
    return [
        (
            f"user files lost in `ds/data/rain/` on re-pack (of {len(before)})",
            lost(before, cwd / "ds"),
            "0",
            note,
        )
    ]


def case_overlapping_source_output(work: Path) -> list[Figure]:
    """Point 1: pack a source inside the output (and ``ggt pack pairs pairs``); the source must stay."""
    cwd = fresh(work, "pack-overlap")
    make_pairs(cwd / "pairs", [f"p{i}" for i in range(4)], seed=3)
    ggt(cwd, "pack", "pairs", "X")
    src = cwd / "X" / "data" / "rain" / "src"
    src.mkdir(parents=True)
    for side in ("lq", "hq"):
        shutil.copytree(cwd / "pairs" / side, src / side)
    inside = snapshot(src)
    same = snapshot(cwd / "pairs")
    attacks = [
        ggt(cwd, "pack", "X/data/rain/src", "X", "--category", "rain"),
        ggt(cwd, "pack", "pairs", "pairs"),
        ggt(cwd, "pack", "pairs", "pairs/lq"),
    ]
    files_lost = lost(inside, src) + lost(same, cwd / "pairs")
    note = f"exits {[a.returncode for a in attacks]}: `{last_line(attacks[0])}`"
    return [
        (f"source files lost or changed (of {len(inside) + len(same)})", files_lost, "0", note),
        (
            f"overlapping packs accepted (exit 0, of {len(attacks)})",
            sum(a.returncode == 0 for a in attacks),
            "0",
            "",
        ),
    ]


def _rows(ds: Path, split: str) -> list[tuple[str, str]]:
    """(LQ sha256, HQ sha256) of every row of ``split`` in the packed dataset ``ds``."""
    import pyarrow.parquet as pq

    rows = []
    for shard in sorted(ds.glob(f"data/*/{split}-*.parquet")):
        table = pq.read_table(shard, columns=["lq", "hq"]).to_pylist()
        rows += [
            tuple(hashlib.sha256(row[side]["bytes"]).hexdigest() for side in ("lq", "hq")) for row in table
        ]
    return rows


def leaked_pairs(ds: Path) -> int:
    """Test pairs of ``ds`` whose LQ or HQ image (by content) is also in the train split."""
    train = {h for row in _rows(ds, "train") for h in row}
    return sum(lq in train or hq in train for lq, hq in _rows(ds, "test"))


def case_two_packs_at_once(work: Path, rounds: int = 3, n: int = 40) -> list[Figure]:
    """Point 2: ``ggt pack train ds --split train`` and ``ggt pack test ds --split test`` started
    together, where test holds copies of the train pairs; then the refused one run again alone."""
    leaked, both_ok, retried_ok, outcomes = 0, 0, 0, []
    for r in range(rounds):
        cwd = fresh(work, f"two-packs-{r}")
        make_pairs(cwd / "train", [f"p{i}" for i in range(n)], seed=10 + r)
        for side in ("lq", "hq"):
            for i in range(n):
                dst = cwd / "test" / side / "rain" / f"t{i}.png"
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(cwd / "train" / side / "rain" / f"p{i}.png", dst)
        procs = [
            subprocess.Popen(
                [shutil.which("ggt") or "ggt", "pack", split, "ds", "--split", split],
                cwd=cwd,
                env=_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for split in ("train", "test")
        ]
        codes = [p.wait(timeout=300) for p in procs]
        for p in procs:
            p.communicate()
        both_ok += codes == [0, 0]
        outcomes.append(codes)
        for split, code in zip(("train", "test"), codes, strict=True):
            if code != 0:
                retried_ok += ggt(cwd, "pack", split, "ds", "--split", split).returncode == 0
        leaked += leaked_pairs(cwd / "ds")
    forced = ggt(cwd, "pack", "test", "ds", "--split", "test", "--force")
    check = ggt(cwd, "validate", "ds")
    kept = leaked_pairs(cwd / "ds")
    flagged = len(
        set(re.findall(r"\(id '([^']+)'\): [LH]Q identical to the test", check.stdout + check.stderr))
    )
    return [
        (
            f"leaked test pairs in `ds` after {rounds} rounds of two concurrent packs ({n} copies each)",
            leaked,
            "0",
            f"exit codes per round {outcomes}",
        ),
        ("rounds where both concurrent packs exited 0", both_ok, "0", ""),
        (
            "refused pack re-run alone afterwards and accepted (exit 0)",
            retried_ok,
            "0",
            "the leak check sees the other split",
        ),
        (
            f"`ggt validate` after `--force` kept {kept} leaks: leaked pairs flagged",
            flagged,
            str(kept),
            f"validate exit {check.returncode}, pack exit {forced.returncode}",
        ),
    ]


def case_restore_onto_input(work: Path) -> list[Figure]:
    """Point 3: ``ggt restore`` with the output on (or inside, or around) its own input."""
    cwd = fresh(work, "restore-overlap")
    rng = np.random.default_rng(4)
    (cwd / "in").mkdir()
    for name in ("in/p0.png", "in/p1.png", "photo.png"):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(cwd / name)
    before = snapshot(cwd)
    attacks = [
        ggt(cwd, "restore", "--model", "classical", *pair)
        for pair in (
            ("photo.png", "photo.png", "--overwrite"),
            ("photo.png", "photo.png"),
            ("in", "in"),
            ("in", "."),
            (".", "in/out"),
        )
    ]
    offered = sum("--overwrite" in a.stderr + a.stdout for a in attacks[1:2])
    return [
        (
            f"source files changed (of {len(before)})",
            lost(before, cwd),
            "0",
            f"exits {[a.returncode for a in attacks]}",
        ),
        (
            f"overlapping restores that exit 0 (of {len(attacks)})",
            sum(a.returncode == 0 for a in attacks),
            "0",
            f"`{last_line(attacks[2])}`",
        ),
        ("restore onto its source that suggests `--overwrite`", offered, "0", ""),
    ]


TRUST_CASES: list[tuple[str, str, Callable[[Path], list[Figure]]]] = [
    ("1", "pack into a folder holding the user's files", case_pack_into_user_folder),
    ("1", "re-pack a dataset where the user keeps notes", case_repack_keeps_user_files),
    ("1", "source and output overlap", case_overlapping_source_output),
    ("2", "two packs into one output at once", case_two_packs_at_once),
    ("3", "restore onto its own input", case_restore_onto_input),
]


def trust_drill(args: argparse.Namespace) -> None:
    """Run every trust case, print and write the RESULTS.md section."""
    work = Path(args.work) / "trust"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rows, failed, t0 = [], [], time.perf_counter()
    for point, attack, case in TRUST_CASES:
        t = time.perf_counter()
        try:
            figures = case(work)
        except Exception as exc:  # a case that cannot run is reported, the others go on
            figures = [("case did not run", f"{type(exc).__name__}: {exc}"[:200], "-", "")]
            failed.append(attack)
        seconds = time.perf_counter() - t
        for figure, value, bound, note in figures:
            bad = bound != "-" and str(value) != bound
            rows.append((point, attack, figure, value, bound, note, bad))
            print(f"[{point}] {attack}: {figure} = {value} (must be {bound}) {note}", flush=True)
        print(f"    ({seconds:.1f} s)", flush=True)
    total = time.perf_counter() - t0
    off = [r for r in rows if r[6]]
    title = "bench_fault_drill: trust cases (issue 21)"
    lines = [
        f"## {title}",
        "",
        f"Command: `{shlex.join(['python', 'benchmarks/bench_fault_drill.py', *sys.argv[1:]])}`  ",
        f"Machine: {machine()}",
        "",
        f"Each attack is performed for real: `ggt ...` run with relative paths in a fresh temporary folder "
        f"(64² random images), its outcome counted from the files on disk afterwards. {len(TRUST_CASES)} cases, "
        f"{total:.0f} s in all. Issue point in the first column; *must be* is the value the issue asks for "
        f'("-": a measurement).',
        "",
        "| point | attack | figure | value | must be | exit codes / message |",
        "|---|---|---|---:|---:|---|",
    ]
    for point, attack, figure, value, bound, note, bad in rows:
        shown = f"**{value}**" if bad else str(value)
        lines.append(f"| {point} | {attack} | {figure} | {shown} | {bound} | {note.replace('|', '/')} |")
    lines.append("")
    lines.append(
        f"**{len(off)} figure(s) off their bound**"
        + (": " + "; ".join(f"{r[1]}: {r[2]} = {r[3]}" for r in off) if off else "")
        + (f"; cases that did not run: {', '.join(failed)}" if failed else "")
        + "."
    )
    write_section(title, "\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=("all", "kill", "trust"), default="all")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--items", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default="/tmp/ggt-fault-drill")
    args = parser.parse_args()
    if args.only in ("all", "kill"):
        kill_drill(args)
    if args.only in ("all", "trust"):
        trust_drill(args)


if __name__ == "__main__":
    main()
