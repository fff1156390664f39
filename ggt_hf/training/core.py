"""The one training loop every ggt-hf trainer shares (regression restorers, edit-model LoRA, ControlNet).

A trainer is a :class:`TrainTask` — it builds its models, says which parameters train, computes the
loss of a batch, validates and saves its final artifact — plus a ``loader_factory`` giving the data
stream from a given micro-batch onwards. :func:`run_training` does the rest with ``accelerate``:

* ``Accelerator`` with gradient accumulation, mixed precision and trackers (tensorboard by default);
  DDP/FSDP come from ``accelerate launch --config_file training/accelerate_configs/...``;
* AdamW and a schedule from :mod:`ggt_hf.training.schedules` (``transformers`` schedules with
  warm-up, multi-step, BasicSR's multi-period cosine). The scheduler is stepped here once per
  optimizer step and is *not* passed to ``accelerator.prepare`` — accelerate would step it
  ``num_processes`` times;
* gradient clipping of the parameters the *prepared* modules hold (:func:`clip_targets`: under FSDP
  these are the sharded tensors that receive gradients, not the ones taken before ``prepare``), an
  EMA of the first prepared module (:mod:`ggt_hf.training.ema`: a fixed decay, or ema-pytorch's
  warm-up schedule);
* checkpoints with ``accelerator.save_state`` (model, optimizer, RNG states) plus the scheduler, EMA
  and loop counters (:mod:`ggt_hf.training.checkpoint_state`, read back weights-only) every
  ``checkpointing_steps``, pruned to ``checkpoints_total_limit``, and **exact
  resume**: the data stream is a deterministic function of the micro-batch index, so restarting the
  loader at the saved index and restoring the RNG states reproduces the uninterrupted loss curve;
* periodic validation and a final ``save_pretrained`` + model card + optional ``push_to_hub``.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from ggt_hf.constants import TRAINING_FINAL_DIR
from ggt_hf.training.checkpoint_state import apply_states, read_states, save_states
from ggt_hf.training.ema import create_ema, update_ema

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
FINAL_DIR = TRAINING_FINAL_DIR
_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


@dataclass
class CoreConfig:
    """Optimisation, precision, checkpointing and logging settings shared by every trainer."""

    output_dir: str = "outputs/run"
    max_steps: int = 1000
    learning_rate: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    adam_epsilon: float = 1e-8
    #: any transformers SchedulerType, "multistep", "cosine_restart_cyclic" or a per-epoch schedule
    #: (see schedules.py)
    lr_scheduler: str = "cosine_with_min_lr"
    warmup_steps: int = 0
    #: length of the schedule when it is not max_steps (PromptIR: a 150-epoch cosine stopped at 120)
    lr_schedule_steps: int | None = None
    min_lr: float = 1e-7  # floor of cosine_with_min_lr
    lr_milestones: list[int] | None = None  # multistep (SwinIR/KAIR): decay points ...
    lr_gamma: float = 0.5  # ... and factor
    lr_periods: list[int] | None = None  # cosine_restart_cyclic (BasicSR): period lengths ...
    lr_restart_weights: list[float] | None = None  # ... peak of each period (× learning_rate) ...
    lr_eta_mins: list[float] | None = None  # ... and the floor each period decays to
    #: warmup_cosine_per_epoch (PromptIR/MoCE-IR) and gradual_warmup_cosine_per_epoch (MPRNet):
    #: optimizer steps per official epoch, and how many epochs late the official hook steps the
    #: schedule (warmup_cosine_per_epoch only; see schedules.py)
    lr_steps_per_epoch: int | None = None
    lr_epoch_delay: int = 0
    #: the official *total* batch (all processes × accumulation); when set, the per-process
    #: micro-batch and gradient_accumulation_steps are derived from the world size
    #: (ggt_hf.training.batching.resolve_batch) and ``data.batch_size`` is the per-process maximum
    total_batch_size: int | None = None
    gradient_accumulation_steps: int = 1
    max_grad_norm: float | None = None
    mixed_precision: str = "no"  # no | fp16 | bf16 (accelerate)
    #: DDP: needed when some parameters get no gradient in a step (MoCE-IR's unrouted experts,
    #: PromptIR's unused official convs)
    ddp_find_unused_parameters: bool = False
    ema_decay: float | None = None
    #: "fixed" (constant decay, parameters) or "ema_pytorch" (ema-pytorch 0.6.2's copy-then-warm-up
    #: schedule, FoundIR): see ggt_hf.training.ema
    ema_schedule: str = "fixed"
    ema_update_every: int = 1  # update the EMA every N optimizer steps
    checkpointing_steps: int = 500
    checkpoints_total_limit: int | None = 3
    resume_from_checkpoint: str | None = None  # a checkpoint folder, or "latest"
    validation_steps: int = 0  # 0: validate only at the end
    logging_steps: int = 10
    log_with: str | None = "tensorboard"  # any accelerate tracker, or None
    project_name: str = "ggt-hf"
    seed: int = 0
    push_to_hub: bool = False
    hub_model_id: str | None = None
    hub_private: bool = False


@runtime_checkable
class TrainTask(Protocol):
    """What a trainer supplies to :func:`run_training`."""

    def setup(self, accelerator) -> None:
        """Build the models (frozen and trainable) and move frozen ones to ``accelerator.device``."""

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        """The parameters the optimizer updates."""

    def modules_to_prepare(self) -> list[torch.nn.Module]:
        """Module(s) wrapped by ``accelerator.prepare`` (DDP/FSDP); the first one gets the EMA."""

    def on_prepared(self, modules: list[torch.nn.Module]) -> None:
        """Receives the prepared (possibly DDP-wrapped) modules, in the same order."""

    def training_step(self, batch: Any, accelerator) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss of one micro-batch (before accumulation scaling) and scalars to log."""

    def validate(self, accelerator, step: int, ema_module: torch.nn.Module | None) -> dict[str, float]:
        """Scores on held-out data (called on every process; log/print on the main one)."""

    def save_pretrained(self, out_dir: Path, accelerator, ema_module: torch.nn.Module | None) -> None:
        """Write the final artifact (weights + config) into ``out_dir`` (main process only)."""

    def model_card(self, out_dir: Path, results: dict[str, float]) -> str:
        """The rendered model card (README.md) for ``out_dir``.

        A task may also define ``on_train_end(accelerator)``, called on every process after the last
        step (e.g. to write per-rank data statistics).
        """


