"""The configuration dataclasses of the data path and the sample they produce."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ggt_hf.training.data.progressive import Phase

#: ``SourceSpec.kind`` values.
SOURCE_KINDS = ("auto", "packed", "pairs", "clean")
#: ``DataConfig.layout`` values: decode whole images, or read crops from the tile view (:mod:`.tiles`).
LAYOUTS = ("full", "tiles")
#: The two groups a source can belong to (the ``source`` field of samples and batches).
GROUPS = ("ggt", "baseline")


@dataclass
class SourceSpec:
    """Where pairs come from; see the package docs for ``kind="auto"`` resolution."""

    path: str
    kind: str = "auto"
    config: str | None = None
    split: str = "train"
    degrade: str | None = None
    weight: float = 1.0
    streaming: bool = False

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"{self.path}: kind must be one of {', '.join(SOURCE_KINDS)}, got {self.kind!r}")
        if not self.weight > 0:
            raise ValueError(f"{self.path}: weight must be > 0, got {self.weight}")


@dataclass
class DataConfig:
    """How training batches are made.

    Attributes:
        ggt: GGT sources (weighted among themselves by ``SourceSpec.weight``).
        baseline: baseline sources mixed in at ``ratio`` GGT : 1 baseline (paper: 1:1).
        ratio: GGT:baseline samples; ignored when ``baseline`` is empty.
        crop_size: side of the square training crops (smaller images are reflect-padded).
        flips, rot90: random horizontal flip / 90° rotations (the same for LQ and HQ).
        batch_size: samples per batch per process.
        num_workers: DataLoader worker processes (0 = in the main process).
        seed: everything random about sample ``g`` derives from ``(seed, g)``.
        crops_per_decode: speed lever; the ``m``-th consecutive draws of a source share one item
            (one decode, ``m`` different crops). 1 = every draw is a new item (BasicSR behaviour).
        cache_dir: speed lever; decoded pairs are saved there as ``.npy`` on first use and read back
            memory-mapped (only the crop's rows are touched). Costs ``2·H·W·3`` bytes per pair.
        layout: ``"full"`` decodes each item's whole images (the packed PNGs, or ``cache_dir``);
            ``"tiles"`` reads each crop from a tiled, losslessly compressed view of the data built in
            ``tile_dir`` (once, on first use or with :func:`~.tiles.build_tile_view`), decoding only
            the tiles under the crop: same pixels, same crop positions, several times faster per
            worker, about the packed dataset's size again on disk (:mod:`.tiles`).
        tile_dir: where the tile view is kept (``layout="tiles"``; a folder of its own, never the
            dataset's folder).
        tile_size: side of the view's square tiles (128: a 256² crop decodes ≤ 9 tiles per side).
        shuffle_buffer: shuffle-buffer size of streaming sources.
        prefetch_factor: batches prefetched per worker.
        progressive: phases of progressive patch training (Restormer): ``{steps, crop_size,
            total_batch_size}`` each; the loader then works at the largest crop and per-process
            batch and each micro-batch is cut to its phase (:mod:`.progressive`).
    """

    ggt: list[SourceSpec]
    baseline: list[SourceSpec] = field(default_factory=list)
    ratio: float = 1.0
    crop_size: int = 256
    flips: bool = True
    rot90: bool = True
    batch_size: int = 8
    num_workers: int = 2
    seed: int = 0
    crops_per_decode: int = 1
    cache_dir: str | None = None
    layout: str = "full"
    tile_dir: str | None = None
    tile_size: int = 128
    shuffle_buffer: int = 256
    prefetch_factor: int = 2
    progressive: list[Phase] = field(default_factory=list)

    def __post_init__(self) -> None:
        from ggt_hf.files.yaml_config import from_dict

        self.progressive = [p if isinstance(p, Phase) else from_dict(Phase, p) for p in self.progressive]
        # YAML recipes give plain mappings: turn them into specs
        self.ggt = [s if isinstance(s, SourceSpec) else from_dict(SourceSpec, s) for s in self.ggt]
        self.baseline = [s if isinstance(s, SourceSpec) else from_dict(SourceSpec, s) for s in self.baseline]
        if self.baseline and not self.ratio > 0:
            raise ValueError(f"ratio must be > 0 when baseline sources are given, got {self.ratio}")
        if self.crop_size < 1 or self.batch_size < 1 or self.crops_per_decode < 1:
            raise ValueError("crop_size, batch_size and crops_per_decode must be ≥ 1")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")
        if self.layout == "tiles" and not self.tile_dir:
            raise ValueError("layout 'tiles' needs tile_dir: a folder of its own where the tile view is kept")
        if self.layout == "tiles" and self.cache_dir:
            raise ValueError(
                "choose one of layout 'tiles' and cache_dir (both replace the full-image decode)"
            )


@dataclass
class PairSample:
    """One decoded pair: ``uint8`` HWC RGB ``lq`` and ``hq`` of the same size."""

    id: str
    lq: np.ndarray
    hq: np.ndarray
    category: str | None = None
    prompt: str | None = None
    source: str = "ggt"
