"""The process's training dataset and its ``DataLoader``: :func:`build_train_dataset` picks the
map-style :class:`~ggt_hf.training.data.loader.TrainPairs` or, when a source streams, the
:class:`~ggt_hf.training.data.streaming.StreamingTrainPairs`; :func:`make_train_loader` wraps it so
that each worker builds whole batches and a resumed run yields the batches an uninterrupted one
would have. Kept apart from both dataset modules, which it chooses between.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler

from ggt_hf.training.data.config import DataConfig
from ggt_hf.training.data.loader import TrainPairs
from ggt_hf.training.data.streaming import StreamingTrainPairs


class _Batches(Dataset):
    """Batch ``k`` = local samples ``start + k·B ..``: what each DataLoader worker builds whole."""

    def __init__(self, dataset: TrainPairs, start: int) -> None:
        self.dataset, self.start = dataset, start

    def __getitem__(self, k: int) -> dict[str, Any]:
        size = self.dataset.cfg.batch_size
        return self.dataset.batch(self.start + k * size, size)


class _Forever(Sampler[int]):
    def __iter__(self):
        return itertools.count()


def _identity(batch: dict[str, Any]) -> dict[str, Any]:
    return batch


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # workers decode and crop; intra-op threads would only contend


def build_train_dataset(cfg: DataConfig, rank: int = 0, world_size: int = 1) -> Dataset:
    """The process's dataset: :class:`TrainPairs`, or a streaming ``IterableDataset`` when any
    source has ``streaming=True`` (see :mod:`ggt_hf.training.data.streaming`)."""
    if any(s.streaming for s in [*cfg.ggt, *cfg.baseline]):
        return StreamingTrainPairs(cfg, rank, world_size)
    return TrainPairs(cfg, rank, world_size)


def make_train_loader(
    cfg: DataConfig, rank: int = 0, world_size: int = 1, start_sample: int = 0
) -> DataLoader:
    """An infinite DataLoader of batch dicts for process ``rank`` (see the package docs).

    ``start_sample`` = local samples already consumed (``steps_done * batch_size``): the loader then
    yields exactly the batches an uninterrupted run would have yielded from there on.
    """
    dataset = build_train_dataset(cfg, rank, world_size)
    common: dict[str, Any] = {
        "num_workers": cfg.num_workers,
        "pin_memory": torch.cuda.is_available(),
        "worker_init_fn": _worker_init,
        "collate_fn": _identity,
        "batch_size": None,
    }
    if cfg.num_workers:
        common["prefetch_factor"] = cfg.prefetch_factor
    if isinstance(dataset, IterableDataset):  # streaming: the dataset itself resumes (see .streaming)
        dataset.start_sample = start_sample
        return DataLoader(dataset, **common)
    return DataLoader(_Batches(dataset, start_sample), sampler=_Forever(), **common)
