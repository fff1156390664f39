"""Dataset card, manifest and preview grid of a packed folder, all derived from its shards.

:func:`finalize_folder` is called after every pack: it scans ``data/`` (row counts come from the
parquet footers, no image is decoded except the few in the preview grid) and rewrites
``ggt_dataset.json``, ``assets/sample_grid.jpg`` and ``README.md``. The card is the ``dataset`` kind
of the one card renderer (:mod:`ggt_hf.hub.card_render`, ``model_cards/dataset_card.md.j2``); its YAML
holds a ``default`` config over all categories and one config per category, and ``dataset_info``
written by ``datasets``' own ``DatasetInfosDict``.
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from datasets import DatasetInfo, SplitDict, SplitInfo
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCardData
from PIL import Image

from ggt_hf import __version__
from ggt_hf.constants import CATEGORIES, CATEGORY_TITLES, SCHEMA_VERSION, SPLITS, Col, HubLayout
from ggt_hf.files import output_folders
from ggt_hf.files.io_utils import atomic_write_bytes, atomic_write_json, atomic_write_text, sha256_bytes
from ggt_hf.files.metadata_files import read_metadata_or_none
from ggt_hf.hub.card_info import CardInfo, read_card_info
from ggt_hf.hub.card_render import render_card_template
from ggt_hf.hub.schema import dataset_features
from ggt_hf.hub.shard_reader import open_shard

logger = logging.getLogger(__name__)

_SHARD_RE = re.compile(
    "(?P<subset>" + "|".join(HubLayout.SUBSETS) + ")/"
    r"(?P<category>[a-z_]+)/(?P<split>[a-z]+)-(?P<index>\d{5})-of-(?P<total>\d{5})\.parquet"
)

CITATION = """@article{kong2026ggt100k,
  title   = {GGT-100K: Generative Ground Truth for Generalizable Real-World Image Restoration},
  author  = {Kong, Xiangtao and Zhao, Jixin and Sun, Lingchen and Wu, Rongyuan and Zhang, Lei},
  journal = {arXiv preprint arXiv:2605.31039},
  year    = {2026}
}"""


@dataclass(frozen=True)
class ShardInfo:
    """One parquet shard of the folder."""

    path: str
    category: str
    split: str
    num_rows: int
    num_bytes: int
    subset: str = HubLayout.DATA_DIR

    @property
    def negative(self) -> bool:
        """True for shards outside the main pairs (``negatives`` and ``baseline`` configs)."""
        return self.subset != HubLayout.DATA_DIR


def list_shards(folder: str | Path) -> list[ShardInfo]:
    """Shards under ``data/`` and ``negatives/`` that follow the layout, sorted by path."""
    folder = Path(folder)
    shards = []
    paths = [p for subset in HubLayout.SUBSETS for p in sorted((folder / subset).glob("*/*.parquet"))]
    for path in paths:
        rel = path.relative_to(folder).as_posix()
        match = _SHARD_RE.fullmatch(rel)
        if match is None:
            continue
        shards.append(
            ShardInfo(
                rel,
                match["category"],
                match["split"],
                pq.ParquetFile(path).metadata.num_rows,
                path.stat().st_size,
                match["subset"],
            )
        )
    return shards


def counts(
    shards: list[ShardInfo], *, negatives: bool = False, subset: str | None = None
) -> dict[str, dict[str, int]]:
    """Rows per category and split of the pairs of ``subset`` (default: ``data``, or ``negatives``)."""
    subset = subset or (HubLayout.NEGATIVES_DIR if negatives else HubLayout.DATA_DIR)
    table = {c: dict.fromkeys(SPLITS, 0) for c in CATEGORIES}
    for s in shards:
        if s.subset == subset and s.category in table:
            table[s.category][s.split] += s.num_rows
    return table


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` bucket for ``n`` rows."""
    for bound, label in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ):
        if n < bound:
            return label
    return "1M<n<10M"


