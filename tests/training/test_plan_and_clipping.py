"""The run plan (total batch → per-process batch × accumulation, schedule milestones, clipping) and a
CPU run showing the trainer does what the plan says — including clipping the parameters the
*prepared* modules hold when ``prepare`` replaces them, as FSDP does."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from ggt_hf.constants import GGT100K_MIRROR_DIR
from ggt_hf.recipes.plan import format_plan, plan_recipe
from ggt_hf.training.batching import BatchSplitError, apply_world_size, resolve_batch
from ggt_hf.training.core import CoreConfig, clip_targets, make_accelerator, run_training
from ggt_hf.training.schedules import build_scheduler, cyclic_lr, schedule_milestones

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_accelerate_state():
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


@pytest.mark.parametrize(
    ("total", "world", "most", "expected"),
    [(16, 8, 4, (2, 1)), (32, 1, 4, (4, 8)), (32, 4, 8, (8, 1)), (64, 8, 3, (2, 4)), (8, 8, 1, (1, 1))],
)
def test_total_batch_splits_into_micro_batch_and_accumulation(total, world, most, expected):
    micro, accum = resolve_batch(total, world, most)
    assert (micro, accum) == expected
    assert micro * accum * world == total and micro <= most


def test_a_total_batch_that_cannot_divide_is_refused_with_the_reason():
    with pytest.raises(BatchSplitError, match="16 is not a multiple of 3"):
        resolve_batch(16, 3, 4)


def test_the_entry_accelerator_derives_batch_and_accumulation_from_the_world_size(tmp_path):
    from types import SimpleNamespace

    core = CoreConfig(output_dir=str(tmp_path), total_batch_size=12, log_with=None)
    data = SimpleNamespace(batch_size=4)
    accelerator = make_accelerator(core, data)
    assert (data.batch_size, core.gradient_accumulation_steps) == (4, 3)
    assert accelerator.gradient_accumulation_steps == 3


def test_restormer_schedule_is_constant_then_cosine_to_the_floor():
    recipe = yaml.safe_load((ROOT / "training/recipes/restormer/ggt_mix.yaml").read_text())["train"]
    core = CoreConfig(
        **{
            k: recipe[k]
            for k in (
                "learning_rate",
                "max_steps",
                "lr_scheduler",
                "lr_periods",
                "lr_restart_weights",
                "lr_eta_mins",
            )
        }
    )
    assert cyclic_lr(core, 0) == cyclic_lr(core, 50_000) == cyclic_lr(core, 92_000) == pytest.approx(3e-4)
    assert cyclic_lr(core, 92_000 + 104_000) == pytest.approx((3e-4 + 1e-6) / 2)
    assert cyclic_lr(core, 300_000) == pytest.approx(1e-6)
    assert schedule_milestones(core) == [
        (0, pytest.approx(3e-4)),
        (92_000, pytest.approx(3e-4)),
        (300_000, pytest.approx(1e-6)),
    ]


@pytest.mark.parametrize(
    "kw",
    [
        {
            "lr_scheduler": "cosine_restart_cyclic",
            "lr_periods": [4, 8],
            "lr_restart_weights": [1, 1],
            "lr_eta_mins": [1.0, 0.01],
        },
        {"lr_scheduler": "cosine", "warmup_steps": 2, "lr_schedule_steps": 20},  # PromptIR: stopped early
        {"lr_scheduler": "cosine_with_min_lr", "warmup_steps": 3, "min_lr": 0.1},
        {"lr_scheduler": "multistep", "lr_milestones": [5, 9], "lr_gamma": 0.5},
        {"lr_scheduler": "constant"},
        {  # PromptIR: per epoch of 2 steps, one epoch late
            "lr_scheduler": "warmup_cosine_per_epoch",
            "warmup_steps": 6,
            "lr_schedule_steps": 20,
            "lr_steps_per_epoch": 2,
            "lr_epoch_delay": 1,
        },
    ],
)
def test_the_real_scheduler_passes_through_the_planned_milestones(kw):
    core = CoreConfig(learning_rate=1.0, max_steps=12, **kw)
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=core.learning_rate)
    scheduler = build_scheduler(core, optimizer)
    lrs = [scheduler.get_last_lr()[0]]
    for _ in range(core.max_steps):
        optimizer.step()
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[0])
    for step, lr in schedule_milestones(core):
        assert lrs[step] == pytest.approx(lr, abs=1e-9), (step, lrs)


class ReplacingAccelerator:
    """Builds a real ``Accelerator`` whose ``prepare`` hands back *copies* of the modules (new
    parameter tensors, as FSDP's flattening/sharding does) and re-points the optimizer at them."""

    def __new__(cls, **kwargs):
        from accelerate import Accelerator

        class _Replacing(Accelerator):
            def __init__(self, **kw):
                super().__init__(**kw)
                self.clipped: list[tuple[set[int], float]] = []

            def prepare(self, *objs):
                prepared = list(super().prepare(*objs))
                swap: dict[int, torch.nn.Parameter] = {}
                for i, obj in enumerate(prepared):
                    if isinstance(obj, torch.nn.Module):
                        twin = copy.deepcopy(obj)
                        swap.update(
                            {id(a): b for a, b in zip(obj.parameters(), twin.parameters(), strict=True)}
                        )
                        prepared[i] = twin
                for obj in prepared:
                    if hasattr(obj, "optimizer"):
                        for group in obj.optimizer.param_groups:
                            group["params"] = [swap.get(id(p), p) for p in group["params"]]
                return tuple(prepared)

            def clip_grad_norm_(self, parameters, max_norm, norm_type=2):
                parameters = list(parameters)
                total = super().clip_grad_norm_(parameters, max_norm, norm_type)
                grads = [p.grad for p in parameters if p.grad is not None]
                after = float(torch.norm(torch.stack([g.norm() for g in grads]))) if grads else 0.0
                self.clipped.append(({id(p) for p in parameters}, after))
                return total

        return _Replacing(**kwargs)


class RecordingTask:
    """A small conv net; records the batch size and learning rate of every micro-batch."""

    def __init__(self) -> None:
        self.micro: list[tuple[int, float]] = []

    def setup(self, accelerator) -> None:
        torch.manual_seed(0)
        self.model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Conv2d(8, 3, 1))

    def trainable_parameters(self):
        return list(self.model.parameters())

    def modules_to_prepare(self):
        return [self.model]

    def on_prepared(self, modules) -> None:
        self.wrapped = modules[0]

    def training_step(self, batch, accelerator):
        self.micro.append((batch.shape[0], accelerator._optimizers[0].param_groups[0]["lr"]))
        return (self.wrapped(batch) - batch.flip(1)).pow(2).mean() * 1e3, {}

    def validate(self, accelerator, step, ema_module):
        return {}

    def save_pretrained(self, out_dir, accelerator, ema_module) -> None:
        pass

    def model_card(self, out_dir, results) -> str:
        return "card"


