"""The fault drill's trust cases of sessions 6 and 7 (``--only trust67``): the mechanisms of issues 22-24
(restore provenance, the tile view, the review gate, backend options, the Hub-id rule, exit codes, the
GPU launch check, the Space warm-up) and the run-store / review-queue bugs the mutation runs of issue 26
found. Each ``case_*`` performs the attack the way its bug was reported and returns its figures (see
:mod:`_drill_common`); ``SESSION67_CASES`` lists them in table order.

Library attacks run in a child (``python -c ...`` in the case's folder, see :func:`library`), so a
crash is an exit code and the drill's own process keeps no state from them."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import sys
import threading
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import yaml
from _drill_common import (
    REPO,
    Case,
    Figure,
    Run,
    error_line,
    fresh,
    ggt,
    last_line,
    line_naming,
    lost,
    make_pairs,
    measured,
    png,
    snapshot,
)
from PIL import Image

from ggt_hf.degrade import degrade
from ggt_hf.pipeline.demo import sample_dir

#: A reviewed build of 4 haze photos through the classical backend: 3 items accepted by QC, 1 rejected.
BUILD_CONFIG = {
    "name": "drill",
    "output": "run",
    "sources": [{"path": "photos/", "license": "cc0-1.0", "split": "train"}],
    "backend": {"name": "classical", "concurrency": 2, "base_delay": 0.0},
    "qc": {"metric_thresholds": {"piqe": -100.0}, "max_attempts": 2, "human_review": True},
    "image_size": 128,
    "min_side": 64,
    "workers": 2,
}
OFFLINE = {"GGT_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}


def library(
    cwd: Path, code: str, timeout: float = 300, env: dict[str, str] | None = None
) -> tuple[Run, dict]:
    """Run ``code`` (Python using the library) in a child from ``cwd``; its last stdout line, if JSON,
    is its report (``{}`` when it crashed before printing one)."""
    run = measured([sys.executable, "-c", code], cwd, timeout, env)
    lines = run.stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1]) if lines else {}
    except ValueError:
        report = {}
    return run, report if isinstance(report, dict) else {}


def _photos(cwd: Path, n: int = 4) -> None:
    names = ["astronaut.png", "camera.png", "chelsea.png", "coffee.png", "rocket.jpg"]
    (cwd / "photos" / "haze").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        clean = Image.open(sample_dir() / names[i % len(names)]).convert("RGB").resize((128, 128))
        lq = degrade(np.asarray(clean), "haze", seed=i).image
        Image.fromarray(lq).save(cwd / "photos" / "haze" / f"p{i}.png")


_BUILT: dict[tuple[Path, bool], Path] = {}
_BUILT_LOCK = threading.Lock()


def built_run(work: Path, cwd: Path, review: bool = True) -> Run | None:
    """A copy in ``cwd`` of a run built once per drill (``ggt build build.yaml`` in a folder of its own,
    ``human_review`` as given): ``cwd/photos``, ``cwd/build.yaml`` and ``cwd/run``. Returns the build's
    :class:`Run` when this call built it."""
    key, made = (work, review), None
    with _BUILT_LOCK:
        if key not in _BUILT:
            origin = fresh(work, f"_built-review-{str(review).lower()}")
            _photos(origin)
            config = {**BUILD_CONFIG, "qc": {**BUILD_CONFIG["qc"], "human_review": review}}
            (origin / "build.yaml").write_text(yaml.safe_dump(config))
            made = ggt(origin, "build", "build.yaml", env=OFFLINE)
            if made.returncode != 0:
                raise RuntimeError(f"the reference build failed (exit {made.returncode}): {last_line(made)}")
            _BUILT[key] = origin
    for name in ("photos", "run"):
        shutil.copytree(_BUILT[key] / name, cwd / name, symlinks=True)
    shutil.copyfile(_BUILT[key] / "build.yaml", cwd / "build.yaml")
    return made


def _records(run: Path) -> dict[str, dict]:
    return {
        json.loads(p.read_text())["id"]: json.loads(p.read_text())
        for p in sorted((run / "items").glob("*.json"))
    }


def _quarantined(run: Path) -> int:
    folder = run / "quarantine"
    return sum(p.is_file() for p in folder.rglob("*")) if folder.is_dir() else 0


def _tiny_model(cwd: Path, name: str = "tiny") -> None:
    from ggt_hf.restorers import build_restorer

    tiny = build_restorer("nafnet", width=4, middle_blk_num=1, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1])
    tiny.save_pretrained(cwd / name)


# ------------------------------------------------------------------------------------------ session 6


def case_restore_other_configuration(work: Path) -> list[Figure]:
    """22.1: ``ggt restore --model tiny in out --tile 32 --overlap 8``, then the same folders with
    another tiling (``--tile 16 --overlap 4``, ``--overlap 16``, no tiling) and no ``--overwrite``: each
    used to print ``restored 0, skipped 2 existing`` and keep the first run's outputs."""
    cwd = fresh(work, "restore-provenance")
    _tiny_model(cwd)
    for i in range(2):
        png(cwd / "in" / f"x{i}.png", 300 + i, size=64)
    first = ggt(cwd, "restore", "--model", "tiny", "in", "out", "--tile", "32", "--overlap", "8")
    made = snapshot(cwd / "out")
    images = sum(name.endswith(".png") for name in made)
    others = [("--tile", "16", "--overlap", "4"), ("--tile", "32", "--overlap", "16"), ()]
    runs = [ggt(cwd, "restore", "--model", "tiny", "in", "out", *options) for options in others]
    kept = sum(images for run in runs if run.returncode == 0)
    changed = lost(made, cwd / "out")
    forced = ggt(cwd, "restore", "--model", "tiny", "in", "out", "--overwrite")
    again = ggt(cwd, "restore", "--model", "tiny", "in", "out")
    return [
        (
            f"outputs kept from another restorer configuration ({len(others)} re-runs × {images} images)",
            kept,
            "0",
            f"first exit {first.returncode}; re-runs exit {[r.returncode for r in runs]}: `{last_line(runs[0])[:170]}`",
        ),
        (
            f"outputs changed by the refused re-runs (of {len(made)} files)",
            changed,
            "0",
            "",
        ),
        (
            "`--overwrite` then the same options again: exits",
            f"{forced.returncode}, {again.returncode}",
            "0, 0",
            f"`{line_naming(again, 'skipped')[:120]}`",
        ),
    ]


