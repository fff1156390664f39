"""What ``ggt eval`` scores predictions against: a packed split (with or without HQ) or real LQ photos.

A :class:`Reference` is a list of items ``(id, category, lq bytes, hq bytes or None, width, height)``
read lazily. Sources (:func:`open_reference`):

* a **packed dataset** (local ``ggt pack`` folder or Hub repo id) through ``datasets``: ids, categories
  and sizes from its columns; a split without HQ images (every ``hq`` empty, or no ``hq`` column)
  is a real-LQ set;
* a **folder of real LQ photos** (no parquet in it): every image under it, category sub-folders
  optional (``rain/x.jpg`` is category ``rain``; a file at the top level, or under a folder that is
  not a category name, is ``general``), ids = file stems. It has no HQ, so only no-reference metrics
  and VLM-R apply.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ggt_hf.constants import CATEGORIES, IMAGE_EXTENSIONS, Col, try_parse_category
from ggt_hf.files.walk import image_files
from ggt_hf.hub.shard_reader import load_packed
from ggt_hf.imaging.images import probe_image, read_file_bytes


@dataclass
class RefItem:
    """One reference item; ``hq`` is ``None`` for real-LQ sets."""

    id: str
    category: str
    lq: bytes
    hq: bytes | None
    width: int
    height: int


class Reference:
    """Items by index; :attr:`has_hq` says whether full-reference metrics are possible."""

    name: str
    ids: list[str]
    has_hq: bool

    def __len__(self) -> int:
        return len(self.ids)

    def item(self, index: int) -> RefItem:
        raise NotImplementedError

    def size(self, index: int) -> tuple[int, int]:
        """(width, height) of the LQ of item ``index`` (what a prediction must match)."""
        item = self.item(index)
        return item.width, item.height

    def items(self, indices: list[int]) -> Iterator[RefItem]:
        return (self.item(i) for i in indices)


def load_packed_split(dataset: str, split: str = "test", config: str | None = None):
    """The ``split`` of a packed GGT dataset (local folder or Hub repo id) as a ``datasets.Dataset``,
    images left encoded: the one reader of packed references (``ggt eval``, the leaderboard's
    submission check and worker), through :func:`~ggt_hf.hub.shard_reader.load_packed` (a local
    folder's shards are checked first, and its rows are fresh after a re-pack); a split without an
    ``hq`` column is kept."""
    from datasets import Image

    ds = load_packed(dataset, config, split)
    for column in (Col.HQ, Col.LQ):
        if column in ds.column_names:
            ds = ds.cast_column(column, Image(decode=False))
    return ds


class PackedReference(Reference):
    """A split of a packed GGT dataset, images left encoded."""

    def __init__(self, dataset: str, split: str, config: str | None) -> None:
        ds = load_packed_split(dataset, split, config)
        self.has_hq = Col.HQ in ds.column_names
        if self.has_hq:
            self.has_hq = any(v is not None for v in ds.select_columns([Col.HQ])[Col.HQ])
        self.ds, self.name = ds, dataset
        self.ids = list(ds[Col.ID])
        self._sizes = list(zip(ds[Col.WIDTH], ds[Col.HEIGHT], strict=True))

    def size(self, index: int) -> tuple[int, int]:
        return self._sizes[index]

    def item(self, index: int) -> RefItem:
        row = self.ds[index]
        hq = row.get(Col.HQ) if self.has_hq else None
        return RefItem(
            row[Col.ID],
            CATEGORIES[row[Col.CATEGORY]],
            row[Col.LQ]["bytes"],
            hq["bytes"] if hq else None,
            row[Col.WIDTH],
            row[Col.HEIGHT],
        )


def _category_of(rel: Path) -> str:
    for part in rel.parts[:-1]:
        category = try_parse_category(part)
        if category:
            return category
    return "general"


def _refuse_pair_release(root: Path, files: Iterable[Path]) -> None:
    """Refuse a folder of LQ/HQ pairs (a raw release such as GGT-100K's ``test/Rain/{LQ,GT}/``) given
    as real LQ photos: its ground truth would be scored as inputs. Packed, it is a paired split."""
    from ggt_hf.hub.layout import HQ, LQ, Reading, read_path

    examples: dict[str, str] = {}
    for path in files:
        rel = path.relative_to(root).as_posix()
        reading = read_path(rel)
        if isinstance(reading, Reading) and reading.role in (LQ, HQ):
            examples.setdefault(reading.role, rel)
        if len(examples) == 2:
            raise ValueError(
                f"{root}: a release of LQ/HQ pairs ({examples[LQ]} is an LQ image, {examples[HQ]} a ground truth), "
                f"not a folder of real LQ photos. Pack it first, e.g. `ggt pack {root} packed`, then pass "
                "--dataset packed --split test (`ggt restore --model MODEL packed pred/` writes the "
                "predictions it expects)"
            )


class FolderReference(Reference):
    """Real LQ photos in a folder (see the module docstring); duplicated stems are refused."""

    has_hq = False

    def __init__(self, folder: str | os.PathLike) -> None:
        root = Path(folder)
        self.name = str(folder)
        files: dict[str, Path] = {}
        clashes: dict[str, list[str]] = {}
        paths = list(image_files(root))  # a link loop or one out of the folder, a bad name: skipped, named
        _refuse_pair_release(root, paths)
        for path in paths:
            rel = path.relative_to(root)
            if path.stem in files:
                clashes.setdefault(path.stem, [str(files[path.stem].relative_to(root))]).append(str(rel))
                continue
            files[path.stem] = path
        if clashes:
            first = next(iter(clashes.items()))
            raise ValueError(
                f"{folder}: {len(clashes)} id(s) name several LQ files (ids are file stems), "
                f"e.g. {first[0]!r}: {', '.join(first[1])}"
            )
        if not files:
            raise FileNotFoundError(f"{folder}: no LQ images in it")
        self.root, self.ids, self._files = root, list(files), files
        self._sizes: dict[str, tuple[int, int]] = {}

    def size(self, index: int) -> tuple[int, int]:
        image_id = self.ids[index]
        if image_id not in self._sizes:
            path = self._files[image_id]
            header = probe_image(read_file_bytes(path), path.name)
            self._sizes[image_id] = (header.width, header.height)
        return self._sizes[image_id]

    def item(self, index: int) -> RefItem:
        image_id = self.ids[index]
        path = self._files[image_id]
        width, height = self.size(index)
        category = _category_of(path.relative_to(self.root))
        return RefItem(image_id, category, read_file_bytes(path), None, width, height)


def is_packed(dataset: str) -> bool:
    """True for a Hub repo id or a folder holding parquet shards / a dataset card (which of the two:
    :func:`ggt_hf.hub.locations.resolve_location`, refusing what is neither)."""
    from ggt_hf.hub.locations import resolve_location

    location = resolve_location(dataset, "--dataset")
    if location.is_hub:
        return True
    path = location.path
    if path.is_file():
        raise ValueError(f"--dataset {dataset}: a file; give a packed dataset or a folder of LQ photos")
    return any(path.rglob("*.parquet")) or (
        (path / "README.md").is_file()
        and not any(p.suffix.lower() in IMAGE_EXTENSIONS for p in path.iterdir())
    )


def open_reference(dataset: str, split: str = "test", config: str | None = None) -> Reference:
    """The reference of ``dataset`` (see the module docstring)."""
    if is_packed(dataset):
        return PackedReference(dataset, split, config)
    return FolderReference(dataset)