class LoopState:
    """Loop counters saved in every checkpoint (registered with ``accelerator``)."""

    def __init__(self) -> None:
        self.step = 0  # optimizer steps done
        self.micro = 0  # micro-batches consumed by this process

    def state_dict(self) -> dict[str, int]:
        return {"step": self.step, "micro": self.micro}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.step, self.micro = int(state["step"]), int(state["micro"])


def checkpoint_dirs(output_dir: str | Path) -> list[Path]:
    """The checkpoints of a run, oldest first."""
    root = Path(output_dir) / CHECKPOINT_DIR
    found = [(int(m[1]), p) for p in root.glob("checkpoint-*") if (m := _CHECKPOINT_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def resolve_resume(core: CoreConfig) -> Path | None:
    """The checkpoint to resume from: ``latest`` (None when there is none yet) or an explicit path."""
    if not core.resume_from_checkpoint:
        return None
    if core.resume_from_checkpoint == "latest":
        found = checkpoint_dirs(core.output_dir)
        return found[-1] if found else None
    path = Path(core.resume_from_checkpoint)
    if not path.is_dir():
        raise FileNotFoundError(f"resume_from_checkpoint: {path} is not a checkpoint folder")
    return path


def _flat_config(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Trackers (tensorboard hparams) want flat scalars."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat_config(value, f"{name}."))
        elif isinstance(value, (int, float, str, bool)):
            out[name] = value
        else:
            out[name] = json.dumps(value, default=str)
    return out


def build_optimizer(core: CoreConfig, params: list[torch.nn.Parameter]):
    """AdamW plus the schedule of ``core.lr_scheduler`` (:func:`~ggt_hf.training.schedules.build_scheduler`)."""
    from ggt_hf.training.schedules import build_scheduler

    optimizer = torch.optim.AdamW(
        params,
        lr=core.learning_rate,
        betas=tuple(core.betas),
        weight_decay=core.weight_decay,
        eps=core.adam_epsilon,
    )
    return optimizer, build_scheduler(core, optimizer)


def clip_targets(modules: list[torch.nn.Module]) -> list[torch.nn.Parameter]:
    """The parameters gradient clipping acts on: the trainable ones the *prepared* modules hold.

    ``accelerator.prepare`` may replace parameters (FSDP flattens or shards them into new
    tensors), so a list taken before ``prepare`` can hold tensors that never get a gradient and
    clipping them would do nothing. Frozen parameters (LoRA bases) are left out; a parameter shared
    by two modules is counted once.
    """
    seen: set[int] = set()
    out: list[torch.nn.Parameter] = []
    for module in modules:
        for param in module.parameters():
            if param.requires_grad and id(param) not in seen:
                seen.add(id(param))
                out.append(param)
    return out


def make_accelerator(core: CoreConfig, data=None):
    """The ``Accelerator`` for a run (accumulation, precision, trackers, project folder).

    With ``data`` (the recipe's data section), the per-process batch (``data.batch_size``) and
    ``core.gradient_accumulation_steps`` are then derived from the launch's world size and the
    recipe's total batch or progressive phases (:func:`ggt_hf.training.batching.split_for_launch`), in
    place, and the accelerator's accumulation set to match. (The world size is read from the
    accelerator: a bare ``PartialState()`` ignores ``ACCELERATE_USE_CPU`` and would pin a CPU
    multi-process launch to one process.)
    """
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs, ProjectConfiguration

    from ggt_hf.training.launch_check import check_launch_devices

    check_launch_devices()  # a GPU launch without the GPUs: one line, before any process group
    project = ProjectConfiguration(
        project_dir=core.output_dir, logging_dir=str(Path(core.output_dir) / "logs")
    )
    accelerator = Accelerator(
        gradient_accumulation_steps=core.gradient_accumulation_steps,
        mixed_precision=core.mixed_precision,
        log_with=core.log_with or None,
        project_config=project,
        kwargs_handlers=[
            DistributedDataParallelKwargs(find_unused_parameters=core.ddp_find_unused_parameters)
        ],
    )
    if data is not None:
        from ggt_hf.training.batching import split_for_launch

        split_for_launch(core, data, accelerator.num_processes)
        accelerator.gradient_accumulation_steps = core.gradient_accumulation_steps
        logger.info(
            "%d processes × %d per process × %d accumulation",
            accelerator.num_processes,
            data.batch_size,
            core.gradient_accumulation_steps,
        )
    return accelerator


def _save_checkpoint(accelerator, core: CoreConfig, step: int, loop_objects: list[Any]) -> None:
    path = Path(core.output_dir) / CHECKPOINT_DIR / f"checkpoint-{step}"
    accelerator.save_state(str(path))
    save_states(accelerator, path, loop_objects)
    if accelerator.is_main_process and core.checkpoints_total_limit:
        for old in checkpoint_dirs(core.output_dir)[: -core.checkpoints_total_limit]:
            shutil.rmtree(old, ignore_errors=True)
    logger.info("saved checkpoint %s", path)


def _log_metrics(accelerator, logs: dict[str, float], step: int) -> None:
    if logs:
        accelerator.log(logs, step=step)
        logger.info("step %d: %s", step, ", ".join(f"{k}={v:.4g}" for k, v in logs.items()))


def run_training(
    core: CoreConfig,
    task: TrainTask,
    loader_factory: Callable[[int], Iterable[Any]],
    *,
    run_config: dict[str, Any] | None = None,
    accelerator=None,
) -> Path:
    """Train ``task`` for ``core.max_steps`` optimizer steps; returns the final artifact folder.

    ``loader_factory(micro_batches_done)`` must return an (infinite) iterable of micro-batches for
    this process that starts at that index; ``run_config`` is recorded by the trackers and in
    ``<output_dir>/run_config.json``.
    """
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm

    accelerator = accelerator or make_accelerator(core)
    if core.push_to_hub and accelerator.is_main_process:
        _check_push(core)  # fail before hours of training, not after
    set_seed(core.seed)
    out = Path(core.output_dir)
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        if run_config is not None:
            (out / "run_config.json").write_text(json.dumps(run_config, indent=2, default=str))
    if core.log_with:
        accelerator.init_trackers(core.project_name, config=_flat_config(run_config or {}))

    task.setup(accelerator)
    params = task.trainable_parameters()
    optimizer, scheduler = build_optimizer(core, params)
    prepared = accelerator.prepare(*task.modules_to_prepare(), optimizer)
    prepared = list(prepared) if isinstance(prepared, (list, tuple)) else [prepared]
    modules, optimizer = prepared[:-1], prepared[-1]
    task.on_prepared(modules)
    clipped = clip_targets(modules)
    state = LoopState()
    loop_objects: list[Any] = [scheduler, state]  # saved beside accelerate's state, read weights-only
    ema = create_ema(accelerator.unwrap_model(modules[0]), core)
    if ema is not None:
        loop_objects.append(ema)

    resume = resolve_resume(core)
    if resume is not None:
        saved = read_states(resume, len(loop_objects))  # refused before anything is changed
        accelerator.load_state(str(resume))
        apply_states(loop_objects, saved)
        logger.info("resumed from %s at step %d", resume, state.step)

    trained = accelerator.unwrap_model(modules[0])
    batches = iter(loader_factory(state.micro))
    bar = tqdm(total=core.max_steps, initial=state.step, disable=not accelerator.is_local_main_process)
    window: list[dict[str, float]] = []
    while state.step < core.max_steps:
        batch = next(batches)
        state.micro += 1
        with accelerator.accumulate(*modules):
            loss, logs = task.training_step(batch, accelerator)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {loss.item()} at step {state.step + 1}")
            accelerator.backward(loss)
            if accelerator.sync_gradients and core.max_grad_norm:
                logs["grad_norm"] = float(accelerator.clip_grad_norm_(clipped, core.max_grad_norm))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        window.append({"loss": float(loss.detach()), **logs})
        if not accelerator.sync_gradients:
            continue
        scheduler.step()
        state.step += 1
        bar.update(1)
        if ema is not None:
            update_ema(ema, trained, core, state.step)
        if state.step % core.logging_steps == 0 or state.step == core.max_steps:
            mean = _window_mean(window)
            mean["lr"] = scheduler.get_last_lr()[0]
            bar.set_postfix(loss=f"{mean['loss']:.4g}")
            _log_metrics(accelerator, {f"train/{k}": v for k, v in mean.items()}, state.step)
        window = []
        if core.checkpointing_steps and state.step % core.checkpointing_steps == 0:
            _save_checkpoint(accelerator, core, state.step, loop_objects)
        if core.validation_steps and state.step % core.validation_steps == 0 and state.step < core.max_steps:
            _log_metrics(accelerator, _prefixed(task.validate(accelerator, state.step, ema)), state.step)
    bar.close()
    if hasattr(task, "on_train_end"):
        task.on_train_end(accelerator)
    return _finish(core, task, accelerator, ema, state.step)


def _window_mean(window: list[dict[str, float]]) -> dict[str, float]:
    """Each logged scalar averaged over the micro-batches that reported it."""
    keys = {k for w in window for k in w}
    return {k: sum(w[k] for w in window if k in w) / sum(k in w for w in window) for k in keys}


def _prefixed(scores: dict[str, float]) -> dict[str, float]:
    return {f"val/{k}": v for k, v in scores.items() if isinstance(v, (int, float)) and math.isfinite(v)}


def _finish(core: CoreConfig, task: TrainTask, accelerator, ema, step: int) -> Path:
    """Final validation, artifact, card and optional push (main process writes)."""
    accelerator.wait_for_everyone()
    results = task.validate(accelerator, step, ema)
    _log_metrics(accelerator, _prefixed(results), step)
    final = Path(core.output_dir) / FINAL_DIR
    if accelerator.is_main_process:
        final.mkdir(parents=True, exist_ok=True)
        task.save_pretrained(final, accelerator, ema)
        (final / "eval_results.json").write_text(json.dumps({"step": step, **results}, indent=2))
        (final / "README.md").write_text(task.model_card(final, results))
        if core.push_to_hub:
            push_model_folder(final, core.hub_model_id, private=core.hub_private)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return final


def _check_push(core: CoreConfig) -> None:
    from ggt_hf.hub.push import resolve_token

    if not core.hub_model_id:
        raise ValueError("push_to_hub needs hub_model_id (e.g. your-name/nafnet-ggt)")
    resolve_token()


def push_model_folder(folder: Path, repo_id: str | None, *, private: bool = False, api=None) -> str:
    """Upload a final model folder (weights, config, card) to a model repo; returns the commit URL.

    The token comes from ``HF_TOKEN`` or the stored login (never logged), as for dataset pushes.
    """
    from huggingface_hub import HfApi

    from ggt_hf.hub.push import resolve_token

    if not repo_id:
        raise ValueError("push_to_hub needs hub_model_id (e.g. your-name/nafnet-ggt)")
    token = resolve_token()
    api = api or HfApi()
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True, token=token)
    info = api.upload_folder(
        repo_id=repo_id,
        folder_path=folder,
        repo_type="model",
        commit_message="Upload restorer trained with ggt-hf",
        token=token,
    )
    url = str(getattr(info, "commit_url", info))
    logger.info("pushed %s to %s: %s", folder, repo_id, url)
    return url