def case_tile_view_folders(work: Path) -> list[Figure]:
    """24.1: ``ggt train-tiles --config tiny.yaml data.tile_dir=X`` (the tiny NAFNet recipe on ``pairs/``)
    for X a symlink into the dataset, a folder holding the user's ``keep.txt``, a file ``notes.txt``, ``.``,
    ``/`` and ``pairs/lq``; then a new folder ``tiles`` (accepted)."""
    cwd = fresh(work, "tile-view")
    make_pairs(cwd / "pairs", [f"p{i}" for i in range(2)], seed=310, size=64)
    (cwd / "link_into_pairs").symlink_to("pairs")
    (cwd / "mine").mkdir()
    (cwd / "mine" / "keep.txt").write_text("mine\n")
    (cwd / "notes.txt").write_text("notes\n")
    recipe = yaml.safe_load((REPO / "training" / "recipes" / "nafnet" / "tiny_cpu.yaml").read_text())
    recipe["data"]["ggt"] = [{"path": "pairs", "kind": "pairs"}]
    (cwd / "tiny.yaml").write_text(yaml.safe_dump(recipe))
    before = snapshot(cwd)
    targets = ["link_into_pairs/t", "mine", "notes.txt", ".", "/", "pairs/lq"]
    runs = [ggt(cwd, "train-tiles", "--config", "tiny.yaml", f"data.tile_dir={t}") for t in targets]
    user = {k: v for k, v in before.items() if not k.startswith(("tiny", "."))}
    good = ggt(cwd, "train-tiles", "--config", "tiny.yaml", "data.tile_dir=tiles")
    return [
        (
            f"tile folders accepted over the user's files or the input (exit 0, of {len(targets)})",
            sum(r.returncode == 0 for r in runs),
            "0",
            f"exits {[r.returncode for r in runs]}: `{last_line(runs[1])[:170]}`",
        ),
        (f"user / input files lost or changed (of {len(user)})", lost(user, cwd), "0", ""),
        (
            "a new folder `tiles` accepted (exit 0)",
            int(good.returncode == 0),
            "1",
            f"`{last_line(good)[:120]}`",
        ),
    ]


