"""Is the launch possible on this machine? Checked before the ``Accelerator`` is built.

A GPU launch (``accelerate launch --config_file .../multi_gpu.yaml``, ``torchrun --nproc-per-node 8``)
on a machine without enough CUDA GPUs does not fail by itself: each process falls back to the CPU,
trains alone as "rank 0 of 1" into the same output folder, or dies in the process group's set-up
amid a launcher traceback per process. Refused here in one line instead, before any work.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ggt_hf.errors import UsageError

_TRUE = {"1", "true", "yes"}


def check_launch_devices(environ: Mapping[str, str] | None = None, gpus: int | None = None) -> None:
    """Raise :class:`~ggt_hf.errors.UsageError` when a multi-process launch asks for more GPUs
    than this machine has (a CPU launch, ``ACCELERATE_USE_CPU`` / ``use_cpu: true``, is fine).

    ``environ`` and ``gpus`` default to the process environment and ``torch.cuda.device_count()``.
    """
    env = os.environ if environ is None else environ
    local = int(env.get("LOCAL_WORLD_SIZE") or env.get("WORLD_SIZE") or 1)
    if local <= 1 or env.get("ACCELERATE_USE_CPU", "").strip().lower() in _TRUE:
        return
    if gpus is None:
        import torch

        gpus = torch.cuda.device_count()
    if gpus >= local:
        return
    have = "no CUDA GPU" if gpus == 0 else f"{gpus} CUDA GPU(s)"
    raise UsageError(
        f"a launch of {local} processes on one machine",
        f"it needs one GPU per process, and this machine has {have}; set num_processes to the GPU "
        "count, or train on the CPU with --config_file training/accelerate_configs/cpu.yaml",
    )
