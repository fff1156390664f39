"""The shared training loop on a toy task: steps, accumulation, checkpoints, exact resume, EMA."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from ggt_hf.training.core import CoreConfig, build_optimizer, checkpoint_dirs, run_training


@pytest.fixture(autouse=True)
def _fresh_accelerate_state():
    """accelerate keeps one process-wide state; each run here starts from a clean one (as a real,
    one-run-per-process launch does), so a later run's mixed precision is really applied."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


class Crash(RuntimeError):
    pass


class ToyTask:
    """A conv net learning a fixed colour transform; records every micro-batch loss."""

    def __init__(self, crash_at_micro: int | None = None) -> None:
        self.losses: list[float] = []
        self.crash_at_micro = crash_at_micro
        self.saved: Path | None = None

    def setup(self, accelerator) -> None:
        torch.manual_seed(0)
        self.model = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Dropout(0.2), torch.nn.Conv2d(8, 3, 1)
        )
        self.inner_dtypes: set[torch.dtype] = set()
        self.model[0].register_forward_hook(lambda _m, _i, out: self.inner_dtypes.add(out.dtype))

    def trainable_parameters(self):
        return list(self.model.parameters())

    def modules_to_prepare(self):
        return [self.model]

    def on_prepared(self, modules) -> None:
        self.wrapped = modules[0]

    def training_step(self, batch, accelerator):
        if self.crash_at_micro is not None and len(self.losses) == self.crash_at_micro:
            raise Crash("simulated crash")
        x = batch.to(accelerator.device)
        loss = (self.wrapped(x) - x.flip(1) * 0.5).pow(2).mean()
        self.losses.append(float(loss.detach()))
        return loss, {"extra": 1.0}

    def validate(self, accelerator, step, ema_module):
        return {"psnr": float(step)}

    def save_pretrained(self, out_dir, accelerator, ema_module) -> None:
        model = ema_module.module if ema_module is not None else accelerator.unwrap_model(self.wrapped)
        torch.save(model.state_dict(), out_dir / "weights.pt")
        self.saved = out_dir

    def model_card(self, out_dir, results) -> str:
        return f"# toy\n\n{json.dumps(results)}\n"


def loader_factory(start: int):
    """Micro-batch k is a function of k only, so restarting at ``start`` continues the stream."""

    def stream():
        k = start
        while True:
            g = torch.Generator().manual_seed(1000 + k)
            yield torch.rand(2, 3, 8, 8, generator=g)
            k += 1

    return stream()


def _core(tmp_path: Path, **kw) -> CoreConfig:
    base = dict(
        output_dir=str(tmp_path / "run"),
        max_steps=6,
        learning_rate=1e-2,
        checkpointing_steps=3,
        logging_steps=2,
        log_with=None,
        warmup_steps=1,
    )
    base.update(kw)
    return CoreConfig(**base)


def test_run_writes_checkpoints_final_folder_and_card(tmp_path):
    task = ToyTask()
    final = run_training(
        _core(tmp_path, log_with="tensorboard"), task, loader_factory, run_config={"a": {"b": 1}}
    )
    assert final == tmp_path / "run" / "final"
    assert (final / "weights.pt").exists()
    assert json.loads((final / "eval_results.json").read_text()) == {"step": 6, "psnr": 6.0}
    assert "# toy" in (final / "README.md").read_text()
    assert [p.name for p in checkpoint_dirs(tmp_path / "run")] == ["checkpoint-3", "checkpoint-6"]
    assert list((tmp_path / "run" / "logs").rglob("events.out.tfevents*")), "tensorboard events missing"
    assert json.loads((tmp_path / "run" / "run_config.json").read_text()) == {"a": {"b": 1}}
    assert len(task.losses) == 6
    assert task.losses[-1] < task.losses[0]