def _tiny_recipe(tmp_path: Path) -> Path:
    recipe = {
        "model": {
            "name": "nafnet",
            "config": {"width": 8, "middle_blk_num": 1, "enc_blk_nums": [1], "dec_blk_nums": [1]},
        },
        "data": {"ggt": [{"path": GGT100K_MIRROR_DIR}], "crop_size": 16, "batch_size": 2},
        "train": {
            "output_dir": str(tmp_path / "run"),
            "total_batch_size": 8,
            "max_steps": 8,
            "learning_rate": 1e-2,
            "lr_scheduler": "cosine_restart_cyclic",
            "lr_periods": [3, 5],
            "lr_restart_weights": [1, 1],
            "lr_eta_mins": [1e-2, 1e-4],
            "max_grad_norm": 1e-3,
            "log_with": None,
            "checkpointing_steps": 0,
        },
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_a_cpu_run_follows_its_plan_batch_accumulation_schedule_and_clipping(tmp_path):
    from ggt_hf.training.restorer_task import RestorerRecipe

    path = _tiny_recipe(tmp_path)
    plan = plan_recipe(path, num_processes=1)
    assert (plan.total_batch, plan.batch_per_process, plan.accumulation) == (8, 2, 4)
    assert "8 = 2 per process × 4 accumulation × 1 process" in format_plan(plan)
    recipe = RestorerRecipe.from_yaml(path)
    apply_world_size(recipe, 1)
    core = recipe.train
    accelerator = ReplacingAccelerator(gradient_accumulation_steps=core.gradient_accumulation_steps)
    task = RecordingTask()

    def loader(start):
        g = torch.Generator().manual_seed(start)
        while True:
            yield torch.rand(recipe.data.batch_size, 3, 16, 16, generator=g)

    run_training(core, task, loader, accelerator=accelerator)
    assert len(task.micro) == plan.steps * plan.accumulation
    assert {size for size, _ in task.micro} == {plan.batch_per_process}
    lr_at_step = {i // plan.accumulation: lr for i, (_, lr) in enumerate(task.micro)}
    for step, lr in plan.milestones:
        if step < plan.steps:
            assert lr_at_step[step] == pytest.approx(lr), (step, lr_at_step)
    prepared = {id(p) for p in task.wrapped.parameters()}
    assert len(accelerator.clipped) == plan.steps
    for ids, norm_after in accelerator.clipped:
        assert ids == prepared, "clipping must act on the prepared module's parameters"
        assert 0 < norm_after <= core.max_grad_norm * 1.0001


def test_clip_targets_are_the_prepared_trainable_parameters_once():
    shared = torch.nn.Linear(2, 2)
    frozen = torch.nn.Linear(2, 2).requires_grad_(False)
    a, b = torch.nn.Sequential(shared, frozen), torch.nn.Sequential(shared)
    assert clip_targets([a, b]) == list(shared.parameters())


FSDP_SCRIPT = r"""
import gc, os, sys
import torch, torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from ggt_hf.training.core import clip_targets
dist.init_process_group("gloo")
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 16))
before = list(model.parameters())
fully_shard(model, mesh=init_device_mesh("cpu", (dist.get_world_size(),)))
targets = clip_targets([model])
torch.manual_seed(dist.get_rank())
(model(torch.randn(4, 16)) * 100).pow(2).mean().backward()
assert all(p.grad is None for p in before), "the pre-prepare tensors never get gradients"
assert targets and all(p.grad is not None for p in targets)
total = torch.nn.utils.clip_grad_norm_(targets, 0.01)
after = torch.nn.utils.get_total_norm([p.grad for p in targets])
after = after.full_tensor() if hasattr(after, "full_tensor") else after
assert float(total.full_tensor() if hasattr(total, "full_tensor") else total) > 0.01
assert float(after) <= 0.01 * 1.0001, float(after)
# one file per rank: two ranks printing to one stdout interleave their characters
with open(f"{sys.argv[1]}/rank{dist.get_rank()}.txt", "w") as out:
    out.write(f"OK {type(targets[0]).__name__} {float(after)}")
# Shut down as a training script does (accelerate's wait_for_everyone + end_training), then leave
# without interpreter teardown: the device mesh keeps the gloo group alive until finalisation, and
# under load gloo's worker threads could abort the process there ("terminate called without an
# active exception", SIGABRT) after every check above had passed. Everything is asserted and
# written by now, so the exit code still says whether the checks held.
dist.barrier()
del model, before, targets, total, after
gc.collect()
dist.destroy_process_group()
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
"""


@pytest.mark.slow
def test_clipping_under_fsdp2_on_two_cpu_processes(tmp_path):
    """accelerate does not run FSDP on CPU (it falls back to DDP), so this shards with torch's own
    ``fully_shard`` (what accelerate's FSDP2 ``prepare`` applies) over gloo and clips what
    :func:`clip_targets` picks from the sharded module."""
    script = tmp_path / "fsdp_clip.py"
    script.write_text(FSDP_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            str(port),
            str(script),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    results = [(tmp_path / f"rank{rank}.txt").read_text() for rank in (0, 1)]
    assert all(r.startswith("OK DTensor ") for r in results), results
