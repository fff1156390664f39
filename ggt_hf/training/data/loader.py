"""Training batches: deterministic, resumable, distributed-aware (see the package docs for the maths).

:class:`TrainPairs` is a map-style ``torch.utils.data.Dataset`` over a process's *local sample index*
``s`` (unbounded: it cycles epochs). ``dataset[s]`` is one augmented sample; ``dataset.batch(s, n)``
builds ``n`` consecutive samples in one call, which is what
:func:`ggt_hf.training.data.train_loader.make_train_loader` has each worker do, so that consecutive
draws of one item (``crops_per_decode``) share a single decode.

The loader is a plain ``torch.utils.data.DataLoader`` whose "items" are whole batches; it shards by
itself, so do not pass it through ``accelerator.prepare``.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ggt_hf.errors import GGTError
from ggt_hf.training.data.augment import CropPlan, apply_crop, augment_pair, crop_view, plan_crop
from ggt_hf.training.data.cache import DecodedCache
from ggt_hf.training.data.config import GROUPS, DataConfig, PairSample
from ggt_hf.training.data.mixing import MixSchedule, Slot
from ggt_hf.training.data.sources import PairSource, open_source
from ggt_hf.training.data.tiles import TiledItem, TileView

logger = logging.getLogger(__name__)

#: How many following items of a source are tried when an item is bad, before giving up.
MAX_FALLBACKS = 16


def global_index(local: int, rank: int, world_size: int, batch_size: int) -> int:
    """The global sample index of process ``rank``'s local sample ``local`` (block sharding per step)."""
    step, offset = divmod(local, batch_size)
    return (step * world_size + rank) * batch_size + offset


def to_batch_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """``uint8`` HWC arrays (or views) of one size → float32 ``(B, 3, H, W)`` in [0, 1].

    The crops are written transposed into one ``uint8`` CHW buffer (the only copy of their pixels),
    then converted by one numpy division (bit-identical to ``.float().div_(255)``, which costs two
    passes and, with torch's intra-op threads on a busy machine, measured up to 10× slower). Together
    2-3× faster per batch than ``stack → permute → contiguous → float``, which dominated warm batches.
    """
    height, width = images[0].shape[:2]
    buffer = np.empty((len(images), 3, height, width), dtype=np.uint8)
    for i, image in enumerate(images):
        buffer[i] = image.transpose(2, 0, 1)
    return torch.from_numpy(np.divide(buffer, np.float32(255.0), dtype=np.float32))


