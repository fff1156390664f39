"""Streaming sources (``SourceSpec(streaming=True)``): Hub or packed data read through
``load_dataset(..., streaming=True)`` without downloading or converting it first.

Each streaming source is shuffled with a seeded buffer (``DataConfig.shuffle_buffer``; re-shuffled
per epoch with ``set_epoch``) and split with ``datasets.distributed.split_dataset_by_node`` into
``world_size × max(1, num_workers)`` disjoint streams: one per (rank, stream slot). A DataLoader
worker builds whole batches; batch ``k`` (counted from the start of training) always uses stream slot
``k mod num_workers``, and the schedule of :mod:`.mixing` still decides, per global sample, whether a
streaming or a map-style source draws it (so mixing a streamed Hub GGT with a local baseline folder
works, at the configured ratio).

Semantics, honestly:

* Batches depend on ``(seed, rank, world_size, num_workers, shuffle_buffer)``, not only on the seed:
  changing ``num_workers`` changes which rows a batch sees (map-style sources do not have this).
* Resume is exact for the same settings: the worker counts (in closed form, from the schedule) how
  many rows each of its streams delivered before ``start_sample`` and skips that many. Skipping reads
  the rows (no image decoding), so resuming late in a long epoch costs a read of that epoch's bytes
  so far; ``datasets.IterableDataset.state_dict()`` would avoid the read but is not used because it
  would tie the checkpoint to ``datasets``' internal iterator state.
* Epochs are "the shard of this (rank, slot) was exhausted"; shards of unequal length cycle
  independently. ``datasets`` sleeps ``datasets.config.SLEEP_TIME_ON_THREADS_SHUTDOWN`` (5 s) each
  time a parquet stream ends (a pyarrow thread-shutdown workaround): once per epoch per stream.
* A bad row is skipped (logged, named in ``"skipped"``) and the next row taken; that extra row is not
  known to the resume arithmetic, so resume after a skipped row is off by one row for that stream.
* ``crops_per_decode`` applies to map-style sources only; ``cache_dir`` and ``layout="tiles"`` are
  ignored (every source decodes whole images) when any source streams.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from torch.utils.data import IterableDataset, get_worker_info

from ggt_hf.constants import Col
from ggt_hf.hub.shard_reader import check_local_shards
from ggt_hf.training.data.config import DataConfig, PairSample, SourceSpec
from ggt_hf.training.data.loader import TrainPairs, global_index
from ggt_hf.training.data.mixing import Slot
from ggt_hf.training.data.sources import decode_rgb, open_source, resolve_kind

logger = logging.getLogger(__name__)


class StreamSource:
    """One streaming spec; :meth:`rows` gives the (infinite, epoch-cycling) rows of one stream."""

    synthetic = False

    def __init__(self, spec: SourceSpec, label: str, seed: int, buffer_size: int) -> None:
        if resolve_kind(spec) != "packed":
            raise ValueError(f"{spec.path}: only packed folders and Hub datasets can be streamed")
        self.spec, self.label, self.seed, self.buffer_size = spec, label, seed, buffer_size
        from datasets import Image as ImageFeature
        from datasets import load_dataset

        self.path = str(Path(spec.path).resolve()) if Path(spec.path).is_dir() else spec.path
        self.key = f"stream:{self.path}:{spec.config}:{spec.split}"
        # resolved once here (data files, features), pickled into workers; no rows are read yet
        check_local_shards(self.path)
        ds = load_dataset(self.path, name=spec.config, split=spec.split, streaming=True)
        for column in (Col.LQ, Col.HQ):
            ds = ds.cast_column(column, ImageFeature(decode=False))
        self.dataset = ds.shuffle(seed=seed, buffer_size=buffer_size)

    def rows(self, index: int, count: int) -> Iterator[dict[str, Any]]:
        """Rows of stream ``index`` of ``count`` (images as encoded bytes), cycling epochs forever."""
        from datasets.distributed import split_dataset_by_node

        ds = split_dataset_by_node(self.dataset, index, count)
        names = ds.features[Col.CATEGORY].names if Col.CATEGORY in (ds.features or {}) else None
        for epoch in itertools.count():
            ds.set_epoch(epoch)
            empty = True
            # .iter(batch_size=1), not iter(ds): the latter re-splits by DataLoader worker on its own
            for batch in ds.iter(batch_size=1):
                empty = False
                row = {k: v[0] for k, v in batch.items()}
                if names is not None and row.get(Col.CATEGORY) is not None:
                    row[Col.CATEGORY] = names[row[Col.CATEGORY]]
                yield row
            if empty:
                raise RuntimeError(f"{self.spec.path}: stream {index} of {count} is empty (too few rows)")

    def decode(self, row: dict[str, Any]) -> PairSample:
        """Decode one row (raises a GGTError naming the id for a bad image)."""
        item = row[Col.ID]
        lq, hq = (decode_rgb(row[c]["bytes"], f"{item} ({c})") for c in (Col.LQ, Col.HQ))
        return PairSample(item, lq, hq, row.get(Col.CATEGORY), row.get(Col.PROMPT), self.label)


class StreamingTrainPairs(TrainPairs, IterableDataset):
    """Like :class:`TrainPairs`, iterated: yields batch dicts from local sample ``start_sample`` on."""

    def __init__(self, cfg: DataConfig, rank: int = 0, world_size: int = 1) -> None:
        specs = {"ggt": cfg.ggt, "baseline": cfg.baseline}
        sources = {
            group: [
                StreamSource(s, group, cfg.seed, cfg.shuffle_buffer) if s.streaming else open_source(s, group)
                for s in specs[group]
            ]
            for group in specs
        }
        # no decoded cache nor tile view when a stream is mixed in
        cfg_map = DataConfig(**{**cfg.__dict__, "cache_dir": None, "layout": "full", "tile_dir": None})
        super().__init__(cfg_map, rank, world_size, sources=sources)
        self.start_sample = 0
        self._streams: dict[tuple[str, int], Iterator[dict[str, Any]]] = {}

    def __len__(self) -> int:
        raise TypeError("a streaming training dataset has no length")

    def _fetch(self, slot: Slot, attempt: int) -> PairSample:
        source = self.sources[slot.group][slot.source]
        if not isinstance(source, StreamSource):
            return super()._fetch(slot, attempt)
        return source.decode(next(self._streams[(slot.group, slot.source)]))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        size = self.cfg.batch_size
        if self.start_sample % size:
            raise ValueError(f"streaming resume needs start_sample divisible by batch_size {size}")
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        first = self.start_sample // size + worker  # this worker's first batch; then every `workers`
        slot = first % workers
        count = self.world_size * workers
        self._streams = {
            (g, j): src.rows(self.rank * workers + slot, count)
            for g, group in self.sources.items()
            for j, src in enumerate(group)
            if isinstance(src, StreamSource)
        }
        self._skip_consumed(first, workers)
        for k in itertools.count(first, workers):
            yield self.batch(k * size, size)

    def _skip_consumed(self, first: int, step: int) -> None:
        """Advance each stream past the rows the earlier batches of this stream slot drew."""
        drawn = dict.fromkeys(self._streams, 0)
        size = self.cfg.batch_size
        for k in range(first % step, first, step):
            for local in range(k * size, (k + 1) * size):
                slot = self.schedule.slot(global_index(local, self.rank, self.world_size, size))
                if (slot.group, slot.source) in drawn:
                    drawn[(slot.group, slot.source)] += 1
        for key, n in drawn.items():
            if n:
                logger.info(
                    "streaming resume: skipping %d rows of %s", n, self.sources[key[0]][key[1]].spec.path
                )
                next(itertools.islice(self._streams[key], n - 1, n), None)