def _verdicts(dataset: Path, config: str) -> dict[str, str]:
    """Pair id -> QC verdict of every row of one packed config (``data`` for default)."""
    out = {}
    for shard in sorted((dataset / config).glob("*/*.parquet")):
        for row in pq.read_table(shard, columns=["id", "qc"]).to_pylist():
            out[row["id"]] = row["qc"]["verdict"]
    return out


DECIDE = """
import json, sys
from ggt_hf.qc.review import ReviewQueue
q = ReviewQueue("run")
for item, decision in json.loads(sys.argv[1]):
    q.decide(item, decision, "drill")
print(json.dumps(q.progress()))
"""


def case_review_gate_seam(work: Path) -> list[Figure]:
    """22.4: a build with ``human_review: false``; a rejection recorded anyway on an accepted item
    (``ReviewQueue.decide``), a torn half line appended to ``run/review.jsonl`` (a killed write), then
    ``ggt build build.yaml --stage pack``: does ``unfiltered`` agree with ``default``, is the decision
    kept, and does the next decision go through?"""
    cwd = fresh(work, "review-gate")
    built_run(work, cwd, review=False)
    accepted = sorted(i for i, r in _records(cwd / "run").items() if r["state"] == "accepted")
    first = measured([sys.executable, "-c", DECIDE, json.dumps([[accepted[0], "reject"]])], cwd, 300, OFFLINE)
    with open(cwd / "run" / "review.jsonl", "ab") as f:
        f.write(b'{"id": "' + accepted[-1].encode() + b'", "decis')
    pack = ggt(cwd, "build", "build.yaml", "--stage", "pack", env=OFFLINE)
    default, unfiltered = (_verdicts(cwd / "run" / "dataset", c) for c in ("data", "unfiltered"))
    disagree = sum((unfiltered.get(i) == "accepted") != (i in default) for i in unfiltered)
    second, report = library(
        cwd,
        DECIDE.replace("sys.argv[1]", repr(json.dumps([[accepted[-1], "accept"]]))),
        env=OFFLINE,
    )
    return [
        (
            f"pairs whose `default` and `unfiltered` disagree (of {len(unfiltered)})",
            disagree,
            "0",
            f"pack exit {pack.returncode}; default {sorted(default)}, rejected anyway {accepted[0]}",
        ),
        (
            "accepted items left out of `default` by the recorded rejection (review off)",
            len(set(accepted) - set(default)),
            "0",
            "",
        ),
        (
            "decisions kept after the torn line and one more decision (of 2)",
            report.get("reviewed", 0),
            "2",
            f"decide exits {first.returncode}, {second.returncode}",
        ),
    ]


def case_backend_option_refused(work: Path) -> list[Figure]:
    """22.5: ``ggt build build.yaml`` whose ``backend.options`` has ``api_key`` (an option the classical
    backend does not take)."""
    cwd = fresh(work, "backend-option")
    _photos(cwd, 2)
    config = {**BUILD_CONFIG, "backend": {"name": "classical", "options": {"api_key": "sk-x"}}}
    (cwd / "build.yaml").write_text(yaml.safe_dump(config))
    run = ggt(cwd, "build", "build.yaml", env=OFFLINE)
    return [
        (
            "build accepted (exit 0)",
            int(run.returncode == 0),
            "0",
            f"exit {run.returncode}: `{last_line(run)[:170]}`",
        ),
        ("run folders created", int((cwd / "run").exists()), "0", f"{run.seconds:.1f} s to refusal"),
    ]


