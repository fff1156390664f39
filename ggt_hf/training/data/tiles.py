"""The tiled training view (``DataConfig.layout="tiles"``): a random crop decodes only the tiles it covers.

Why: a 256² crop of a 1024² pair decoded from the packed PNGs decodes two whole images (≈16 ms each
with pyspng on an idle core) to use 6% of their pixels, so one loader worker delivers at most ≈30
pairs/s whatever the rest of the pipeline does. The field's answer (BasicSR, NAFNet) cuts fixed
sub-images, which restricts where crops may fall. This view keeps every crop position: each image is
stored as lossless tiles, and a crop reads and decodes only the tiles that cover it (for a 256² crop
and 128² tiles: at most 3×3 per side, 2.25× the crop's pixels), then cuts the box out of them. The
pixels are bit-identical to the same crop of the full decoded image, and the loader draws the crop
box exactly as with ``layout="full"`` (uniform over every position of the whole image), so for one
seed the two layouts give the same batches.

Tile codec: each tile's rows are delta-coded along x (``pixel - left neighbour``, per channel, mod
256 — PNG's "Sub" filter) and compressed with zstd (level 3). On 1024² real-photo pairs: 1.04× the
packed PNG bytes on disk (``benchmarks/RESULTS.md``, bench_loader), against 2.4× for the decoded cache
(``cache_dir``, raw ``uint8``: 3 MiB per 1024² image and side) and ≈1.7× for zstd without the delta;
decoding a 128² tile took ≈0.35 ms where a PNG tile took 0.7-1 ms and encoded 10× slower, and the
9 tiles of a 256² crop ≈3 ms per side against ≈40 ms per side for the full PNG (one measurement on
a busy machine, decoding only).

Files, under the folder the user names (``DataConfig.tile_dir``, never the dataset's own folder):
``<tile_dir>/<source hash>/<tile>-<codec>-<content stamp>/<bucket>/<index>.tiles``, one file per item
holding both sides: ``MAGIC``, an 8-byte little-endian header length, a JSON header (id, category,
prompt, height, width, tile, codec, per-side tile offsets), then the tile blobs in row-major
order (a crop reads each row of its tiles with one ``pread``). ``view.json`` beside them records the
source and its content stamp (:meth:`PairSource.content_stamp`: path, size and mtime of every file
read). The folder is claimed like every ggt output folder (:mod:`ggt_hf.files.output_folders`); a
changed dataset has a new stamp, so its view is built anew in a new sub-folder and the stale one is
removed. Items are built on first use (by whichever loader worker needs them, atomically) or all at
once beforehand with :func:`build_tile_view`; each read checks that the file is whole and belongs to
the source's item (its id), and rebuilds it otherwise.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ggt_hf.errors import GGTError, MissingExtraError
from ggt_hf.files.io_utils import atomic_write_bytes, atomic_write_json
from ggt_hf.files.output_folders import check_no_overlap, claim_output_folder
from ggt_hf.training.data.augment import check_pair
from ggt_hf.training.data.config import DataConfig, PairSample
from ggt_hf.training.data.sources import PairSource, open_source

logger = logging.getLogger(__name__)

#: ``claim_output_folder`` kind of a tile-view folder.
KIND = "training tile view"
#: First bytes of every item file (the format version is its last character).
MAGIC = b"GGTTILE1"
#: Tile codecs (``view.json`` and each item header name theirs).
CODECS = ("zstd",)
_ZSTD_LEVEL = 3


def _zstd():
    try:
        import zstandard
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError("zstandard", "train") from exc
    return zstandard


def encode_tile(tile: np.ndarray) -> bytes:
    """One ``uint8`` h×w×3 tile → its blob (x-delta per channel mod 256, then zstd)."""
    delta = tile.copy()
    delta[:, 1:] -= tile[:, :-1]  # uint8 arithmetic wraps: exactly invertible by a cumulative sum
    return _zstd().ZstdCompressor(level=_ZSTD_LEVEL).compress(delta.tobytes())


_DECOMPRESSOR: Any = None


def decode_tile(blob: bytes, out: np.ndarray) -> None:
    """Decode ``blob`` into ``out`` (a ``uint8`` h×w×3 array or view of the tile's shape)."""
    global _DECOMPRESSOR
    if _DECOMPRESSOR is None:  # one per process (DataLoader workers get their own)
        _DECOMPRESSOR = _zstd().ZstdDecompressor()
    raw = _DECOMPRESSOR.decompress(blob, max_output_size=out.size)
    delta = np.frombuffer(raw, np.uint8).reshape(out.shape)
    np.cumsum(delta, axis=1, dtype=np.uint8, out=out)


def tile_grid(length: int, tile: int) -> int:
    """Tiles along an axis of ``length`` pixels (the last one may be shorter)."""
    return -(-length // tile)


def encode_item(sample: PairSample, tile: int) -> bytes:
    """The whole item file of ``sample`` (both sides, or HQ only for a synthetic source)."""
    sides = {"hq": sample.hq} if sample.lq is None else {"lq": sample.lq, "hq": sample.hq}
    if sample.lq is not None:
        check_pair(sample.id, sample.lq, sample.hq)
    height, width = sample.hq.shape[:2]
    blobs: list[bytes] = []
    offsets: dict[str, list[int]] = {}
    size = 0
    for side, image in sides.items():
        offsets[side] = [size]
        for y in range(0, height, tile):
            for x in range(0, width, tile):
                blobs.append(encode_tile(np.ascontiguousarray(image[y : y + tile, x : x + tile])))
                size += len(blobs[-1])
                offsets[side].append(size)
    header = {
        "id": sample.id,
        "category": sample.category,
        "prompt": sample.prompt,
        "height": height,
        "width": width,
        "tile": tile,
        "codec": "zstd",
        "offsets": offsets,
    }
    head = json.dumps(header).encode()
    return b"".join([MAGIC, len(head).to_bytes(8, "little"), head, *blobs])


@dataclass
class TiledItem:
    """One item of a tile view, not decoded: ``region`` decodes the tiles under a box."""

    path: Path
    header: dict[str, Any]
    data_start: int
    label: str

    @property
    def id(self) -> str:
        return self.header["id"]

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the full image."""
        return self.header["height"], self.header["width"]

    def region(self, top: int, left: int, height: int, width: int) -> PairSample:
        """The box ``[top, top+height) × [left, left+width)`` of both sides as a :class:`PairSample`
        (``lq`` is ``None`` for a synthetic source), bit-identical to that box of the full image."""
        full_h, full_w = self.shape
        if not (min(top, left) >= 0 and top + height <= full_h and left + width <= full_w):
            raise ValueError(f"{self.id}: box {top},{left} {height}×{width} outside {full_h}×{full_w}")
        t = self.header["tile"]
        columns = tile_grid(full_w, t)
        ty0, ty1 = top // t, (top + height - 1) // t
        tx0, tx1 = left // t, (left + width - 1) // t
        y_base, x_base = ty0 * t, tx0 * t
        span_h, span_w = min((ty1 + 1) * t, full_h) - y_base, min((tx1 + 1) * t, full_w) - x_base
        out: dict[str, np.ndarray] = {}
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for side, offsets in self.header["offsets"].items():
                buffer = np.empty((span_h, span_w, 3), dtype=np.uint8)
                for ty in range(ty0, ty1 + 1):
                    first, last = ty * columns + tx0, ty * columns + tx1 + 1
                    start = offsets[first]
                    run = os.pread(fd, offsets[last] - start, self.data_start + start)
                    y = ty * t - y_base
                    for k, tx in enumerate(range(tx0, tx1 + 1)):
                        blob = run[offsets[first + k] - start : offsets[first + k + 1] - start]
                        x = tx * t - x_base
                        decode_tile(
                            blob, buffer[y : y + min(t, full_h - ty * t), x : x + min(t, full_w - tx * t)]
                        )
                out[side] = buffer[
                    top - y_base : top - y_base + height, left - x_base : left - x_base + width
                ]
        finally:
            os.close(fd)
        h = self.header
        return PairSample(h["id"], out.get("lq"), out["hq"], h["category"], h["prompt"], self.label)  # type: ignore[arg-type]


def _read_header(path: Path) -> tuple[dict[str, Any], int] | None:
    """The header and data offset of item file ``path``; ``None`` when it is missing, foreign or
    not whole (a file cut short is rebuilt, never decoded)."""
    try:
        with open(path, "rb") as f:
            if f.read(len(MAGIC)) != MAGIC:
                return None
            length = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(length))
            data_start = len(MAGIC) + 8 + length
            ends = [offsets[-1] for offsets in header["offsets"].values()]
            if os.fstat(f.fileno()).st_size != data_start + max(ends):
                return None
            return header, data_start
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


class TileView:
    """The tile view of one :class:`PairSource` under ``root`` (claimed as a ggt output folder).

    Raises (at construction):
        OutputFolderError: ``root`` overlaps the source's folder or holds files that are not ggt's.
    """

    def __init__(
        self, root: str | os.PathLike, source: PairSource, tile: int = 128, codec: str = "zstd"
    ) -> None:
        if codec not in CODECS:
            raise ValueError(f"tile codec must be one of {', '.join(CODECS)}, got {codec!r}")
        if tile < 8:
            raise ValueError(f"tile size must be ≥ 8, got {tile}")
        _zstd()  # a missing dependency is named now, not in a worker
        if Path(source.spec.path).is_dir():
            check_no_overlap(source.spec.path, root, what="tile view folder (data.tile_dir)")
        root = claim_output_folder(root, KIND, command="the tiled training layout")
        self.source, self.tile = source, tile
        stamp = source.content_stamp()
        parent = root / hashlib.sha1(source.key.encode()).hexdigest()[:16]
        self.folder = parent / f"{tile}-{codec}-{stamp[:16]}"
        if parent.is_dir():
            for stale in parent.iterdir():
                if stale != self.folder and stale.is_dir():
                    logger.info(
                        "removing the tile view of an earlier version of %s: %s", source.spec.path, stale
                    )
                    shutil.rmtree(stale, ignore_errors=True)  # another rank may be removing it too
        manifest = self.folder / "view.json"
        if not manifest.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_json(
                manifest,
                {
                    "source": source.spec.path,
                    "key": source.key,
                    "stamp": stamp,
                    "items": len(source),
                    "tile": tile,
                    "codec": codec,
                },
            )

    def path(self, index: int) -> Path:
        """The item file of item ``index``."""
        return self.folder / f"{index // 1000:04d}" / f"{index}.tiles"

    def item(self, index: int) -> TiledItem:
        """Item ``index``, built from the source first when its file is missing, cut short or of
        another item. Raises the source's GGTError for a bad item."""
        path = self.path(index)
        found = _read_header(path)
        expected = self.source.item_id(index)
        if found is not None and found[0]["id"] == expected and found[0]["tile"] == self.tile:
            return TiledItem(path, found[0], found[1], self.source.label)
        if found is not None:
            logger.warning(
                "%s: tile file %s is not item %r; rebuilding it", self.source.spec.path, path, expected
            )
        atomic_write_bytes(path, encode_item(self.source.read(index), self.tile))
        built = _read_header(path)
        if built is None:  # pragma: no cover - only if the file changed under us
            raise GGTError(expected, f"tile file {path} could not be read back after writing it")
        return TiledItem(path, built[0], built[1], self.source.label)

    def disk_bytes(self) -> int:
        """Bytes of this view's files on disk so far."""
        return sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())


def build_tile_view(cfg: DataConfig) -> dict[str, dict[str, int]]:
    """Build the tile view of every map-style source of ``cfg`` (``cfg.tile_dir``) ahead of training,
    instead of on first use. Bad items are logged and counted, not fatal; re-running only builds what
    is missing. Returns ``{source path: {"items", "skipped", "bytes"}}``."""
    if not cfg.tile_dir:
        raise ValueError("build_tile_view needs DataConfig.tile_dir (the folder the view is written to)")
    summary: dict[str, dict[str, int]] = {}
    for group, specs in (("ggt", cfg.ggt), ("baseline", cfg.baseline)):
        for spec in specs:
            if spec.streaming:
                logger.info("%s: streaming source, no tile view", spec.path)
                continue
            view = TileView(cfg.tile_dir, open_source(spec, group), cfg.tile_size)
            skipped = 0
            for index in range(len(view.source)):
                try:
                    view.item(index)
                except GGTError as exc:
                    skipped += 1
                    logger.warning("%s: skipped bad item: %s", spec.path, exc)
            summary[spec.path] = {"items": len(view.source), "skipped": skipped, "bytes": view.disk_bytes()}
            logger.info("tile view of %s: %s", spec.path, summary[spec.path])
    return summary
