"""training/train_restorer.py on real photo pairs: in-process, through a real ``accelerate launch``,
as a 2-process gloo DDP run, and resumed; the final folder loads back through the registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ggt_hf.training.core import checkpoint_dirs
from ggt_hf.training.entry import train_restorer_main

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "training" / "train_restorer.py"
TINY = ROOT / "training" / "recipes" / "nafnet" / "tiny_cpu.yaml"
CPU_CONFIG = ROOT / "training" / "accelerate_configs" / "cpu.yaml"
DDP_CONFIG = ROOT / "training" / "accelerate_configs" / "cpu_ddp.yaml"


def _overrides(out: Path, ggt: Path, baseline: Path | None = None, **extra) -> list[str]:
    data = [f"data.ggt=[{{path: '{ggt}', kind: pairs}}]", f"train.output_dir={out}"]
    if baseline is not None:
        data.append(f"data.baseline=[{{path: '{baseline}', kind: pairs}}]")
    data += [f"{k}={v}" for k, v in extra.items()]
    return data


def _env(num_processes: int) -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    env.pop("ACCELERATE_CONFIG_FILE", None)
    if num_processes > 1:
        env["ACCELERATE_USE_CPU"] = "1"  # see training/accelerate_configs/cpu_ddp.yaml
    return env


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _launch(args: list[str], num_processes: int = 1, timeout: int = 600) -> subprocess.CompletedProcess:
    config = CPU_CONFIG if num_processes == 1 else DDP_CONFIG
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config)]
    if num_processes > 1:
        launch += ["--num_processes", str(num_processes), "--main_process_port", str(_free_port())]
    proc = subprocess.run(
        [*launch, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(num_processes),
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return proc


def test_tiny_recipe_is_valid_yaml_with_every_section():
    recipe = yaml.safe_load(TINY.read_text())
    assert set(recipe) == {"model", "data", "validation", "loss", "train"}


def test_in_process_run_trains_validates_and_writes_a_loadable_model(make_pairs_dir, tmp_path):
    from ggt_hf.restorers import load_restorer

    pairs = make_pairs_dir(6, size=96, nested=False, name="ggt")
    base = make_pairs_dir(6, size=96, nested=False, name="base", offset=6)
    out = tmp_path / "run"
    extra = {"validation.path": f"'{pairs}'", "validation.kind": "pairs", "train.log_with": "null"}
    assert train_restorer_main(["--config", str(TINY), *_overrides(out, pairs, base, **extra)]) == 0
    final = out / "final"
    assert (final / "model.safetensors").exists()
    config = json.loads((final / "config.json").read_text())
    assert config["model_type"] == "nafnet" and config["width"] == 8
    card = (final / "README.md").read_text()
    assert "model-index" in card and "PSNR" in card and "NAFNet" in card
    assert f'load_restorer("{final}")' in card  # not pushed: the card names the folder (issue 23.4)
    scores = json.loads((final / "eval_results.json").read_text())
    assert scores["step"] == 6 and 5 < scores["psnr"] < 60
    stats = json.loads((out / "data_stats" / "rank0.json").read_text())
    assert stats["samples"] == 12 and set(stats["sources"]) <= {"ggt", "baseline"}
    model = load_restorer(str(final))
    assert model.config.width == 8


def test_accelerate_launch_trains_and_checkpoints_then_resumes(make_pairs_dir, tmp_path):
    pairs = make_pairs_dir(6, size=96, nested=False, name="ggt")
    out = tmp_path / "run"
    _launch(["--config", str(TINY), *_overrides(out, pairs, **{"train.max_steps": 3})])
    assert [p.name for p in checkpoint_dirs(out)] == ["checkpoint-3"]
    assert (out / "final" / "model.safetensors").exists()
    assert list((out / "logs").rglob("events.out.tfevents*"))
    # resume from the checkpoint to 6 steps: the counter continues from 3
    proc = _launch(
        [
            "--config",
            str(TINY),
            *_overrides(out, pairs, **{"train.max_steps": 6, "train.resume_from_checkpoint": "latest"}),
        ]
    )
    assert "resumed from" in proc.stderr + proc.stdout
    assert [p.name for p in checkpoint_dirs(out)] == ["checkpoint-3", "checkpoint-6"]
    stats = json.loads((out / "data_stats" / "rank0.json").read_text())
    assert stats["samples"] == 3 * 2  # only the 3 resumed steps ran in the second launch


def test_two_process_gloo_ddp_run_shards_the_data(make_pairs_dir, tmp_path):
    pairs = make_pairs_dir(8, size=96, nested=False, name="ggt")
    out = tmp_path / "ddp"
    # total batch 8 over 2 processes with at most 2 per process: 2 per process × 2 accumulation
    extra = {"train.max_steps": 3, "train.total_batch_size": 8}
    _launch(["--config", str(TINY), *_overrides(out, pairs, **extra)], num_processes=2)
    run = json.loads((out / "run_config.json").read_text())
    assert (run["data"]["batch_size"], run["train"]["gradient_accumulation_steps"]) == (2, 2)
    ranks = [json.loads((out / "data_stats" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert [r["samples"] for r in ranks] == [3 * 2 * 2] * 2  # steps × accumulation × micro-batch
    first = [set(r["first_ids"][:2]) for r in ranks]
    assert first[0] and first[1] and not first[0] & first[1], "ranks must see different samples"
    ckpt = checkpoint_dirs(out)[-1]
    assert (ckpt / "random_states_0.pkl").exists() and (ckpt / "random_states_1.pkl").exists()
    assert (out / "final" / "model.safetensors").exists()


@pytest.mark.parametrize(
    "model", ["nafnet", "swinir", "mprnet", "restormer", "x_restormer", "promptir", "moce_ir"]
)
def test_every_recipe_loads_and_names_a_registry_model(model):
    from ggt_hf.restorers import RESTORERS
    from ggt_hf.training.restorer_task import RestorerRecipe

    recipe = RestorerRecipe.from_yaml(ROOT / "training" / "recipes" / model / "ggt_mix.yaml")
    assert recipe.model.name in RESTORERS
    assert recipe.data.ratio == 1.0 and recipe.data.baseline, "paper setting: 1:1 GGT:baseline"
    assert recipe.train.max_steps > 1000