def _selections(shards: list[ShardInfo]) -> list[tuple[str, list[ShardInfo], Callable[[str], str]]]:
    """(config name, its shards, split → path glob): the one place the card's configs are defined."""
    data = [s for s in shards if s.subset == HubLayout.DATA_DIR]
    negatives = [s for s in shards if s.subset == HubLayout.NEGATIVES_DIR]
    baseline = [s for s in shards if s.subset == HubLayout.BASELINE_DIR]
    unfiltered = [s for s in shards if s.subset == HubLayout.UNFILTERED_DIR]

    def glob(subset: str, category: str) -> Callable[[str], str]:
        return lambda split: HubLayout.SHARD_GLOB.format(subset=subset, category=category, split=split)

    out = [(HubLayout.DEFAULT_CONFIG, data, glob(HubLayout.DATA_DIR, "*"))]
    for category in CATEGORIES:
        selected = [s for s in data if s.category == category]
        if selected:
            out.append((category, selected, glob(HubLayout.DATA_DIR, category)))
    if negatives:
        out.append((HubLayout.NEGATIVES_CONFIG, negatives, glob(HubLayout.NEGATIVES_DIR, "*")))
    if baseline:
        out.append((HubLayout.BASELINE_CONFIG, baseline, glob(HubLayout.BASELINE_DIR, "*")))
    if unfiltered:
        out.append((HubLayout.UNFILTERED_CONFIG, unfiltered, glob(HubLayout.UNFILTERED_DIR, "*")))
    return out


def config_entries(shards: list[ShardInfo]) -> list[dict[str, Any]]:
    """YAML ``configs:``: ``default`` (all categories), one per category, ``negatives``, ``baseline``,
    ``unfiltered``; ``default`` goes last while it has no files."""
    configs = []
    for name, selected, glob in _selections(shards):
        files = [{"split": sp, "path": glob(sp)} for sp in SPLITS if any(s.split == sp for s in selected)]
        head = (
            {"config_name": name, "default": True}
            if name == HubLayout.DEFAULT_CONFIG
            else {"config_name": name}
        )
        configs.append({**head, "data_files": files})
    if not configs[0]["data_files"] and len(configs) > 1:
        # Nothing accepted yet (human review on, nobody decided): `datasets` infers the file format
        # from the FIRST config's files and refused every config of the folder when `default` had
        # none; listed last, `unfiltered` and `negatives` load and only `default` says it is empty.
        configs.append(configs.pop(0))
    return configs


def _infos(shards: list[ShardInfo]) -> DatasetInfosDict:
    def info(selected: list[ShardInfo]) -> DatasetInfo:
        splits = SplitDict()
        for split in SPLITS:
            rows = [s for s in selected if s.split == split]
            if rows:
                splits.add(
                    SplitInfo(
                        split,
                        num_bytes=sum(s.num_bytes for s in rows),
                        num_examples=sum(s.num_rows for s in rows),
                    )
                )
        return DatasetInfo(features=dataset_features(), splits=splits)

    return DatasetInfosDict({name: info(selected) for name, selected, _ in _selections(shards) if selected})


#: One preview tile: category, LQ bytes, HQ bytes.
Tile = tuple[str, bytes, bytes]


def sample_tiles(folder: Path, shards: list[ShardInfo], per_category: int = 2) -> list[Tile]:
    """Up to ``per_category`` (category, LQ, HQ) samples per category: first rows of the shards."""
    tiles: list[Tile] = []
    for category in CATEGORIES:
        taken = 0
        for shard in (s for s in shards if s.category == category and s.subset == HubLayout.DATA_DIR):
            columns = [Col.LQ, Col.HQ]
            batches = open_shard(folder / shard.path, columns, name=shard.path).iter_batches(
                per_category - taken, columns=columns
            )
            first = next(batches, None)  # the first rows only, not the whole row group
            if first is None:
                continue  # a 0-row shard (left by an older ggt): nothing to show
            rows = first.to_pylist()
            tiles += [(category, row[Col.LQ]["bytes"], row[Col.HQ]["bytes"]) for row in rows]
            taken += len(rows)
            if taken >= per_category:
                break
    return tiles


