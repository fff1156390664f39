"""Pair sources: a :class:`SourceSpec` resolved into a random-access collection of decoded pairs.

Kinds (``SourceSpec.kind``; ``auto`` picks the first that fits):

* ``packed`` — a ``ggt pack`` folder (has ``data/**.parquet``) or a Hub dataset repo id, read with
  ``datasets.load_dataset(path, name=config, split=split)``. Image columns are cast to
  ``Image(decode=False)`` so rows carry the stored bytes and decoding happens once, here, in
  :func:`decode_rgb` (pixel-identical to the library's decode policy, with ``pyspng`` as a faster
  path for the plain RGB PNGs ``ggt pack`` stores). ``load_dataset`` converts
  the parquet shards to Arrow in the ``datasets`` cache once (a second copy on disk, then
  memory-mapped); ``streaming=True`` avoids that copy at the price of sequential access.
* ``pairs`` — a folder with ``lq/`` and ``hq/`` (flat, or one level of category sub-folders) or with
  the BasicSR ``LQ/`` and ``GT/`` of official sets,
  matched by :func:`ggt_hf.hub.pairs.match_templates` like ``ggt pack`` does.
* ``clean`` — any other folder: every image in it (recursively) is an HQ; the LQ is synthesised with
  :func:`ggt_hf.degrade.degrade` for category ``SourceSpec.degrade``, from a per-sample seed.

``open_source(spec)[i]`` gives the full decoded :class:`PairSample`. The loader uses the lower-level
:meth:`PairSource.read` (a clean source then returns ``lq=None`` so the LQ can be synthesised from
the crop only, which is what BasicSR's on-the-fly Real-ESRGAN pipeline does too) and
:meth:`PairSource.synthesize`.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from ggt_hf.constants import (
    CATEGORIES,
    GGT100K_MIRROR_DIR,
    GGT100K_REPO_ID,
    MAX_IMAGE_PIXELS,
    Col,
    HubLayout,
    parse_category,
    try_parse_category,
)
from ggt_hf.errors import BadImageError
from ggt_hf.files.walk import image_files
from ggt_hf.hub.locations import is_hub_id, not_a_location
from ggt_hf.hub.pairs import match_templates
from ggt_hf.hub.shard_reader import load_packed
from ggt_hf.imaging.images import decode_image, read_file_bytes
from ggt_hf.training.data.config import PairSample, SourceSpec

logger = logging.getLogger(__name__)


def resolve_kind(spec: SourceSpec) -> str:
    """``spec.kind``, or for ``auto``: packed / pairs / clean as described in the module docs."""
    if spec.kind != "auto":
        return spec.kind
    path = Path(spec.path)
    if path.is_dir():
        if any((path / HubLayout.DATA_DIR).glob("**/*.parquet")):
            return "packed"
        if ((path / "lq").is_dir() and (path / "hq").is_dir()) or (
            (path / "LQ").is_dir() and (path / "GT").is_dir()
        ):
            return "pairs"
        return "clean"
    if is_hub_id(spec.path):  # the one local-or-Hub rule (ggt_hf.hub.locations)
        return "packed"
    hint = ""
    if path.name == GGT100K_MIRROR_DIR:
        hint = (
            f"; make the GGT-100K mirror with `ggt pack hf://datasets/{GGT100K_REPO_ID} {GGT100K_MIRROR_DIR}`"
            f" in the launch directory, or give your Hub mirror: 'data.ggt=[{{path: you/{GGT100K_MIRROR_DIR},"
            f" split: train}}]' validation.path=you/{GGT100K_MIRROR_DIR}"
        )
    raise FileNotFoundError(f"{spec.path}: {not_a_location(spec.path)}{hint}")


try:  # optional (the ``train`` extra): libspng decodes the packed format's PNGs ~1.8× faster than Pillow
    import pyspng
except ImportError:  # pragma: no cover - depends on the environment
    pyspng = None

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Chunks after which Pillow + the decode policy would change pixels (colour profile, transparency,
#: EXIF orientation): such files take the policy path.
_POLICY_CHUNKS = frozenset({b"iCCP", b"tRNS", b"eXIf"})


def _plain_rgb8_png(data: bytes) -> bool:
    """True for an 8-bit truecolour PNG within the pixel limit whose header chunks (up to the first
    IDAT) carry nothing the decode policy acts on — what ``ggt pack`` stores."""
    if not data.startswith(_PNG_SIGNATURE) or len(data) < 33 or data[12:16] != b"IHDR":
        return False
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[24] != 8 or data[25] != 2 or data[28] != 0 or width * height > MAX_IMAGE_PIXELS:
        return False  # not 8-bit RGB, interlaced, or too large (the policy path names the reason)
    pos = 8
    while pos + 8 <= len(data):
        length, kind = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            return True
        if kind in _POLICY_CHUNKS:
            return False
        pos += 12 + length
    return False


def decode_rgb(data: bytes, item: str) -> np.ndarray:
    """Encoded bytes → ``uint8`` HWC RGB, pixel-identical to :func:`ggt_hf.imaging.images.decode_image`.

    Plain 8-bit RGB PNGs (the packed format) go through ``pyspng`` when it is installed; anything
    else, and any file ``pyspng`` rejects, through the library's decode policy, which raises
    :class:`~ggt_hf.errors.BadImageError` with the reason.
    """
    if pyspng is not None and _plain_rgb8_png(data):
        try:
            out = pyspng.load(data)
        except Exception:  # corrupt data: the policy path below names the problem
            out = None
        if out is not None and out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3:
            return out
    return np.asarray(decode_image(data, item).image)


class PairSource:
    """Random access to the pairs of one spec: ``len(src)``, ``src[i]`` → :class:`PairSample`.

    Attributes:
        spec: what was opened. label: ``"ggt"`` or ``"baseline"`` (the samples' ``source``).
        key: a stable string naming this source's content (used by the decoded cache).
        synthetic: true when LQs are synthesised (``kind=clean``).
    """

    synthetic = False

    def __init__(self, spec: SourceSpec, label: str, key: str) -> None:
        self.spec, self.label, self.key = spec, label, key

    def __len__(self) -> int:
        raise NotImplementedError

    def read(self, i: int) -> PairSample:
        """Decode item ``i`` (``lq`` is ``None`` for a synthetic source). Raises a GGTError on a bad item."""
        raise NotImplementedError

    def item_id(self, i: int) -> str:
        """The id of item ``i`` without decoding it."""
        raise NotImplementedError

    def synthesize(self, hq: np.ndarray, seed: int) -> np.ndarray:
        """The synthetic LQ of ``hq`` (only for synthetic sources)."""
        raise TypeError(f"{self.spec.path}: not a synthetic source")

    def content_stamp(self) -> str:
        """A hex digest that changes when the source's content may have changed: the key plus the
        path, size and modification time of every file read (derived views are rebuilt when it does)."""
        digest = hashlib.sha256(self.key.encode())
        for path in self._content_files():
            st = path.stat()
            digest.update(f"\0{path}\0{st.st_size}\0{st.st_mtime_ns}".encode())
        return digest.hexdigest()

    def _content_files(self) -> list[Path]:
        return []

    def __getitem__(self, i: int) -> PairSample:
        if not -len(self) <= i < len(self):
            raise IndexError(f"{self.spec.path}: index {i} out of range for {len(self)} pairs")
        sample = self.read(i % len(self))
        if sample.lq is None:
            sample = replace(sample, lq=self.synthesize(sample.hq, seed=i % len(self)))
        return sample

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec.path!r}, {len(self)} pairs, {self.label})"


class PackedSource(PairSource):
    """A packed folder or Hub dataset through ``datasets`` (bytes in, decoded here)."""

    def __init__(self, spec: SourceSpec, label: str) -> None:
        from datasets import Image as ImageFeature

        path = str(Path(spec.path).resolve()) if Path(spec.path).is_dir() else spec.path
        ds = load_packed(path, spec.config, spec.split)
        for column in (Col.LQ, Col.HQ):
            ds = ds.cast_column(column, ImageFeature(decode=False))
        self.ds = ds
        self._ids: list[str] = list(ds[Col.ID])
        self._categories = ds.features[Col.CATEGORY].names if Col.CATEGORY in ds.features else None
        super().__init__(spec, label, f"packed:{path}:{spec.config}:{spec.split}:{len(ds)}")

    def __len__(self) -> int:
        return len(self._ids)

    def item_id(self, i: int) -> str:
        return self._ids[i]

    def content_stamp(self) -> str:
        if not Path(self.spec.path).is_dir():  # a Hub dataset: its revision is in the fingerprint
            return hashlib.sha256(f"{self.key}\0{self.ds._fingerprint}".encode()).hexdigest()
        return super().content_stamp()

    def _content_files(self) -> list[Path]:
        return sorted(Path(self.spec.path).resolve().rglob("*.parquet"))

    def read(self, i: int) -> PairSample:
        row = self.ds[i]
        item = row[Col.ID]
        lq, hq = (decode_rgb(row[c]["bytes"], f"{item} ({c})") for c in (Col.LQ, Col.HQ))
        category = row.get(Col.CATEGORY)
        if self._categories is not None and category is not None:
            category = self._categories[category]
        return PairSample(item, lq, hq, category, row.get(Col.PROMPT), self.label)


class PairFolderSource(PairSource):
    """``lq/`` + ``hq/`` folders, flat or with category sub-folders (unknown folder names → ``None``),
    or the BasicSR ``LQ/`` + ``GT/`` layout of official sets (flat)."""

    def __init__(self, spec: SourceSpec, label: str) -> None:
        root = Path(spec.path)
        self.items: list[tuple[str, str | None, Path, Path]] = []
        files = image_files(root)  # entries refused on the way are logged, named
        for lq_t, hq_t in (
            ("lq/{id}.{ext}", "hq/{id}.{ext}"),
            ("lq/{category}/{id}.{ext}", "hq/{category}/{id}.{ext}"),
            ("LQ/{id}.{ext}", "GT/{id}.{ext}"),  # the BasicSR layout official sets ship in (DA-CLIP's)
        ):
            matches, problems = match_templates(root, lq_t, hq_t, files)
            for problem in problems:
                logger.warning("%s: skipped %s", spec.path, problem)
            for fields, lq, hq in matches:
                category = fields.get("category")
                self.items.append((fields["id"], try_parse_category(category) if category else None, lq, hq))
        if not self.items:
            raise FileNotFoundError(f"{spec.path}: no LQ/HQ pairs found under lq/ and hq/ (or LQ/ and GT/)")
        super().__init__(spec, label, f"pairs:{root.resolve()}:{len(self.items)}")

    def __len__(self) -> int:
        return len(self.items)

    def item_id(self, i: int) -> str:
        return self.items[i][0]

    def _content_files(self) -> list[Path]:
        return [path for item in self.items for path in item[2:]]

    def read(self, i: int) -> PairSample:
        item, category, lq, hq = self.items[i]
        lq_arr, hq_arr = (decode_rgb(read_file_bytes(p), str(p)) for p in (lq, hq))
        return PairSample(item, lq_arr, hq_arr, category, None, self.label)


class CleanSource(PairSource):
    """A folder of clean images; LQ synthesised by ``ggt_hf.degrade`` for ``spec.degrade``."""

    synthetic = True

    def __init__(self, spec: SourceSpec, label: str) -> None:
        if not spec.degrade:
            raise ValueError(
                f"{spec.path}: a clean-image source needs `degrade` (one of {', '.join(CATEGORIES)})"
            )
        self.category = parse_category(spec.degrade)
        root = Path(spec.path)
        files = image_files(root)  # entries refused on the way are logged, named
        self.files = sorted(files)
        if not self.files:
            raise FileNotFoundError(f"{spec.path}: no images found")
        self.ids = [p.relative_to(root).with_suffix("").as_posix() for p in self.files]
        super().__init__(spec, label, f"clean:{root.resolve()}:{len(self.files)}")

    def __len__(self) -> int:
        return len(self.files)

    def item_id(self, i: int) -> str:
        return self.ids[i]

    def _content_files(self) -> list[Path]:
        return self.files

    def read(self, i: int) -> PairSample:
        hq = decode_rgb(read_file_bytes(self.files[i]), str(self.files[i]))
        return PairSample(self.ids[i], None, hq, self.category, None, self.label)  # type: ignore[arg-type]

    def synthesize(self, hq: np.ndarray, seed: int) -> np.ndarray:
        from ggt_hf.degrade import degrade

        if min(hq.shape[:2]) < 16:
            raise BadImageError(self.spec.path, f"image {hq.shape[1]}×{hq.shape[0]} too small to degrade")
        return degrade(np.ascontiguousarray(hq), self.category, seed=seed).image


_KINDS = {"packed": PackedSource, "pairs": PairFolderSource, "clean": CleanSource}


def open_source(spec: SourceSpec, label: str = "ggt") -> PairSource:
    """Open ``spec`` for random access (``label`` is the samples' ``source``: "ggt" or "baseline").

    Raises:
        ValueError: for ``spec.streaming`` (see :mod:`ggt_hf.training.data.streaming`)
            or a clean source without ``degrade``.
        FileNotFoundError: when the path is neither a usable folder nor a Hub id.
    """
    if spec.streaming:
        raise ValueError(
            f"{spec.path}: streaming sources have no random access; read them with make_train_loader"
        )
    kind = resolve_kind(spec)
    if kind != "packed" and not os.path.isdir(spec.path):
        raise FileNotFoundError(f"{spec.path}: folder not found")
    source = _KINDS[kind](spec, label)
    logger.info("opened %r", source)
    return source
