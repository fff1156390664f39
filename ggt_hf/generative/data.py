"""Whole-image, bucketed pair batches for generative training, over the shared pair sources.

Pairs come from :func:`ggt_hf.training.data.open_source` (pair folders, packed folders, Hub
datasets, clean folders with on-the-fly degradation — the same specs as the restorer trainer);
:class:`~ggt_hf.generative.buckets.BucketSchedule` decides which pairs form batch ``k``; each pair is
fitted to its bucket (LQ and HQ identically). The text of a pair is its own prompt
(``prompt: pair``, falling back to the fixed prompt when a pair has none) or always the fixed
restoration prompt (``prompt: fixed``; :func:`ggt_hf.prompt_texts.template` ``("fixed")`` unless
``fixed_prompt`` is set).

GGT:baseline mixing is per *batch* (a batch holds one bucket of one group); the realised fraction
of GGT batches follows ``ratio`` exactly over every ``1 + ratio`` batches (1:1 → alternate).

With ``batch_size: 1`` (the usual recipe at 1024²) buckets are chosen when a pair is loaded; with
larger batches every pair's size is needed up front, so the sources are read once (progress bar)
and the bucket list is saved next to the latent cache (``buckets.json``) for later runs.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ggt_hf.generative.buckets import BucketSchedule, bucket_sizes, fit_to_bucket, nearest_bucket
from ggt_hf.training.data import SourceSpec, open_source

logger = logging.getLogger(__name__)

_ANY = (0, 0)  # placeholder bucket when batch_size == 1 (chosen at load time)


@dataclass
class BucketDataConfig:
    """Where pairs come from and how they are bucketed (see the module docstring)."""

    ggt: list[SourceSpec] = field(default_factory=list)
    baseline: list[SourceSpec] = field(default_factory=list)
    ratio: float = 1.0
    resolution: int = 1024  # buckets hold about resolution² pixels
    max_aspect: float = 2.0
    batch_size: int = 1
    num_workers: int = 2
    seed: int = 0
    prompt: str = "pair"  # pair | fixed
    fixed_prompt: str | None = None


def _fixed_prompt(cfg: BucketDataConfig) -> str:
    from ggt_hf.prompt_texts import template

    return cfg.fixed_prompt or template("fixed")


class _Group:
    """The sources of one group, indexed as one list."""

    def __init__(self, specs: list[SourceSpec]) -> None:
        self.sources = [open_source(spec) for spec in specs]
        self.offsets = np.cumsum([0] + [len(s) for s in self.sources])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, i: int):
        s = int(np.searchsorted(self.offsets, i, side="right") - 1)
        return self.sources[s][i - int(self.offsets[s])]


class BucketedPairs(torch.utils.data.Dataset):
    """Item ``k`` = this process's ``k``-th batch: ``{"id", "lq", "hq" (uint8 B×H×W×3 tensors),
    "prompt", "source", "category", "bucket" (width, height)}``."""

    def __init__(
        self,
        cfg: BucketDataConfig,
        multiple: int,
        *,
        rank: int = 0,
        world_size: int = 1,
        bucket_file: str | Path | None = None,
    ) -> None:
        self.cfg, self.rank, self.world = cfg, rank, world_size
        self.buckets = bucket_sizes(cfg.resolution, multiple, cfg.max_aspect)
        self.groups = {"ggt": _Group(cfg.ggt), "baseline": _Group(cfg.baseline)}
        if not len(self.groups["ggt"]) and not len(self.groups["baseline"]):
            raise ValueError("no training pairs: every data source is empty")
        assigned = {name: self._assign(name, g, bucket_file) for name, g in self.groups.items()}
        self.schedule = BucketSchedule(assigned, cfg.batch_size, cfg.ratio, cfg.seed)

    def _assign(self, name: str, group: _Group, bucket_file) -> list[tuple[int, int]]:
        if self.cfg.batch_size == 1:
            return [_ANY] * len(group)
        path = Path(bucket_file) if bucket_file else None
        saved = json.loads(path.read_text()) if path and path.is_file() else {}
        if name in saved and len(saved[name]) == len(group):
            return [tuple(b) for b in saved[name]]
        from tqdm.auto import tqdm

        out = []
        for i in tqdm(range(len(group)), desc=f"bucketing {name} pairs", leave=False):
            h, w = group[i].hq.shape[:2]
            out.append(nearest_bucket(w, h, self.buckets))
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({**saved, name: out}))
        return out

    def __len__(self) -> int:  # the stream is infinite; DataLoader samplers give the indices
        return 2**62

    def __getitem__(self, k: int) -> dict[str, Any]:
        ref = self.schedule.batch(k * self.world + self.rank)
        return self.make_batch(ref.group, ref.indices, ref.bucket)

    def make_batch(self, group_name: str, indices, bucket: tuple[int, int]) -> dict[str, Any]:
        """The batch of pairs ``indices`` of a group, fitted to ``bucket`` (chosen here when unset)."""
        group = self.groups[group_name]
        pairs = [group[i] for i in indices]
        if bucket == _ANY:
            h, w = pairs[0].hq.shape[:2]
            bucket = nearest_bucket(w, h, self.buckets)
        fixed = _fixed_prompt(self.cfg)
        return {
            "id": [p.id for p in pairs],
            "lq": torch.from_numpy(np.stack([fit_to_bucket(p.lq, bucket) for p in pairs])),
            "hq": torch.from_numpy(np.stack([fit_to_bucket(p.hq, bucket) for p in pairs])),
            "prompt": [(p.prompt or fixed) if self.cfg.prompt == "pair" else fixed for p in pairs],
            "source": [group_name] * len(pairs),
            "category": [p.category for p in pairs],
            "bucket": bucket,
        }

    def every_pair(self, rank: int = 0, world_size: int = 1):
        """One single-pair batch per pair of every group (pairs ``i ≡ rank mod world_size``), each
        in the bucket the schedule gives it: what a caching pass needs."""
        for name, group in self.groups.items():
            buckets = self.schedule.groups.get(name, [])
            for i in range(rank, len(group), world_size):
                yield self.make_batch(name, (i,), buckets[i])


class _FromIndex(torch.utils.data.Sampler):
    def __init__(self, start: int) -> None:
        self.start = start

    def __iter__(self):
        k = self.start
        while True:
            yield k
            k += 1


def make_bucket_loader(dataset: BucketedPairs, start_batch: int = 0) -> torch.utils.data.DataLoader:
    """An infinite loader of ``dataset``'s batches from ``start_batch`` on (exact resume)."""
    workers = dataset.cfg.num_workers
    # an own generator: creating the iterator must not draw from the global RNG, whose state the
    # checkpoint restores for the noise/timestep draws (else a resumed run would diverge)
    generator = torch.Generator().manual_seed(dataset.cfg.seed)
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=None,
        sampler=_FromIndex(start_batch),
        num_workers=workers,
        persistent_workers=False,
        prefetch_factor=2 if workers else None,
        generator=generator,
    )
