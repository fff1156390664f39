"""Learning-rate schedules of the official recipes, and the milestones a run plan prints.

``CoreConfig.lr_scheduler`` names one of:

* any ``transformers`` ``SchedulerType`` (``cosine_with_min_lr`` decays to ``min_lr`` after
  ``warmup_steps``; ``constant_with_warmup``; ...);
* ``multistep`` — ``torch.optim.lr_scheduler.MultiStepLR`` at ``lr_milestones`` × ``lr_gamma``
  (KAIR's SwinIR recipes), after an optional linear warm-up;
* ``lr_schedule_steps`` makes a schedule longer than the run (PromptIR/MoCE-IR: a 150-epoch cosine
  stopped after 120 epochs);
* ``warmup_cosine_per_epoch`` — Lightning-bolts' ``LinearWarmupCosineAnnealingLR`` as PromptIR and
  MoCE-IR step it: once per *epoch* of ``lr_steps_per_epoch`` optimizer steps, so the rate is
  constant within an epoch. Epoch ``e`` (``warmup_steps`` and ``lr_schedule_steps`` give the warm-up
  and total epochs ``W`` and ``M``) trains at ``e · lr / (W − 1)`` during the warm-up, then
  ``lr · ½(1 + cos(π (e − W) / (M − W)))`` (``warmup_start_lr`` and ``eta_min`` 0, the official
  values). ``lr_epoch_delay`` shifts the curve by whole epochs, epoch 0's rate (0) held meanwhile:
  PromptIR's hook calls ``scheduler.step(self.current_epoch)`` at each epoch's end, one epoch late,
  so its first two epochs train at 0 (``lr_epoch_delay: 1``);
* ``gradual_warmup_cosine_per_epoch`` — MPRNet's ``GradualWarmupScheduler(multiplier=1,
  total_epoch=W)`` chained to ``CosineAnnealingLR(T_max=M − W, eta_min=min_lr)``, stepped once per
  epoch of ``lr_steps_per_epoch`` optimizer steps (Deraining/train.py: one ``step()`` before the
  first epoch, one after each). Epoch ``e`` (0-based) trains at ``(e + 1) · lr / W`` during the
  warm-up, then ``min_lr + (lr − min_lr) · ½(1 + cos(π (e − W) / (M − W)))``;
* ``cosine_restart_cyclic`` — BasicSR/Restormer's ``CosineAnnealingRestartCyclicLR``: consecutive
  periods ``lr_periods``; in period ``i`` the rate follows a half cosine from
  ``learning_rate · lr_restart_weights[i]`` down to ``lr_eta_mins[i]``. Restormer's
  ``periods [92000, 208000]``, ``eta_mins [3e-4, 1e-6]`` is "constant 3e-4 for 92k, then cosine to
  1e-6 over 208k".

:func:`schedule_milestones` gives the ``(step, lr)`` points a plan prints; the tests step the real
scheduler and check it passes through exactly those points.
"""

from __future__ import annotations

import math
from itertools import accumulate

import torch

CYCLIC = "cosine_restart_cyclic"
PER_EPOCH = "warmup_cosine_per_epoch"
GRADUAL_PER_EPOCH = "gradual_warmup_cosine_per_epoch"


def _epochs(core) -> tuple[int, int, int]:
    """``(steps per epoch, warm-up epochs, schedule epochs)`` of a per-epoch schedule."""
    per = core.lr_steps_per_epoch or 0
    length = core.lr_schedule_steps or core.max_steps
    if per < 1 or core.warmup_steps % per or length % per or length <= core.warmup_steps:
        raise ValueError(
            f"lr_scheduler {core.lr_scheduler} needs lr_steps_per_epoch ≥ 1 dividing warmup_steps "
            f"({core.warmup_steps}) and the schedule length ({length}, longer than the warm-up); "
            f"got lr_steps_per_epoch={core.lr_steps_per_epoch}"
        )
    return per, core.warmup_steps // per, length // per


