"""The training data path: paired crops over the packed format, mixing and distributed sharding.

API
---
::

    from ggt_hf.training.data import (
        SourceSpec, DataConfig, PairSample, open_source, build_train_dataset, make_train_loader,
    )

    @dataclass
    class SourceSpec:
        path: str                 # Hub dataset repo id, packed folder (ggt pack output), pair folder
                                  # (lq/ + hq/, flat or per-category) or a folder of clean images
        kind: str = "auto"        # auto | packed | pairs | clean   (auto: packed if it has
                                  # data/**.parquet or is a Hub id; pairs if lq/ and hq/; else clean)
        config: str | None = None # packed/Hub config (a category or "default")
        split: str = "train"
        degrade: str | None = None  # kind=clean: LQ synthesised on the fly with ggt_hf.degrade
                                    # (category name, e.g. "general" = Real-ESRGAN), seeded per sample
        weight: float = 1.0       # relative weight among sources of the same group
        streaming: bool = False   # Hub/packed via load_dataset(streaming=True)

    @dataclass
    class DataConfig:
        ggt: list[SourceSpec]
        baseline: list[SourceSpec] = []
        ratio: float = 1.0        # GGT:baseline samples (paper: 1:1); ignored when baseline is empty
        crop_size: int = 256
        flips: bool = True
        rot90: bool = True
        batch_size: int = 8       # per process
        num_workers: int = 2
        seed: int = 0
        crops_per_decode: int = 1 # speed: consecutive draws of a source reuse one decoded image
        cache_dir: str | None = None  # speed: decoded pairs kept as .npy (memory-mapped) after first use
        layout: str = "full"      # "tiles": crops decode only the tiles they cover (.tiles; needs tile_dir)
        tile_dir: str | None = None   # where the tile view is kept (built on first use or `ggt train-tiles`)
        tile_size: int = 128
        shuffle_buffer: int = 256 # streaming sources only
        prefetch_factor: int = 2

    @dataclass
    class PairSample:             # the lower-level unit, used by the generative trainer too
        id: str; lq: np.ndarray; hq: np.ndarray   # uint8 HWC RGB, same size
        category: str | None; prompt: str | None; source: str   # "ggt" | "baseline"

    src = open_source(spec)       # random access: len(src), src[i] -> PairSample (full image)
    ds = build_train_dataset(cfg, rank=0, world_size=1)       # torch Dataset (IterableDataset if streaming)
    loader = make_train_loader(cfg, rank=0, world_size=1, start_sample=0)
    # iter(loader) yields dicts {"lq": float32 (B,3,c,c) in [0,1], "hq": same, "id": list[str],
    #   "source": list[str], "category": list[str|None], "skipped": list[str]}; infinite.
    counter = MixCounter(); counter.update(batch); counter.fractions()  # realised GGT/baseline mix

Determinism and resume
----------------------
Process ``rank`` of ``world_size`` turns its local sample ``s`` into the global index
``g = (s // B) * B * world_size + rank * B + s % B`` (``B`` = batch size): each optimizer step
consumes one contiguous block of ``B * world_size`` global indices, one sub-block per rank, so ranks
see disjoint samples and together cover every source once per epoch. Everything about sample ``g``
is a pure function of ``(seed, g)``: the group (GGT or baseline) and the source within the group
come from a seeded low-discrepancy schedule (:mod:`.mixing`) that also gives the source's own draw
counter in closed form; the item is that counter's position in the source's epoch permutation
(re-shuffled per epoch, seeded); crop box, flips, rotation and the seed of an on-the-fly
degradation come from ``np.random.default_rng((seed, g))``. Nothing depends on worker RNG state or on
the number of workers, so ``make_train_loader(cfg, start_sample=steps_done * B)`` resumes exactly.

Streaming sources are the exception: they are read in order through a shuffle buffer, sharded per
(rank, worker), so their batches depend on ``num_workers`` too; resume is exact only because the
stream is skipped forward by the (closed-form) number of items already drawn, which re-reads (not
re-decodes) those rows. See :mod:`.streaming`.

Per-item failures (a corrupt image, an LQ/HQ size mismatch) never stop the loader: the item is
logged with its id and reason, replaced by the next item of the same source, and named in the
batch's ``"skipped"`` list (``MixCounter`` totals them). Images smaller than ``crop_size`` are
reflect-padded (both sides identically), not skipped: a small real photo is still useful data.
"""

from __future__ import annotations

from ggt_hf.training.data.config import DataConfig, PairSample, SourceSpec
from ggt_hf.training.data.loader import TrainPairs
from ggt_hf.training.data.mixing import MixCounter, MixSchedule
from ggt_hf.training.data.sources import PairSource, open_source
from ggt_hf.training.data.train_loader import build_train_dataset, make_train_loader

__all__ = [
    "DataConfig",
    "MixCounter",
    "MixSchedule",
    "PairSample",
    "PairSource",
    "SourceSpec",
    "TrainPairs",
    "build_train_dataset",
    "make_train_loader",
    "open_source",
]