def test_resume_after_a_crash_reproduces_the_uninterrupted_loss_curve(tmp_path):
    straight = ToyTask()
    run_training(_core(tmp_path / "a"), straight, loader_factory)

    crashed = ToyTask(crash_at_micro=4)  # dies during step 5, after checkpoint-3
    with pytest.raises(Crash):
        run_training(_core(tmp_path / "b"), crashed, loader_factory)
    assert [p.name for p in checkpoint_dirs(tmp_path / "b" / "run")] == ["checkpoint-3"]

    resumed = ToyTask()
    run_training(_core(tmp_path / "b", resume_from_checkpoint="latest"), resumed, loader_factory)
    assert len(resumed.losses) == 3
    # dropout masks, data and optimizer/scheduler state all continue exactly
    assert resumed.losses == straight.losses[3:]
    a = torch.load(tmp_path / "a" / "run" / "final" / "weights.pt")
    b = torch.load(tmp_path / "b" / "run" / "final" / "weights.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_second_stage_resumes_the_first_runs_checkpoint_as_foundirs_trainer_load(tmp_path):
    """FoundIR's stage 2 (train.py:95 trainer.load(500)) continues stage 1's step counter, raw
    weights, optimizer and EMA in a new run folder: the two stages equal one uninterrupted run."""
    ema = {"ema_decay": 0.9, "ema_schedule": "ema_pytorch", "ema_update_every": 1, "lr_scheduler": "constant"}
    straight = ToyTask()
    run_training(_core(tmp_path / "a", **ema), straight, loader_factory)
    first = ToyTask()
    run_training(_core(tmp_path / "s1", max_steps=3, **ema), first, loader_factory)
    second = ToyTask()
    stage1 = tmp_path / "s1" / "run" / "checkpoints" / "checkpoint-3"
    run_training(_core(tmp_path / "s2", resume_from_checkpoint=str(stage1), **ema), second, loader_factory)
    assert len(second.losses) == 3 and second.losses == straight.losses[3:]  # 6 steps in all, not 3 + 6
    a = torch.load(tmp_path / "a" / "run" / "final" / "weights.pt")
    b = torch.load(tmp_path / "s2" / "run" / "final" / "weights.pt")  # the EMA weights
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_latest_without_checkpoints_starts_fresh(tmp_path):
    task = ToyTask()
    run_training(_core(tmp_path, max_steps=2, resume_from_checkpoint="latest"), task, loader_factory)
    assert len(task.losses) == 2


class _Hostile:
    """Unpickling it runs code: writes ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('executed')",))


@pytest.mark.parametrize(
    "name",
    [
        "custom_checkpoint_0.pkl",  # accelerate's custom-object file: it unpickled it with weights_only=False
        "loop_state_0.pt",  # the scheduler's state
        "loop_state_1.pt",  # the loop counters
        "loop_state_2.pt",  # the EMA
    ],
)
def test_resume_never_unpickles_a_hostile_loop_state(tmp_path, name):
    """A pickle planted in a checkpoint (a __reduce__ that writes a file) is refused, never run."""
    from ggt_hf.errors import CheckpointError

    run_training(_core(tmp_path, max_steps=3, ema_decay=0.5), ToyTask(), loader_factory)
    checkpoint = checkpoint_dirs(tmp_path / "run")[-1]
    marker = tmp_path / "marker.txt"
    torch.save({"step": _Hostile(marker)}, checkpoint / name)
    resumed = ToyTask()
    core = _core(tmp_path, max_steps=6, ema_decay=0.5, resume_from_checkpoint="latest")
    with pytest.raises(CheckpointError, match=f"{name}: (holds objects other than|a pickled state)"):
        run_training(core, resumed, loader_factory)
    assert not marker.exists()
    assert resumed.losses == []  # refused before any step


def test_checkpoints_hold_no_pickled_loop_state(tmp_path):
    run_training(_core(tmp_path, max_steps=3, ema_decay=0.5), ToyTask(), loader_factory)
    checkpoint = checkpoint_dirs(tmp_path / "run")[-1]
    assert not list(checkpoint.glob("custom_checkpoint_*"))
    assert sorted(p.name for p in checkpoint.glob("loop_state_*")) == [f"loop_state_{i}.pt" for i in range(3)]


def test_gradient_accumulation_counts_optimizer_steps(tmp_path):
    task = ToyTask()
    run_training(_core(tmp_path, max_steps=3, gradient_accumulation_steps=2), task, loader_factory)
    assert len(task.losses) == 6


def test_ema_weights_are_what_gets_saved(tmp_path):
    task = ToyTask()
    run_training(_core(tmp_path, max_steps=4, ema_decay=0.5), task, loader_factory)
    saved = torch.load(task.saved / "weights.pt")
    live = task.model.state_dict()
    assert set(saved) == set(live)
    assert any(not torch.equal(saved[k], live[k]) for k in live), "EMA should lag the live weights"


def test_the_ema_pytorch_schedule_copies_the_weights_first(tmp_path):
    """FoundIR's EMA (ema-pytorch 0.6.2) copies the live weights for its first 100 updates."""
    task = ToyTask()
    core = _core(tmp_path, max_steps=4, ema_decay=0.5, ema_schedule="ema_pytorch", ema_update_every=1)
    run_training(core, task, loader_factory)
    saved, live = torch.load(task.saved / "weights.pt"), task.model.state_dict()
    assert all(torch.equal(saved[k], live[k]) for k in live)


@pytest.mark.parametrize(
    ("name", "kw", "expected"),
    [
        ("cosine_with_min_lr", {"min_lr": 1e-7, "warmup_steps": 0}, 1e-7),
        ("multistep", {"lr_milestones": [2, 4], "lr_gamma": 0.5}, 0.25),
        ("constant", {}, 1.0),
    ],
)
def test_schedules_end_where_the_recipe_says(name, kw, expected):
    core = CoreConfig(learning_rate=1.0, max_steps=6, lr_scheduler=name, **kw)
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer, scheduler = build_optimizer(core, [param])
    for _ in range(6):
        optimizer.step()
        scheduler.step()
    assert scheduler.get_last_lr()[0] == pytest.approx(expected, rel=1e-6, abs=1e-9)


def test_non_finite_loss_stops_with_the_step(tmp_path):
    class NaNTask(ToyTask):
        def training_step(self, batch, accelerator):
            loss, logs = super().training_step(batch, accelerator)
            return loss * float("nan"), logs

    with pytest.raises(FloatingPointError, match="step 1"):
        run_training(_core(tmp_path), NaNTask(), loader_factory)


class RecordingApi:
    """Stands in for HfApi: records the calls a push makes (no network)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", {"repo_id": repo_id, **kw}))

    def upload_folder(self, **kw):
        self.calls.append(("upload_folder", kw))
        return "https://huggingface.co/u/m/commit/abc"


def test_push_model_folder_uploads_the_final_folder_with_the_env_token(tmp_path, monkeypatch):
    from ggt_hf.training.core import push_model_folder

    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    api = RecordingApi()
    url = push_model_folder(tmp_path, "u/m", private=True, api=api)
    assert url.endswith("abc")
    (name1, create), (name2, upload) = api.calls
    assert (name1, name2) == ("create_repo", "upload_folder")
    assert create["repo_type"] == "model" and create["private"] is True
    assert upload["folder_path"] == tmp_path and upload["repo_id"] == "u/m"
    assert upload["token"] == "hf_secret_value"


def test_push_model_folder_refuses_without_token_or_repo(tmp_path, monkeypatch):
    from ggt_hf.hub.push import PushError
    from ggt_hf.training.core import push_model_folder

    with pytest.raises(ValueError, match="hub_model_id"):
        push_model_folder(tmp_path, None, api=RecordingApi())
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("ggt_hf.hub.push.get_token", lambda: None)
    with pytest.raises(PushError, match="HF_TOKEN"):
        push_model_folder(tmp_path, "u/m", api=RecordingApi())


def test_entry_flags_become_train_overrides(tmp_path):
    from ggt_hf.training.entry import parse_recipe_args

    config, overrides = parse_recipe_args(
        [
            "--config",
            "r.yaml",
            "data.ratio=3",
            "--push_to_hub",
            "--hub_model_id",
            "me/m",
            "--train.max_steps=5",
            "--resume_from_checkpoint=latest",
        ],
        "test",
    )
    assert str(config) == "r.yaml"
    assert overrides == [
        "data.ratio=3",
        "--train.max_steps=5",
        "train.hub_model_id=me/m",
        "train.resume_from_checkpoint=latest",
        "train.push_to_hub=true",
    ]
    with pytest.raises(SystemExit):
        parse_recipe_args(["--config", "r.yaml", "--bogus"], "test")


def _step_grad_norms(core: CoreConfig) -> tuple[ToyTask, list[float]]:
    """Train a ToyTask and record the total gradient norm each optimizer step actually applied."""
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    norms: list[float] = []

    def record(optimizer, _args, _kwargs) -> None:
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))

    handle = register_optimizer_step_pre_hook(record)
    try:
        task = ToyTask()
        run_training(core, task, loader_factory)
    finally:
        handle.remove()
    return task, norms


def test_bf16_mixed_precision_and_clipping_run_on_any_device(tmp_path):
    from accelerate.state import AcceleratorState

    max_norm = 0.05
    _, unclipped = _step_grad_norms(_core(tmp_path / "a", max_steps=4, mixed_precision="bf16"))
    AcceleratorState._reset_state(reset_partial_state=True)  # a fresh process-wide state per run
    task, clipped = _step_grad_norms(
        _core(tmp_path / "b", max_steps=4, mixed_precision="bf16", max_grad_norm=max_norm)
    )
    assert len(task.losses) == 4 and all(map(math.isfinite, task.losses))
    # the first step sees the same weights and batch in both runs: clipping scaled its gradient down
    assert unclipped[0] > 2 * max_norm, unclipped
    assert clipped[0] == pytest.approx(max_norm, rel=1e-3)
    assert max(clipped) <= max_norm * (1 + 1e-3)
    # accelerate's autocast ran the convolutions in bf16 (and cast the outputs back to fp32)
    assert task.inner_dtypes == {torch.bfloat16}


def test_push_without_token_fails_before_training(tmp_path, monkeypatch):
    from ggt_hf.hub.push import PushError

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("ggt_hf.hub.push.get_token", lambda: None)
    task = ToyTask()
    with pytest.raises(PushError, match="HF_TOKEN"):
        run_training(_core(tmp_path, push_to_hub=True, hub_model_id="u/m"), task, loader_factory)
    assert task.losses == []
    with pytest.raises(ValueError, match="hub_model_id"):
        run_training(_core(tmp_path, push_to_hub=True), task, loader_factory)
