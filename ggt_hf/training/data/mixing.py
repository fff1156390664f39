"""The deterministic mixing schedule: which source draws global sample ``g``, and its draw number.

GGT vs baseline, and the sources inside a group, are split by *seeded low-discrepancy sequences*
(Bresenham lines with a seeded phase) instead of per-sample coin flips. For a share ``p`` and phase
``φ ∈ [0, 1)``, sample ``n`` goes to the first side iff ``⌊(n+1)p + φ⌋ > ⌊np + φ⌋``; the number of
earlier draws of each side is then known in closed form (``⌊np + φ⌋`` and ``n - ⌊np + φ⌋``). That
gives two properties the loader needs:

* the realised ratio is exact up to one sample in *every* window (batches have a steady mix, which
  coin flips only give on average), and
* each source's own draw counter is an O(1) function of ``g``, so each source can cycle through its
  own epoch-shuffled order independently and a resumed run needs no replay.

Several sources in one group are split by a binary tree of such lines (source ``i`` vs sources
``i+1..``), weighted by ``SourceSpec.weight``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np


@lru_cache(maxsize=256)
def _phase(seed: int, salt: int) -> float:
    return float(np.random.default_rng((seed, 0x6D1C, salt)).random())


def _split(n: int, share: float, phase: float) -> tuple[bool, int]:
    """(does draw ``n`` go to the first side, its draw number on the side it goes to)."""
    before = math.floor(n * share + phase)
    first = math.floor((n + 1) * share + phase) > before
    return first, (before - math.floor(phase)) if first else n - (before - math.floor(phase))


@dataclass(frozen=True)
class Slot:
    """Where global sample ``g`` comes from: ``group`` ("ggt"/"baseline"), ``source`` (index in that
    group's list) and ``draw`` (how many earlier global samples drew from that source)."""

    group: str
    source: int
    draw: int


class MixSchedule:
    """Maps a global sample index to a :class:`Slot`; a pure function of the constructor arguments.

    Args:
        ggt_weights: weights of the GGT sources (at least one).
        baseline_weights: weights of the baseline sources (may be empty: all samples are GGT).
        ratio: GGT:baseline samples, e.g. 1.0 (the paper) or 3.0 (75 % GGT).
        seed: seeds the phases of the lines.
    """

    def __init__(
        self, ggt_weights: Sequence[float], baseline_weights: Sequence[float], ratio: float, seed: int
    ) -> None:
        if not ggt_weights and not baseline_weights:
            raise ValueError("no data sources: give at least one ggt (or baseline) source")
        self.groups = {"ggt": list(ggt_weights), "baseline": list(baseline_weights)}
        if not baseline_weights:
            self.ggt_share = 1.0
        elif not ggt_weights:
            self.ggt_share = 0.0
        else:
            self.ggt_share = ratio / (1.0 + ratio)
        self.seed = seed

    def slot(self, g: int) -> Slot:
        """The slot of global sample ``g`` (≥ 0)."""
        if g < 0:
            raise ValueError(f"sample index must be ≥ 0, got {g}")
        if self.ggt_share in (0.0, 1.0):
            group, n = ("ggt" if self.ggt_share else "baseline"), g
        else:
            first, n = _split(g, self.ggt_share, _phase(self.seed, 0))
            group = "ggt" if first else "baseline"
        weights = self.groups[group]
        for i in range(len(weights) - 1):
            rest = sum(weights[i:])
            first, n_side = _split(n, weights[i] / rest, _phase(self.seed, 1 + 2 * i + (group == "baseline")))
            if first:
                return Slot(group, i, n_side)
            n = n_side
        return Slot(group, len(weights) - 1, n)


@dataclass
class MixCounter:
    """Running totals of what the loader delivered, for logging the realised mix.

    ``update(batch)`` with each batch dict (uses its ``"source"`` and ``"skipped"`` lists).
    """

    sources: Counter = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)

    def update(self, batch: Mapping[str, object]) -> None:
        """Add one batch's ``source`` labels and skipped items."""
        self.sources.update(batch["source"])  # type: ignore[arg-type]
        self.skipped.extend(batch.get("skipped", []))  # type: ignore[arg-type]

    @property
    def total(self) -> int:
        """Samples counted so far."""
        return sum(self.sources.values())

    def fractions(self) -> dict[str, float]:
        """Share of each group among counted samples (``{}`` before the first batch)."""
        total = self.total
        return {k: v / total for k, v in sorted(self.sources.items())} if total else {}

    def log_dict(self, prefix: str = "data/") -> dict[str, float]:
        """Tracker-ready scalars: ``data/ggt_fraction``, ``data/skipped`` and per-group counts."""
        out = {f"{prefix}{k}_count": float(v) for k, v in sorted(self.sources.items())}
        out[f"{prefix}ggt_fraction"] = self.fractions().get("ggt", 0.0)
        out[f"{prefix}skipped"] = float(len(self.skipped))
        return out
