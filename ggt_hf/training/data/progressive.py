"""Progressive patch training (Restormer / X-Restormer): the crop side grows and the batch shrinks in
phases of optimizer steps, e.g. Restormer's 128² × 64 for 92k steps … 384² × 8 for the last 24k.

As the official ``train.py`` does, the loader always delivers batches at the largest crop and the
largest per-process batch; each micro-batch is then cut down to its phase — the first ``n`` samples
(the stream is already shuffled) and one random ``crop_size`` window shared by LQ and HQ, drawn from
``(seed, micro-batch index)`` so a resumed run cuts exactly as the uninterrupted one.

Every phase states the official *total* batch; :func:`ggt_hf.training.batching.resolve_phases`
splits all of them over the launch with one gradient accumulation (the trainer's accumulation is fixed for a run), refusing a
launch that cannot split every phase.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

import numpy as np
import torch


@dataclass
class Phase:
    """``steps`` optimizer steps at ``crop_size``² crops and ``total_batch_size`` samples per step."""

    steps: int
    crop_size: int
    total_batch_size: int

    def __post_init__(self) -> None:
        if min(self.steps, self.crop_size, self.total_batch_size) < 1:
            raise ValueError(f"progressive phase {self}: steps, crop_size and total_batch_size must be ≥ 1")


def phase_index(phases: list[Phase], step: int) -> int:
    """The phase of optimizer step ``step`` (0-based); steps past the end stay in the last phase."""
    for i, end in enumerate(accumulate(p.steps for p in phases)):
        if step < end:
            return i
    return len(phases) - 1


def cut_batch(batch: dict[str, Any], size: int, crop: int, generator: torch.Generator) -> dict[str, Any]:
    """The first ``size`` samples of ``batch`` and one random ``crop``² window of their LQ/HQ tensors."""
    out: dict[str, Any] = {}
    height, width = batch["lq"].shape[-2:]
    if crop > min(height, width):
        raise ValueError(f"progressive crop {crop} is larger than the loaded {height}×{width} crops")
    top = int(torch.randint(0, height - crop + 1, (1,), generator=generator))
    left = int(torch.randint(0, width - crop + 1, (1,), generator=generator))
    for key, value in batch.items():
        if key in ("lq", "hq"):
            out[key] = value[:size, :, top : top + crop, left : left + crop]
        elif isinstance(value, (list, tuple, torch.Tensor, np.ndarray)):
            out[key] = value[:size]
        else:
            out[key] = value
    return out


def progressive_batches(
    batches: Iterable[dict[str, Any]],
    phases: list[Phase],
    micros: list[int],
    accumulation: int,
    start_micro: int = 0,
    seed: int = 0,
) -> Iterator[dict[str, Any]]:
    """``batches`` (micro-batch ``start_micro`` on) cut to their phases (see the module docstring)."""
    for index, batch in enumerate(batches, start=start_micro):
        phase = phase_index(phases, index // accumulation)
        generator = torch.Generator().manual_seed(seed * 1_000_003 + index)
        yield cut_batch(batch, micros[phase], phases[phase].crop_size, generator)