def per_epoch_lr(core, step: int) -> float:
    """The learning rate of ``warmup_cosine_per_epoch`` after ``step`` optimizer steps (see above)."""
    per, warm, total = _epochs(core)
    epoch = max(step // per - core.lr_epoch_delay, 0)
    if epoch < warm:
        return epoch * core.learning_rate / max(warm - 1, 1)
    return 0.5 * core.learning_rate * (1 + math.cos(math.pi * (epoch - warm) / (total - warm)))


def gradual_per_epoch_lr(core, step: int) -> float:
    """The learning rate of ``gradual_warmup_cosine_per_epoch`` after ``step`` optimizer steps."""
    per, warm, total = _epochs(core)
    epoch = step // per
    if epoch < warm:
        return (epoch + 1) * core.learning_rate / warm
    shape = 0.5 * (1 + math.cos(math.pi * (epoch - warm) / (total - warm)))
    return core.min_lr + (core.learning_rate - core.min_lr) * shape


#: the per-epoch schedules: name -> learning rate after a number of optimizer steps
_PER_EPOCH_LR = {PER_EPOCH: per_epoch_lr, GRADUAL_PER_EPOCH: gradual_per_epoch_lr}


def _check_cyclic(core) -> tuple[list[int], list[float], list[float]]:
    periods = list(core.lr_periods or [])
    weights = list(core.lr_restart_weights or [1.0] * len(periods))
    mins = list(core.lr_eta_mins or [])
    if not periods or len(weights) != len(periods) or len(mins) != len(periods):
        raise ValueError(
            f"lr_scheduler {CYCLIC} needs lr_periods, lr_eta_mins (and lr_restart_weights) of equal "
            f"length, got periods={core.lr_periods} eta_mins={core.lr_eta_mins} "
            f"restart_weights={core.lr_restart_weights}"
        )
    if sum(periods) < core.max_steps:
        raise ValueError(f"lr_periods sum to {sum(periods)} < max_steps {core.max_steps}")
    return periods, weights, mins


def cyclic_lr(core, step: int) -> float:
    """The learning rate of ``cosine_restart_cyclic`` after ``step`` optimizer steps (BasicSR's formula)."""
    periods, weights, mins = _check_cyclic(core)
    ends = list(accumulate(periods))
    index = next((i for i, end in enumerate(ends) if step <= end), len(ends) - 1)
    start = ends[index - 1] if index else 0
    base = core.learning_rate
    progress = (step - start) / periods[index]
    return mins[index] + weights[index] * 0.5 * (base - mins[index]) * (1 + math.cos(math.pi * progress))


def build_scheduler(core, optimizer):
    """The scheduler of ``core.lr_scheduler`` over ``optimizer`` (stepped once per optimizer step)."""
    if core.lr_scheduler == CYCLIC:
        _check_cyclic(core)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: cyclic_lr(core, s) / core.learning_rate)
    if core.lr_scheduler in _PER_EPOCH_LR:
        _epochs(core)
        lr_at = _PER_EPOCH_LR[core.lr_scheduler]
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_at(core, s) / core.learning_rate)
    if core.lr_scheduler == "multistep":
        # transformers has no multi-step schedule; KAIR's SwinIR recipes use torch's MultiStepLR.
        decay = torch.optim.lr_scheduler.MultiStepLR(optimizer, core.lr_milestones or [], core.lr_gamma)
        if not core.warmup_steps:
            return decay
        warm = torch.optim.lr_scheduler.LinearLR(optimizer, 1e-3, 1.0, total_iters=core.warmup_steps)
        return torch.optim.lr_scheduler.SequentialLR(optimizer, [warm, decay], [core.warmup_steps])
    from transformers import get_scheduler

    extra = {"min_lr": core.min_lr} if "min_lr" in core.lr_scheduler else {}
    return get_scheduler(
        core.lr_scheduler,
        optimizer,
        num_warmup_steps=core.warmup_steps,
        num_training_steps=core.lr_schedule_steps or core.max_steps,
        scheduler_specific_kwargs=extra,
    )


def schedule_milestones(core) -> list[tuple[int, float]]:
    """``(optimizer step, learning rate)`` at the schedule's turning points, up to ``max_steps``."""
    lr, end, warm = core.learning_rate, core.max_steps, core.warmup_steps
    name = core.lr_scheduler
    if name == CYCLIC:
        starts = [0, *accumulate(core.lr_periods or [])]
        return [(s, cyclic_lr(core, s)) for s in sorted({*(s for s in starts if s < end), end})]
    if name == PER_EPOCH:
        per, warm_epochs, _ = _epochs(core)
        delay = core.lr_epoch_delay
        turns = (
            0,
            delay + 1,
            delay + warm_epochs - 1,
            delay + warm_epochs,
        )  # epochs: start, first rise, peak, cosine
        return [(s, per_epoch_lr(core, s)) for s in sorted({*(e * per for e in turns if e * per < end), end})]
    if name == GRADUAL_PER_EPOCH:
        per, warm_epochs, _ = _epochs(core)
        turns = (0, warm_epochs - 1, warm_epochs)  # epochs: first, peak, cosine from the peak
        return [
            (s, gradual_per_epoch_lr(core, s))
            for s in sorted({*(e * per for e in turns if e * per < end), end})
        ]
    points = [(0, 0.0), (warm, lr)] if warm else [(0, lr)]
    if name == "multistep":
        current = lr
        for milestone in core.lr_milestones or []:
            if milestone <= end:
                current *= core.lr_gamma
                points.append((milestone, current))
        return points
    length = core.lr_schedule_steps or end
    if name in ("cosine_with_min_lr", "cosine", "linear"):
        floor = core.min_lr if name == "cosine_with_min_lr" else 0.0
        if length <= end:
            return [*points, (end, floor)]
        done = (end - warm) / (length - warm)  # the run stops before the schedule's end
        shape = 1 - done if name == "linear" else 0.5 * (1 + math.cos(math.pi * done))
        return [*points, (end, floor + (lr - floor) * shape)]
    return [*points, (end, lr)]  # constant(_with_warmup) and others: flat after warm-up
