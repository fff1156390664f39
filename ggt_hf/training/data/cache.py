"""The decoded-pair cache: a pair decoded once is kept as an ``.npy`` file and read back memory-mapped.

PNG decoding dominates the cost of a training crop from 1024² pairs (tens of ms per image against
well under a millisecond to copy a 256² window). With ``DataConfig.cache_dir`` set, the first touch
of an item decodes it and writes ``<cache_dir>/<source hash>/<index>.npy`` (``(2, H, W, 3)`` uint8:
LQ then HQ; ``(1, H, W, 3)`` for clean sources whose LQ is synthesised per crop) plus a small JSON
with its id/category/prompt. Later touches ``np.load(..., mmap_mode="r")`` it, so only the crop's
rows are read. Writes go to a temporary file and are renamed into place, so concurrent workers and
interrupted runs never see a partial file. The cache costs ``2·H·W·3`` bytes per pair (6 MiB for
1024²); it is keyed by the source's path, config, split and size, so a changed dataset gets a new
folder (delete old ones by hand).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from ggt_hf.training.data.config import PairSample
from ggt_hf.training.data.sources import PairSource


class DecodedCache:
    """Read-through cache of decoded pairs of one :class:`PairSource` under ``root``."""

    def __init__(self, root: str | os.PathLike, source: PairSource) -> None:
        self.source = source
        self.folder = Path(root) / hashlib.sha1(source.key.encode()).hexdigest()[:16]

    def _paths(self, index: int) -> tuple[Path, Path]:
        base = self.folder / f"{index // 1000:04d}" / f"{index}"
        return base.with_suffix(".npy"), base.with_suffix(".json")

    def read(self, index: int) -> PairSample:
        """Item ``index`` of the source: memory-mapped when cached, else decoded and cached."""
        array_path, meta_path = self._paths(index)
        if array_path.exists() and meta_path.exists():
            meta = json.loads(meta_path.read_text())
            arr = np.load(array_path, mmap_mode="r")
            lq = arr[0] if arr.shape[0] == 2 else None
            return PairSample(meta["id"], lq, arr[-1], meta["category"], meta["prompt"], self.source.label)
        sample = self.source.read(index)
        stacked = np.stack([sample.hq] if sample.lq is None else [sample.lq, sample.hq])
        array_path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"id": sample.id, "category": sample.category, "prompt": sample.prompt}
        _atomic_write(array_path, lambda f: np.save(f, stacked))
        _atomic_write(meta_path, lambda f: f.write(json.dumps(meta).encode()))
        return sample


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