class _Counter:
    """A TCP listener on 127.0.0.1 counting connections (the Hub endpoint of a case)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.count = 0
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.count += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


MISROUTED = """
import json
from types import SimpleNamespace
from ggt_hf.evaluation.references import is_packed
from ggt_hf.hub.eval_results import hub_dataset_id
from ggt_hf.leaderboard.table import model_link
from ggt_hf.training.model_card import hub_datasets
routed = []
def hub(label, fn):
    try:
        if fn():
            routed.append(label)
    except Exception:
        pass
hub("is_packed ./typo", lambda: is_packed("./typo"))
for text in ("./me/ggt-100k", "a/b/c"):
    hub("hub_dataset_id " + text, lambda: hub_dataset_id(text))
sources = [SimpleNamespace(path=p) for p in ("me/bad--id", "./me/x")]
try:
    listed = hub_datasets(SimpleNamespace(data=SimpleNamespace(ggt=sources, baseline=[]))) or []
except Exception:
    listed = []
routed += ["model card lists " + str(name) for name in listed]
for repo in ("/srv/models/x", "./me/model", "me/model/extra", "me/mo del", "me/model@main", "me--x/m"):
    hub("model_link " + repo, lambda: "huggingface.co" in model_link("m", repo))
print(json.dumps({"routed": routed, "of": 11}))
"""


def case_hub_id_misrouting(work: Path) -> list[Figure]:
    """22.2: the library's Hub-id callers (``is_packed``, ``hub_dataset_id``, the model card's
    ``hub_datasets``, leaderboard ``model_link``) given local paths and invalid ids, in a child; then
    ``ggt eval --dataset X``, ``ggt leaderboard worker --dataset X --once`` and ``ggt space
    --dataset X`` with X a missing folder written as a path (``./org/name``, ``../org/name``,
    ``~/no-such-ggt-folder``), online (no ``HF_HUB_OFFLINE``) against a local endpoint (``HF_ENDPOINT``)
    that counts connections (each one is accepted and closed at once, unanswered); then ``ggt eval
    --dataset org/name`` (a Hub id) as the control: it must reach the endpoint, and the dropped connection
    is the network (exit 3), not an internal bug (exit 1)."""
    import os

    cwd = fresh(work, "hub-id")
    png(cwd / "preds" / "a.png", 320)
    (cwd / "store").mkdir()
    hub = _Counter()
    env = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "GGT_OFFLINE": "0", "HF_HUB_ETAG_TIMEOUT": "2"}
    removed = {k: os.environ.pop(k) for k in ("HF_HUB_OFFLINE", "GGT_OFFLINE") if k in os.environ}
    try:
        texts = ["./org/name", "../org/name", "~/no-such-ggt-folder"]
        commands = {
            "eval": lambda t: ("eval", "--pred", "preds", "--dataset", t, "--metrics", "psnr"),
            "leaderboard worker": lambda t: (
                "leaderboard",
                "worker",
                "--store",
                "store",
                "--dataset",
                t,
                "--once",
            ),
            "space": lambda t: ("space", "--dataset", t),
        }
        runs, sent = [], 0
        for build in commands.values():
            for text in texts:
                before = hub.count
                runs.append(ggt(cwd, *build(text), env=env, timeout=90))
                sent += hub.count > before
        before = hub.count
        control = ggt(
            cwd, "eval", "--pred", "preds", "--dataset", "org/name", "--metrics", "psnr", env=env, timeout=90
        )
        reached = hub.count - before
    finally:
        hub.close()
        os.environ.update(removed)
    lib, report = library(cwd, MISROUTED, env={**OFFLINE, "HF_ENDPOINT": "http://127.0.0.1:9"})
    routed = report.get("routed", [])
    return [
        (
            f"local paths or invalid ids taken for Hub repos by the library's callers (of {report.get('of', 11)})",
            len(routed) if report else f"child exit {lib.returncode}",
            "0",
            "is_packed, hub_dataset_id, the model card's sources, leaderboard links"
            + (f": {', '.join(routed)}" if routed else ""),
        ),
        (
            f"commands that contacted the Hub for a local path (of {len(runs)})",
            sent,
            "0",
            f"exits {[r.returncode for r in runs]}: `{last_line(runs[0])[:150]}`",
        ),
        (
            "control `--dataset org/name` (a Hub id): connections to the endpoint",
            reached,
            "-",
            "",
        ),
        (
            "control: the endpoint dropping the connection reported as an internal bug (exit 1)",
            int(control.returncode == 1),
            "0",
            f"exit {control.returncode}: `{error_line(control)[:150]}`",
        ),
    ]


def case_exit_zero_after_nothing(work: Path) -> list[Figure]:
    """23.6: commands that do nothing: ``ggt pack my_pairs leak_ds`` where no LQ has an HQ partner,
    ``ggt leaderboard worker --dataset missing/ --once``, ``ggt restore --model classical empty restored``
    and ``ggt card empty`` (3 of them used to exit 0)."""
    cwd = fresh(work, "exit-zero")
    for i in range(3):
        png(cwd / "my_pairs" / "lq" / f"a{i}.png", 330 + i)
        png(cwd / "my_pairs" / "hq" / f"b{i}.png", 340 + i)
    (cwd / "empty").mkdir()
    (cwd / "store").mkdir()
    runs = {
        "pack": ggt(cwd, "pack", "my_pairs/", "leak_ds", "--split", "test"),
        "worker": ggt(cwd, "leaderboard", "worker", "--store", "store", "--dataset", "missing/", "--once"),
        "restore": ggt(cwd, "restore", "--model", "classical", "empty", "restored"),
        "card": ggt(cwd, "card", "empty"),
    }
    return [
        (
            f"commands that exited 0 after doing nothing (of {len(runs)})",
            sum(r.returncode == 0 for r in runs.values()),
            "0",
            "; ".join(f"{k} exit {r.returncode}" for k, r in runs.items()),
        ),
        (
            "files written into `empty/`",
            len(list((cwd / "empty").iterdir())),
            "0",
            f"`{last_line(runs['card'])[:120]}`",
        ),
    ]


def case_gpu_launch_without_gpus(work: Path) -> list[Figure]:
    """23.5: ``accelerate launch --config_file training/accelerate_configs/multi_gpu.yaml
    training/train_restorer.py --config tiny.yaml`` (8 processes, one per GPU) on this machine, which
    has no CUDA GPU: each process used to fall back to the CPU and train alone into ``run/``."""
    import torch

    cwd = fresh(work, "gpu-launch")
    make_pairs(cwd / "pairs", [f"p{i}" for i in range(2)], seed=350, size=64)
    recipe = yaml.safe_load((REPO / "training" / "recipes" / "nafnet" / "tiny_cpu.yaml").read_text())
    recipe["data"]["ggt"] = [{"path": "pairs", "kind": "pairs"}]
    recipe["train"].update(output_dir="run", max_steps=2, log_with=None)
    (cwd / "tiny.yaml").write_text(yaml.safe_dump(recipe))
    accelerate = shutil.which("accelerate")
    launcher = [accelerate] if accelerate else [sys.executable, "-m", "accelerate.commands.launch"]
    cmd = [
        *launcher,
        *(["launch"] if accelerate else []),
        "--config_file",
        str(REPO / "training" / "accelerate_configs" / "multi_gpu.yaml"),
        str(REPO / "training" / "train_restorer.py"),
        "--config",
        "tiny.yaml",
    ]
    env = {"ACCELERATE_USE_CPU": "", **OFFLINE}
    run = measured(cmd, cwd, 600, env)
    refusals = sum("a launch of 8 processes" in line for line in run.stderr.splitlines())
    trainings = len(list((cwd / "run").rglob("*"))) if (cwd / "run").exists() else 0
    return [
        (
            f"trainings started without GPUs (files written under `run/`; machine has {torch.cuda.device_count()} GPU)",
            trainings,
            "0",
            f"exit {run.returncode} in {run.seconds:.0f} s: `{error_line(run)[:170]}`",
        ),
        ("refusal lines printed (the main rank prints; 8 processes launched)", refusals, "1", ""),
    ]


WARM_UP = """
import json, time
import huggingface_hub.constants
from ggt_hf.metrics import engine as engine_module
from ggt_hf.space import restoration
from ggt_hf.space.restoration import RestoreService
from ggt_hf.space.config import SpaceConfig
from PIL import Image
huggingface_hub.constants.HF_HUB_CACHE = "hf"
built = []
real = engine_module.create_pyiqa_metric
engine_module.create_pyiqa_metric = lambda name, *a, **k: built.append(name) or real(name, *a, **k)
service = RestoreService(SpaceConfig(warm_up=False))
t = time.perf_counter()
service.warm_up().join(timeout=300)
warm = time.perf_counter() - t
during = len(built)
Image.new("RGB", (64, 64), (120, 90, 60)).save("photo.png")
t = time.perf_counter()
outcome = service.restore("photo.png")
print(json.dumps({"built": built[:during], "in_restore": built[during:], "warm": warm,
                  "restore": time.perf_counter() - t, "skipped": sorted(service._skipped)}))