def render_grid(tiles: list[Tile], tile: int = 192) -> bytes | None:
    """JPEG grid of labelled LQ | HQ tiles, two pairs per row; each pair captioned with its category."""
    from PIL import ImageDraw

    if not tiles:
        return None
    cols, gap, label_h = 2, 8, 22
    rows = (len(tiles) + cols - 1) // cols
    cell_h = tile + label_h
    grid = Image.new("RGB", (cols * 2 * tile + (cols - 1) * gap, rows * cell_h), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    for i, (category, lq_bytes, hq_bytes) in enumerate(tiles):
        x, y = (i % cols) * (2 * tile + gap), (i // cols) * cell_h
        for k, (data, side) in enumerate(((lq_bytes, "LQ"), (hq_bytes, "HQ"))):
            im = Image.open(io.BytesIO(data)).convert("RGB").resize((tile, tile), Image.Resampling.BICUBIC)
            grid.paste(im, (x + k * tile, y + label_h))
            draw.text((x + k * tile + 4, y + 5), f"{CATEGORY_TITLES[category]}: {side}", fill=(0, 0, 0))
    buf = io.BytesIO()
    grid.save(buf, format="JPEG", quality=88)
    return buf.getvalue()


def make_sample_grid(
    folder: Path, shards: list[ShardInfo], per_category: int = 2, tile: int = 192
) -> bytes | None:
    """JPEG of labelled LQ | HQ tiles, up to ``per_category`` pairs per category (first rows of shards)."""
    return render_grid(sample_tiles(folder, shards, per_category), tile)


BACKEND_MEANINGS = {
    "synthetic": "clean photo as HQ, LQ made by a recorded synthetic degradation (`ggt_hf.degrade`)",
    "classical": "HQ from the offline classical baseline restorer (a baseline, not an MFM)",
    "release": "imported from a published paired release",
    None: "no provenance recorded",
}


def provenance_summary(folder: Path, shards: list[ShardInfo]) -> tuple[Counter, Counter]:
    """Counts of ``provenance.backend`` and ``qc.verdict`` over all shards (small columns only, a
    batch at a time: a shard of small images holds tens of thousands of rows)."""
    backends: Counter = Counter()
    verdicts: Counter = Counter()
    for shard in (s for s in shards if s.subset == HubLayout.DATA_DIR):
        columns = [Col.PROVENANCE, Col.QC]
        for batch in open_shard(folder / shard.path, columns, name=shard.path).iter_batches(
            1024, columns=columns
        ):
            backends.update(_field_values(batch.column(Col.PROVENANCE), "backend"))
            verdicts.update(v for v in _field_values(batch.column(Col.QC), "verdict") if v)
    return backends, verdicts


def _field_values(column: pa.Array, name: str) -> list:
    """``row[name]`` of a struct column (``None`` for a null struct)."""
    return pc.struct_field(column, name).to_pylist()


def render_card(
    shards: list[ShardInfo],
    info: CardInfo,
    has_grid: bool,
    backends: Counter | None = None,
    verdicts: Counter | None = None,
) -> str:
    """The README.md text of a folder with these shards."""
    backends = backends or Counter()
    table = counts(shards)
    total = sum(s.num_rows for s in shards if s.subset == HubLayout.DATA_DIR)
    negatives = sum(s.num_rows for s in shards if s.subset == HubLayout.NEGATIVES_DIR)
    baseline = sum(s.num_rows for s in shards if s.subset == HubLayout.BASELINE_DIR)
    card_data = DatasetCardData(
        license=info.license,
        pretty_name=info.pretty_name,
        task_categories=["image-to-image"],
        size_categories=[size_category(total)],
        tags=list(info.tags),
        configs=config_entries(shards),
    )
    _infos(shards).to_dataset_card_data(card_data)
    return render_card_template(
        "dataset",
        card_data,
        info=info,
        counts=[(c, CATEGORY_TITLES[c], table[c]) for c in CATEGORIES if any(table[c].values())],
        splits=[s for s in SPLITS if any(table[c][s] for c in CATEGORIES)],
        total=total,
        negatives=negatives,
        baseline=baseline,
        unfiltered=sum(s.num_rows for s in shards if s.subset == HubLayout.UNFILTERED_DIR),
        baseline_counts=[
            (c, CATEGORY_TITLES[c], row)
            for c, row in counts(shards, subset=HubLayout.BASELINE_DIR).items()
            if any(row.values())
        ],
        categories=[c for c in CATEGORIES if any(table[c].values())],
        all_categories=list(CATEGORIES),
        repo=info.repo_id or "path/to/dataset_folder",
        hub_repo=info.repo_id,  # --push-results needs it: the benchmark snippet shows it only then
        backends=[
            (b or "none", n, BACKEND_MEANINGS.get(b, "HQ target generated by this MFM backend"))
            for b, n in sorted(backends.items(), key=lambda kv: (-kv[1], str(kv[0])))
        ],
        verdicts=sorted((verdicts or Counter()).items()),
        sample_grid=HubLayout.SAMPLE_GRID if has_grid else None,
        schema_version=SCHEMA_VERSION,
        ggt_version=__version__,
        citation=CITATION,
    )


def write_card_files(
    folder: Path,
    info: CardInfo,
    shards: list[ShardInfo],
    grid: bytes | None,
    backends: Counter | None = None,
    verdicts: Counter | None = None,
    owned: list[str] | None = None,
) -> list[str]:
    """Write manifest, preview grid, benchmark ``eval.yaml`` and card for ``shards``; returns their paths.

    The card is written last: a folder (or repo) with a card always has its shards and manifest.
    ``owned``: the shards ggt wrote (default: all of ``shards``), recorded for the next re-pack.
    """
    from ggt_hf.hub.eval_results import write_benchmark_yaml

    written = []
    set_aside_hand_edits(folder)
    if grid is not None:
        atomic_write_bytes(folder / HubLayout.SAMPLE_GRID, grid)
        written.append(HubLayout.SAMPLE_GRID)
    wrote_eval = write_benchmark_yaml(folder, info, shards)
    card = render_card(shards, info, grid is not None, backends, verdicts)
    hashes = {HubLayout.CARD: sha256_bytes(card.encode("utf-8"))}
    if (folder / HubLayout.EVAL_YAML).is_file():
        hashes[HubLayout.EVAL_YAML] = sha256_bytes((folder / HubLayout.EVAL_YAML).read_bytes())
    atomic_write_json(
        folder / HubLayout.MANIFEST,
        {
            "schema_version": SCHEMA_VERSION,
            "ggt_hf_version": __version__,
            "card": asdict(info),
            "counts": counts(shards),
            "negative_counts": counts(shards, negatives=True),
            "baseline_counts": counts(shards, subset=HubLayout.BASELINE_DIR),
            "shards": [asdict(s) for s in shards],
            WRITTEN_KEY: hashes,
            OWNED_KEY: [s.path for s in shards] if owned is None else owned,
        },
    )
    written += [HubLayout.MANIFEST, *([HubLayout.EVAL_YAML] if wrote_eval else [])]
    atomic_write_text(folder / HubLayout.CARD, card)
    return [*written, HubLayout.CARD]


#: Manifest key: sha256 of the card and ``eval.yaml`` as ggt last wrote them.
WRITTEN_KEY = "written_sha256"
#: The files ggt regenerates that people edit by hand.
HAND_EDITABLE = (HubLayout.CARD, HubLayout.EVAL_YAML)


#: Where :func:`set_aside_hand_edits` keeps a hand-edited file (``README.user.md``,
#: ``README.user-2.md``, ...): the user's own text, which ``ggt push`` never publishes.
ASIDE_PATTERNS = tuple(
    f"{stem}.user{tail}{suffix}"
    for stem, suffix in map(os.path.splitext, HAND_EDITABLE)
    for tail in ("", "-*")
)


def _aside_name(folder: Path, name: str) -> Path:
    """``README.user.md`` (then ``README.user-2.md``, ...): a free name to keep a hand-edited file."""
    stem, suffix = os.path.splitext(name)
    candidate, n = folder / f"{stem}.user{suffix}", 1
    while os.path.lexists(candidate):
        n += 1
        candidate = folder / f"{stem}.user-{n}{suffix}"
    return candidate


def set_aside_hand_edits(folder: Path) -> dict[str, str]:
    """Move each of :data:`HAND_EDITABLE` that differs from what ggt last wrote (its sha256 in the
    manifest; no record counts as differing: an older or hand-made file) to ``<name>.user<ext>``,
    with a warning naming it, before ggt regenerates it. Returns ``{file: where it was kept}``."""
    manifest = read_metadata_or_none(folder / HubLayout.MANIFEST, "json") or {}
    recorded = manifest.get(WRITTEN_KEY)
    recorded = recorded if isinstance(recorded, dict) else {}
    kept = {}
    for name in HAND_EDITABLE:
        path = folder / name
        if not path.is_file() or path.is_symlink():
            continue
        if recorded.get(name) == sha256_bytes(path.read_bytes()):
            continue  # ggt's own file: regenerated
        aside = _aside_name(folder, name)
        os.rename(path, aside)
        logger.warning(
            "%s differs from the one ggt wrote (edited by hand?): kept as %s, %s regenerated; "
            "copy your changes back into the new %s, or keep them in %s",
            path,
            aside.name,
            name,
            name,
            aside.name,
        )
        kept[name] = aside.name
    return kept


def check_no_links(folder: str | Path) -> None:
    """Refuse a dataset folder where a path ggt writes is a symlink: ``README.md``,
    ``ggt_dataset.json``, ``eval.yaml``, ``assets/`` (and its grid), each subset folder (``data/``,
    ``negatives/``, ...) and every category folder in them.

    Raises:
        OutputFolderError: naming the link (nothing is changed).
    """
    folder = Path(folder)
    paths = [HubLayout.CARD, HubLayout.MANIFEST, HubLayout.EVAL_YAML, HubLayout.SAMPLE_GRID]
    for subset in HubLayout.SUBSETS:
        paths.append(subset)
        if (folder / subset).is_dir() and not (folder / subset).is_symlink():
            names = sorted(os.listdir(folder / subset))  # a category a link points to would be written
            paths += [f"{subset}/{n}" for n in names if (folder / subset / n).is_dir()]
    output_folders.check_no_links(folder, paths, command="ggt")


#: Manifest key: the shards ggt wrote (the only ones a re-pack replaces or deletes); an older
#: manifest without it is read as "every shard it lists".
OWNED_KEY = "ggt_written_shards"


def manifest_owned_shards(folder: Path) -> list[str] | None:
    """The shard paths ggt wrote, as ``folder``'s manifest records them (``None``: no manifest;
    a manifest from before :data:`OWNED_KEY` existed gives every shard it lists)."""
    manifest = read_metadata_or_none(folder / HubLayout.MANIFEST, "json")
    if manifest is None:
        return None
    owned = manifest.get(OWNED_KEY)
    if not isinstance(owned, list):
        shards = manifest.get("shards") if isinstance(manifest.get("shards"), list) else []
        owned = [s.get("path") for s in shards if isinstance(s, dict)]
    return [p for p in owned if isinstance(p, str)]


def finalize_folder(
    folder: str | Path, info: CardInfo | None = None, owned: Iterable[str] | None = None
) -> None:
    """Rewrite manifest, preview grid, ``eval.yaml`` and card of ``folder`` from its current shards.

    ``owned``: the shards ggt wrote (pack passes them); by default the manifest's record is kept.
    """
    folder = Path(folder)
    check_no_links(folder)
    info = read_card_info(folder, info)
    if owned is None:
        owned = manifest_owned_shards(folder)
    shards = list_shards(folder)
    backends, verdicts = provenance_summary(folder, shards)
    present = {s.path for s in shards}
    mine = None if owned is None else sorted(set(owned) & present)
    write_card_files(folder, info, shards, make_sample_grid(folder, shards), backends, verdicts, mine)
