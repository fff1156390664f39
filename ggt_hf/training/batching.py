"""Splitting a recipe's total batch over a launch: per-process micro-batch and gradient accumulation.

A recipe states the official **total** batch (``train.total_batch_size``); :func:`resolve_batch`
derives the per-process micro-batch and the gradient accumulation from the number of processes,
with ``data.batch_size`` as the largest micro-batch one process may hold. The trainer core applies
it at launch (:func:`split_for_launch`) and ``ggt train-plan`` (:mod:`ggt_hf.recipes.plan`) prints
the same split.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ggt_hf.training.data.progressive import Phase


class BatchSplitError(ValueError):
    """A total batch that cannot be split evenly over the launched processes."""


def resolve_batch(total: int, world_size: int, max_per_process: int) -> tuple[int, int]:
    """``(micro-batch per process, accumulation steps)`` with ``micro · world · accum == total``.

    The smallest accumulation whose micro-batch fits ``max_per_process`` is chosen. Raises
    :class:`BatchSplitError` (saying why) when ``total`` is not a multiple of ``world_size``, or
    no divisor of ``total / world_size`` fits.
    """
    if total < 1 or world_size < 1 or max_per_process < 1:
        raise BatchSplitError(
            f"total batch {total}, processes {world_size}, max {max_per_process}: all must be ≥ 1"
        )
    if total % world_size:
        raise BatchSplitError(
            f"total batch {total} cannot be split over {world_size} processes "
            f"({total} is not a multiple of {world_size}); launch a divisor of {total} processes"
        )
    per_process = total // world_size
    for accum in range(math.ceil(per_process / max_per_process), per_process + 1):
        if per_process % accum == 0:
            return per_process // accum, accum
    raise BatchSplitError(f"no split of {per_process} per process fits {max_per_process}")  # pragma: no cover


def resolve_phases(phases: list[Phase], world_size: int, max_per_process: int) -> tuple[int, list[int]]:
    """``(accumulation, micro-batch per process of each phase)``: the smallest accumulation with which
    every phase's total splits evenly and fits ``max_per_process``."""
    biggest = max(p.total_batch_size for p in phases)
    for accum in range(1, biggest + 1):
        if all(p.total_batch_size % (world_size * accum) == 0 for p in phases):
            micros = [p.total_batch_size // (world_size * accum) for p in phases]
            if max(micros) <= max_per_process:
                return accum, micros
    totals = ", ".join(str(p.total_batch_size) for p in phases)
    raise BatchSplitError(
        f"progressive totals {totals} cannot all be split over {world_size} processes with at most "
        f"{max_per_process} per process and one accumulation; launch a common divisor of them"
    )


def split_for_launch(core, data, world_size: int) -> list[int] | None:
    """Fit a recipe to a launch of ``world_size`` processes, in place: from ``core.total_batch_size``
    (or each phase of ``data.progressive``) set ``data.batch_size`` (per-process micro-batch; the
    largest one for progressive runs, whose loader then crops at the largest phase crop) and
    ``core.gradient_accumulation_steps``. Returns the per-phase micro-batches of a progressive run."""
    phases = getattr(data, "progressive", None)
    if phases:
        if core.total_batch_size:
            raise ValueError(
                "give either train.total_batch_size or data.progressive (a total batch per phase)"
            )
        if sum(p.steps for p in phases) != core.max_steps:
            raise ValueError(
                f"data.progressive phases sum to {sum(p.steps for p in phases)} steps, train.max_steps is {core.max_steps}"
            )
        core.gradient_accumulation_steps, micros = resolve_phases(phases, world_size, data.batch_size)
        data.batch_size = max(micros)
        data.crop_size = max(p.crop_size for p in phases)
        return micros
    if core.total_batch_size:
        data.batch_size, core.gradient_accumulation_steps = resolve_batch(
            core.total_batch_size, world_size, data.batch_size
        )
    return None


def apply_world_size(recipe, world_size: int) -> list[int] | None:
    """:func:`split_for_launch` of a whole recipe (what the entry scripts do through
    :func:`ggt_hf.training.core.make_accelerator`)."""
    return split_for_launch(recipe.train, recipe.data, world_size)