"""


def case_space_warm_up_offline(work: Path) -> list[Figure]:
    """24.5: the Space's ``RestoreService`` (default metrics: 5 learned + PIQE) warmed up offline with
    empty weight caches (``GGT_OFFLINE=1``, ``HOME``/``TORCH_HOME``/HF cache in the case's folder), then one
    restore; every ``create_pyiqa_metric`` call is counted (a child process)."""
    cwd = fresh(work, "space-warm-up")
    env = {**OFFLINE, "HOME": str(cwd), "TORCH_HOME": str(cwd / "torch"), "HF_HOME": str(cwd / "hf")}
    run, report = library(cwd, WARM_UP, env=env)
    learned = {"niqe", "musiq", "maniqa", "topiq_nr", "afine_nr"}
    built = report.get("built", [])
    return [
        (
            f"learned metric networks built offline by the warm-up (of {len(learned)})",
            sum(name in learned for name in built) if report else "no report",
            "0",
            f"exit {run.returncode}; built {built}; skipped {report.get('skipped')}",
        ),
        (
            "networks built inside the first restore",
            len(report.get("in_restore", [])) if report else "no report",
            "0",
            "",
        ),
        (
            "warm-up / first restore seconds",
            f"{report.get('warm', 0):.1f} / {report.get('restore', 0):.2f}",
            "-",
            "",
        ),
    ]


# ------------------------------------------------------------------------------------------ session 7


def case_garbled_record_schema(work: Path) -> list[Figure]:
    """s7 (run store): in a built run, one item record edited to ``"schema": "2x"``, in another copy to
    ``"schema": null``, in a third replaced by 100,000 ``[``; then ``ggt build build.yaml`` (old code:
    ``error: invalid literal for int() with base 10: '2x'``, exit 2)."""
    variants = {
        '"2x"': lambda b: b.replace(b'"schema": 2', b'"schema": "2x"'),
        "null": lambda b: b.replace(b'"schema": 2', b'"schema": null'),
        "[ × 100,000": lambda b: b"[" * 100_000,
    }
    failed, quarantined, redone, notes = 0, 0, 0, []
    for k, (label, edit) in enumerate(variants.items()):
        cwd = fresh(work, f"garbled-schema-{k}")
        built_run(work, cwd)
        victim = sorted((cwd / "run" / "items").glob("*.json"))[0]
        victim.write_bytes(edit(victim.read_bytes()))
        run = ggt(cwd, "build", "build.yaml", env=OFFLINE)
        failed += run.returncode != 0
        quarantined += _quarantined(cwd / "run")
        with contextlib.suppress(OSError, ValueError, RecursionError):  # the old code left it garbled
            redone += json.loads(victim.read_text()).get("schema") == 2
        notes.append(f"{label}: exit {run.returncode}")
    return [
        (f"builds that failed (of {len(variants)})", failed, "0", "; ".join(notes)),
        (f"records quarantined (of {len(variants)})", quarantined, str(len(variants)), ""),
        (f"items redone (a readable record again, of {len(variants)})", redone, str(len(variants)), ""),
    ]


PROGRESS = """
import json
from ggt_hf.qc.review import ReviewQueue
print(json.dumps(ReviewQueue("run").progress()))
"""


def case_hostile_review_log(work: Path) -> list[Figure]:
    """s7 (review log): two decisions recorded (``ReviewQueue.decide``), then a line of 100,000 ``[``
    appended to ``run/review.jsonl``; ``ggt build build.yaml --stage pack`` and
    ``ReviewQueue("run").progress()`` (old code: RecursionError, exit 1)."""
    cwd = fresh(work, "hostile-review-log")
    built_run(work, cwd)
    accepted = sorted(i for i, r in _records(cwd / "run").items() if r["state"] == "accepted")
    decisions = [[accepted[0], "accept"], [accepted[1], "reject"]]
    decide = measured([sys.executable, "-c", DECIDE, json.dumps(decisions)], cwd, 300, OFFLINE)
    with open(cwd / "run" / "review.jsonl", "ab") as f:
        f.write(b"[" * 100_000 + b"\n")
    pack = ggt(cwd, "build", "build.yaml", "--stage", "pack", env=OFFLINE)
    progress, report = library(cwd, PROGRESS, env=OFFLINE)
    crashed = int(pack.returncode != 0) + int(progress.returncode != 0)
    default = _verdicts(cwd / "run" / "dataset", "data")
    return [
        (
            "commands that crashed (of 2: the pack, the queue)",
            crashed,
            "0",
            f"decide exit {decide.returncode}; pack exit {pack.returncode}, queue exit {progress.returncode}: "
            f"`{_warning(pack)[:150]}`",
        ),
        (
            f"valid decisions lost (of {len(decisions)})",
            len(decisions) - report.get("reviewed", 0),
            "0",
            f"progress {report}; packed in default: {sorted(default)}",
        ),
    ]


def _warning(run: Run) -> str:
    lines = [line.strip() for line in (run.stderr + run.stdout).splitlines() if "review.jsonl" in line]
    return lines[0] if lines else last_line(run)


GARBLED_INDEX = """
import json
from ggt_hf.qc.review import ReviewQueue
crashes, pending = [], []
for text in ("[]", '"x"', '{"p0": 1}', "[" * 100000):
    open("run/review_index.json", "w").write(text)
    try:
        pending.append(len(ReviewQueue("run").pending().ids))
    except Exception as exc:
        crashes.append(f"{text[:10]}: {type(exc).__name__}")
print(json.dumps({"crashes": crashes, "pending": pending}))
"""


def case_garbled_review_index(work: Path) -> list[Figure]:
    """s7 (review index): ``run/review_index.json`` (the queue's cache) replaced by ``[]``, ``"x"``,
    ``{"p0": 1}`` and 100,000 ``[``, each followed by ``ReviewQueue("run").pending()``."""
    cwd = fresh(work, "garbled-review-index")
    built_run(work, cwd)
    library(cwd, PROGRESS, env=OFFLINE)  # the queue writes its index
    pending = sum(r["state"] == "accepted" for r in _records(cwd / "run").values())
    run, report = library(cwd, GARBLED_INDEX, env=OFFLINE)
    crashes = report.get("crashes", ["the child itself"])
    return [
        (
            "queue crashes (of 4 garbled indexes)",
            len(crashes) if run.returncode == 0 else "child crashed",
            "0",
            f"{crashes}",
        ),
        (
            f"pending items found each time (of {pending})",
            ", ".join(map(str, report.get("pending", []))),
            ", ".join([str(pending)] * 4),
            f"exit {run.returncode}",
        ),
    ]


DAMAGED = """
import json, sys
from ggt_hf.qc.review_app import ReviewController
shown, errors = [], []
for _ in range(3):
    try:
        view = ReviewController("run").view()
        shown.append(view["item"]["id"] if view["item"] else None)
    except Exception as exc:
        errors.append(type(exc).__name__ + ": " + str(exc)[:100])
print(json.dumps({"shown": shown, "errors": errors}))
"""


def case_damaged_record_during_review(work: Path) -> list[Figure]:
    """s7 (review queue): NULs written over bytes 30-70 of the first pending item's record (a failing
    disk; both lines the queue's fast path reads and the closing brace intact), then
    ``ReviewController("run").view()`` three times, as the review app loads the next item."""
    cwd = fresh(work, "damaged-record")
    built_run(work, cwd)
    library(cwd, PROGRESS, env=OFFLINE)  # the queue has been opened once: its index knows the record
    first = sorted(i for i, r in _records(cwd / "run").items() if r["state"] == "accepted")[0]
    victim = next(
        p for p in (cwd / "run" / "items").glob("*.json") if json.loads(p.read_text())["id"] == first
    )
    data = victim.read_bytes()
    victim.write_bytes(data[:30] + b"\0" * 40 + data[70:])
    run, report = library(cwd, DAMAGED, env=OFFLINE)
    shown = report.get("shown", [])
    return [
        (
            "review stuck on the damaged item (an error, or the damaged item shown)",
            int(bool(report.get("errors")) or first in shown or run.returncode != 0),
            "0",
            f"exit {run.returncode}; shown {shown}; errors {report.get('errors')}",
        ),
        ("records quarantined", _quarantined(cwd / "run"), "1", f"damaged: {first}"),
    ]


SESSION67_CASES: list[Case] = [
    (
        "22.1",
        "restore into a folder made with another tiling (before: `restored 0, skipped 2 existing`)",
        case_restore_other_configuration,
    ),
    ("24.1", "tile view (`ggt train-tiles`) over the user's files or the input", case_tile_view_folders),
    (
        "22.4",
        "review off: a rejection recorded anyway (before: `unfiltered` said rejected); a torn `review.jsonl`",
        case_review_gate_seam,
    ),
    ("22.5", "a backend option the backend does not take", case_backend_option_refused),
    (
        "22.2",
        "missing folders written as paths, online (before, per the session 6 note: 9 misrouted)",
        case_hub_id_misrouting,
    ),
    ("23.6", "commands that do nothing (before: 3 of 4 exited 0)", case_exit_zero_after_nothing),
    (
        "23.5",
        "an 8-GPU `accelerate launch` on a machine without GPUs (before: 8 trainings into one folder)",
        case_gpu_launch_without_gpus,
    ),
    (
        "24.5",
        "the Space warm-up offline with empty weight caches (before: 5 networks built)",
        case_space_warm_up_offline,
    ),
    (
        "s7",
        "garbled `schema` in an item record (before: exit 2, `invalid literal for int()`)",
        case_garbled_record_schema,
    ),
    (
        "s7",
        "a 100,000-bracket line in `review.jsonl` (before: RecursionError, exit 1)",
        case_hostile_review_log,
    ),
    ("s7", "a garbled `review_index.json` (before: AttributeError / TypeError)", case_garbled_review_index),
    (
        "s7",
        "NULs in a pending item's record during review (before: the app stuck on that item)",
        case_damaged_record_during_review,
    ),
]
