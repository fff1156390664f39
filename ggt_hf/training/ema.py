"""The EMA of the trained weights, as the official runs keep it.

Two schedules (``CoreConfig.ema_schedule``), both updated every ``ema_update_every`` optimizer steps:

* ``"fixed"`` — a constant decay ``ema_decay`` from the first update, parameters only
  (``torch.optim.swa_utils.AveragedModel``; KAIR's ``E_decay`` for SwinIR);
* ``"ema_pytorch"`` — ``ema_pytorch.EMA`` 0.6.2 (lucidrains/ema-pytorch@0.6.2
  ``ema_pytorch/ema_pytorch.py``: ``update`` lines 199-214, ``get_current_decay`` lines 190-197), which
  FoundIR trains with (House-Leo/FoundIR@6d19958 ``environment.yaml`` ``ema-pytorch==0.6.2``,
  ``src/model.py:1209`` ``EMA(diffusion_model, beta=ema_decay, update_every=ema_update_every)``):
  its counter counts every call; on a call whose count is a multiple of ``update_every`` the weights
  are *copied* while the count is ≤ ``update_after_step`` (100) and on the first call after it,
  then moved towards the model with
  the warm-up decay ``1 − (1 + (count − 100))^(−2/3)`` capped at ``beta`` — 0.995 is reached near
  step 2.9k. Floating buffers are averaged like the parameters.

The state is the :class:`~torch.optim.swa_utils.AveragedModel` (saved in every checkpoint); the
counter is the loop's optimizer step, so a resumed run continues the same schedule.
"""

from __future__ import annotations

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

#: The EMA schedules :func:`update_ema` knows.
EMA_SCHEDULES = ("fixed", "ema_pytorch")
#: ema-pytorch 0.6.2 defaults FoundIR keeps (``EMA.__init__``, lines 55-58).
EMA_PYTORCH_UPDATE_AFTER_STEP = 100
EMA_PYTORCH_INV_GAMMA = 1.0
EMA_PYTORCH_POWER = 2 / 3


def create_ema(model: torch.nn.Module, core) -> AveragedModel | None:
    """The EMA copy of ``model`` for ``core.ema_decay`` (``None`` when it is off)."""
    if not core.ema_decay:
        return None
    if core.ema_schedule not in EMA_SCHEDULES:
        raise ValueError(f"train.ema_schedule must be one of {EMA_SCHEDULES}, got {core.ema_schedule!r}")
    if core.ema_update_every < 1:
        raise ValueError(f"train.ema_update_every must be ≥ 1, got {core.ema_update_every}")
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(core.ema_decay))


def ema_pytorch_decay(beta: float, count: int) -> float:
    """ema-pytorch 0.6.2 ``get_current_decay`` after its ``count``-th call (counter incremented)."""
    epoch = max(count - EMA_PYTORCH_UPDATE_AFTER_STEP - 1, 0)
    if epoch <= 0:
        return 0.0
    value = 1 - (1 + epoch / EMA_PYTORCH_INV_GAMMA) ** -EMA_PYTORCH_POWER
    return min(max(value, 0.0), beta)


def _float_tensors(module: torch.nn.Module) -> list[torch.Tensor]:
    params = [p for p in module.parameters() if torch.is_floating_point(p) or torch.is_complex(p)]
    return params + [b for b in module.buffers() if torch.is_floating_point(b) or torch.is_complex(b)]


@torch.no_grad()
def update_ema(ema: AveragedModel, model: torch.nn.Module, core, step: int) -> None:
    """Update ``ema`` after optimizer step ``step`` (1-based) as ``core.ema_schedule`` says."""
    call = step - 1  # the ema-pytorch counter before this call (0 at the first update)
    if call % core.ema_update_every:
        return
    if core.ema_schedule == "fixed":
        ema.update_parameters(model)
        return
    targets, sources = _float_tensors(ema.module), _float_tensors(model)
    # copies until update_after_step, and again on the first averaging call (``initted`` is False
    # then: copy, then lerp towards the same weights), so every call up to the next multiple copies
    if call <= EMA_PYTORCH_UPDATE_AFTER_STEP + core.ema_update_every:
        for target, source in zip(targets, sources, strict=True):
            target.copy_(source)
    else:
        weight = 1.0 - ema_pytorch_decay(core.ema_decay, call + 1)
        for target, source in zip(targets, sources, strict=True):
            target.lerp_(source.to(target.dtype), weight)
    ema.n_averaged += 1