class TrainPairs(Dataset):
    """Augmented training samples of process ``rank`` of ``world_size`` (map-style, unbounded).

    Attributes:
        sources: ``{"ggt": [...], "baseline": [...]}`` opened :class:`PairSource` s.
        skipped: recent bad items this instance met (``"<id>: <reason>"``); per process/worker. Each
            batch names its own in ``batch["skipped"]``; :class:`~.mixing.MixCounter` totals them.
    """

    def __init__(
        self,
        cfg: DataConfig,
        rank: int = 0,
        world_size: int = 1,
        sources: dict[str, list[PairSource]] | None = None,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        self.cfg, self.rank, self.world_size = cfg, rank, world_size
        specs = {"ggt": cfg.ggt, "baseline": cfg.baseline}
        self.sources = sources or {g: [open_source(s, g) for s in specs[g]] for g in GROUPS}
        self.schedule = MixSchedule(
            [s.weight for s in specs["ggt"]], [s.weight for s in specs["baseline"]], cfg.ratio, cfg.seed
        )
        self.caches = (
            {g: [DecodedCache(cfg.cache_dir, s) for s in self.sources[g]] for g in GROUPS}
            if cfg.cache_dir
            else None
        )
        self.views = (
            {g: [TileView(cfg.tile_dir, s, cfg.tile_size) for s in self.sources[g]] for g in GROUPS}
            if cfg.layout == "tiles"
            else None
        )
        self.skipped: list[str] = []
        self._perms: OrderedDict[tuple[str, int, int], np.ndarray] = OrderedDict()
        self._decoded: OrderedDict[tuple[str, int, int], PairSample] = OrderedDict()

    def __len__(self) -> int:
        """Samples per process in one pass over all sources (the stream itself never ends)."""
        total = sum(len(s) for group in self.sources.values() for s in group)
        return -(-total // self.world_size)

    def _permutation(self, group: str, index: int, epoch: int) -> np.ndarray:
        key = (group, index, epoch)
        if key not in self._perms:
            group_id = GROUPS.index(group)
            rng = np.random.default_rng((self.cfg.seed, 0x5EED, group_id, index, epoch))
            self._perms[key] = rng.permutation(len(self.sources[group][index]))
            while len(self._perms) > 8:
                self._perms.popitem(last=False)
        return self._perms[key]

    def _read(self, group: str, index: int, item: int) -> PairSample | TiledItem:
        key = (group, index, item)
        if key in self._decoded:  # consecutive crops of one item (crops_per_decode) share a decode
            self._decoded.move_to_end(key)
            return self._decoded[key]
        source = self.sources[group][index]
        if self.views:
            sample = self.views[group][index].item(item)
        else:
            sample = self.caches[group][index].read(item) if self.caches else source.read(item)
        self._decoded[key] = sample
        while len(self._decoded) > 2 * (len(self.sources["ggt"]) + len(self.sources["baseline"])):
            self._decoded.popitem(last=False)
        return sample

    def _augment(
        self, source: PairSource, sample: PairSample | TiledItem, rng: np.random.Generator
    ) -> PairSample:
        cfg = self.cfg
        shape = sample.shape if isinstance(sample, TiledItem) else sample.hq.shape[:2]
        plan = plan_crop(*shape, cfg.crop_size, rng, flips=cfg.flips, rot90=cfg.rot90)
        degrade_seed = int(rng.integers(2**31))
        if isinstance(sample, TiledItem):  # decode only the crop's box (the whole image when padded)
            if plan.pad == (0, 0):
                sample, plan = (
                    sample.region(plan.top, plan.left, plan.size, plan.size),
                    replace(plan, top=0, left=0),
                )
            else:
                sample = sample.region(0, 0, *shape)
        if sample.lq is not None:
            lq, hq = augment_pair(sample.id, sample.lq, sample.hq, plan, copy=False)
            return replace(sample, lq=lq, hq=hq)
        # clean source: degrade the upright crop (as BasicSR's Real-ESRGAN pipeline does), then orient
        hq = apply_crop(sample.hq, replace(plan, flip=False, rot=0))
        orient = CropPlan(0, 0, cfg.crop_size, plan.flip, plan.rot)
        lq = source.synthesize(hq, degrade_seed)
        return replace(sample, lq=crop_view(lq, orient), hq=crop_view(hq, orient))

    def sample(self, local: int) -> PairSample:
        """Local sample ``local`` as a cropped, augmented :class:`PairSample` (pure function of it).

        ``lq``/``hq`` may be views into a cached or decoded image: copy them to keep them."""
        g = global_index(local, self.rank, self.world_size, self.cfg.batch_size)
        slot = self.schedule.slot(g)
        source = self.sources[slot.group][slot.source]
        for attempt in range(MAX_FALLBACKS):
            try:
                sample = self._fetch(slot, attempt)
                return self._augment(source, sample, np.random.default_rng((self.cfg.seed, g)))
            except GGTError as exc:
                self.skipped.append(str(exc))
                logger.warning("skipped bad training item of %s: %s", source.spec.path, exc)
        raise RuntimeError(
            f"{source.spec.path}: {MAX_FALLBACKS} consecutive bad items (last: {self.skipped[-1]})"
        )

    def _fetch(self, slot: Slot, attempt: int) -> PairSample | TiledItem:
        """The decoded item for ``slot``; ``attempt`` > 0 moves on past bad items."""
        source = self.sources[slot.group][slot.source]
        epoch, position = divmod(slot.draw // self.cfg.crops_per_decode, len(source))
        order = self._permutation(slot.group, slot.source, epoch)
        return self._read(slot.group, slot.source, int(order[(position + attempt) % len(order)]))

    def __getitem__(self, local: int) -> dict[str, Any]:
        batch = self.batch(local, 1)
        return {k: (v[0] if k != "skipped" else v) for k, v in batch.items()}

    def batch(self, start: int, size: int) -> dict[str, Any]:
        """Local samples ``start .. start+size-1`` collated (the loader's batch format)."""
        del self.skipped[:-100]  # a long run with many bad items keeps only the recent ones here
        before = len(self.skipped)
        samples = [self.sample(s) for s in range(start, start + size)]
        return {
            "lq": to_batch_tensor([s.lq for s in samples]),
            "hq": to_batch_tensor([s.hq for s in samples]),
            "id": [s.id for s in samples],
            "source": [s.source for s in samples],
            "category": [s.category for s in samples],
            "skipped": self.skipped[before:],
        }
