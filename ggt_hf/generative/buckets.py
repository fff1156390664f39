"""Aspect/size bucketing and the deterministic, resumable batch schedule of generative training.

Generative restorers are trained on *whole* images (no random crops): every pair is resized to
cover the bucket closest to its aspect ratio — about ``resolution²`` pixels, both sides multiples
of the pipeline's ``vae_scale_factor * 2`` — and centre-cropped, LQ and HQ identically. A batch
only holds pairs of one bucket.

The schedule is a pure function of ``(seed, batch index)``, so a resumed run sees exactly the
batches an uninterrupted one would:

* each group (``ggt`` / ``baseline``) has per-epoch orders: a seeded permutation of its pairs,
  grouped by bucket, cut into batches, batch order shuffled (same seed → same epoch);
* the group of global batch ``k`` follows a fixed Bresenham pattern realising ``ratio`` GGT:baseline
  batches (1:1 → alternate), and the group-local index is computed in O(1) from ``k``;
* process ``rank`` of ``world`` takes global batches ``k * world + rank`` (disjoint across ranks).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image


def bucket_sizes(resolution: int, multiple: int, max_aspect: float = 2.0) -> list[tuple[int, int]]:
    """``(width, height)`` buckets of about ``resolution²`` pixels, sides multiples of ``multiple``,
    aspect ratios within ``[1/max_aspect, max_aspect]``, sorted by aspect ratio."""
    if resolution < multiple:
        raise ValueError(f"resolution {resolution} is smaller than the size multiple {multiple}")
    area = resolution * resolution
    found: set[tuple[int, int]] = set()
    for height in range(multiple, int(resolution * math.sqrt(max_aspect)) + multiple, multiple):
        width = max(multiple, round(area / height / multiple) * multiple)
        if 1 / max_aspect <= width / height <= max_aspect:
            found.add((width, height))
    return sorted(found, key=lambda wh: wh[0] / wh[1])


def nearest_bucket(width: int, height: int, buckets: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """The bucket whose aspect ratio is closest (in log space) to ``width / height``."""
    target = math.log(width / height)
    return min(buckets, key=lambda wh: abs(math.log(wh[0] / wh[1]) - target))


def fit_to_bucket(image: np.ndarray, bucket: tuple[int, int]) -> np.ndarray:
    """Resize (Lanczos) to cover ``bucket`` then centre-crop to it; ``uint8`` HWC in and out."""
    width, height = bucket
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
    img = Image.fromarray(image)
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), Image.Resampling.LANCZOS)
    left, top = (new_w - width) // 2, (new_h - height) // 2
    return np.asarray(img.crop((left, top, left + width, top + height)))


@dataclass(frozen=True)
class BatchRef:
    """One scheduled batch: which group, which pair indices (group-local) and their bucket."""

    group: str
    indices: tuple[int, ...]
    bucket: tuple[int, int]


class BucketSchedule:
    """Deterministic bucketed batches over one or two groups (see the module docstring).

    Args:
        groups: ``{"ggt": [bucket of pair 0, bucket of pair 1, ...], "baseline": [...]}``.
        batch_size: pairs per batch (a bucket's last batch of an epoch may be smaller).
        ratio: GGT:baseline batches when both groups are non-empty.
        seed: the seed of every permutation.
    """

    def __init__(
        self, groups: dict[str, list[tuple[int, int]]], batch_size: int, ratio: float = 1.0, seed: int = 0
    ) -> None:
        self.groups = {name: list(b) for name, b in groups.items() if b}
        if "ggt" not in self.groups and not self.groups:
            raise ValueError("the schedule has no pairs (every source is empty)")
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        if ratio <= 0:
            raise ValueError(f"ratio must be > 0, got {ratio}")
        self.batch_size = batch_size
        self.seed = seed
        names = sorted(self.groups)
        self._ids = {name: i for i, name in enumerate(names)}
        both = "ggt" in self.groups and "baseline" in self.groups
        self.ggt_fraction = ratio / (1.0 + ratio) if both else (1.0 if "ggt" in self.groups else 0.0)
        self._num_batches = {name: len(self._epoch(name, 0)) for name in self.groups}

    @lru_cache(maxsize=8)  # noqa: B019 - a handful of epochs per schedule, freed with it
    def _epoch(self, group: str, epoch: int) -> tuple[BatchRef, ...]:
        buckets = self.groups[group]
        rng = np.random.default_rng([self.seed, self._ids[group], epoch])
        by_bucket: dict[tuple[int, int], list[int]] = {}
        for i in rng.permutation(len(buckets)).tolist():
            by_bucket.setdefault(buckets[i], []).append(i)
        batches = [
            BatchRef(group, tuple(members[s : s + self.batch_size]), bucket)
            for bucket, members in sorted(by_bucket.items())
            for s in range(0, len(members), self.batch_size)
        ]
        order = rng.permutation(len(batches)).tolist()
        return tuple(batches[i] for i in order)

    def group_of(self, k: int) -> tuple[str, int]:
        """The group of global batch ``k`` and its index inside that group's stream."""
        p = self.ggt_fraction
        ggt_before = math.floor(k * p + 1e-9)
        if math.floor((k + 1) * p + 1e-9) > ggt_before:
            return "ggt", ggt_before
        return "baseline", k - ggt_before

    def batch(self, k: int) -> BatchRef:
        """Global batch ``k``."""
        group, j = self.group_of(k)
        n = self._num_batches[group]
        return self._epoch(group, j // n)[j % n]

    def for_rank(self, start: int, rank: int = 0, world_size: int = 1):
        """Infinite iterator of this process's batches from its ``start``-th one on."""
        k = start
        while True:
            yield self.batch(k * world_size + rank)
            k += 1
