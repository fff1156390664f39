"""Single source of truth for the facts every part of ggt-hf shares.

Categories, splits, column names, the schema version and the Hub folder layout are defined here
and nowhere else: the ``ClassLabel`` of the dataset, the dataset card, prompts, the Space and the
leaderboard all import them from this module.
"""

from __future__ import annotations

import re
from typing import Final

#: Version of the packed dataset schema. Bump it when a column is added, removed or changes meaning.
SCHEMA_VERSION: Final = "1.0"

#: The six GGT-100K degradation categories, in ``ClassLabel`` order (index = label id).
CATEGORIES: Final[tuple[str, ...]] = ("general", "rain", "haze", "snow", "low_light", "old_photo")

#: Human-readable names for cards, plots and the Space.
CATEGORY_TITLES: Final[dict[str, str]] = {
    "general": "General (mixed)",
    "rain": "Rain",
    "haze": "Haze",
    "snow": "Snow",
    "low_light": "Low-light",
    "old_photo": "Old photo",
}

#: Dataset splits, in the order cards and tables list them.
SPLITS: Final[tuple[str, ...]] = ("train", "test")

#: Side of the square images GGT works with (GGT-100K is 1024²).
IMAGE_SIZE: Final = 1024

#: Image file extensions ggt-hf reads (HEIC/AVIF need the ``heif`` extra / a Pillow plugin).
IMAGE_EXTENSIONS: Final[frozenset[str]] = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".heic", ".heif", ".avif"}
)


class Col:
    """Column names of the packed dataset (one place, so no string literal drifts)."""

    ID: Final = "id"
    LQ: Final = "lq"
    HQ: Final = "hq"
    CATEGORY: Final = "category"
    SPLIT: Final = "split"
    WIDTH: Final = "width"
    HEIGHT: Final = "height"
    SOURCE: Final = "source"
    LICENSE: Final = "license"
    PROMPT: Final = "prompt"
    PROVENANCE: Final = "provenance"
    QC: Final = "qc"
    LQ_SHA256: Final = "lq_sha256"
    LQ_PHASH: Final = "lq_phash"


#: Column order of every shard.
COLUMNS: Final[tuple[str, ...]] = (
    Col.ID,
    Col.LQ,
    Col.HQ,
    Col.CATEGORY,
    Col.SPLIT,
    Col.WIDTH,
    Col.HEIGHT,
    Col.SOURCE,
    Col.LICENSE,
    Col.PROMPT,
    Col.PROVENANCE,
    Col.QC,
    Col.LQ_SHA256,
    Col.LQ_PHASH,
)


#: The sub-folder of a training run (``train.output_dir``) holding its final model; ``ggt restore
#: --model RUN_FOLDER`` loads it from there.
TRAINING_FINAL_DIR = "final"


class HubLayout:
    """File layout of a packed GGT dataset folder, which is file for file what goes to the Hub.

    Shards live under ``data/<category>/`` so that every category is its own ``load_dataset``
    config (``configs:`` in the card can only select files, not filter rows). Candidates that QC
    rejected are kept as negatives (preference data) under ``negatives/<category>/``, the
    ``negatives`` config; they never enter the default config.
    """

    DATA_DIR: Final = "data"
    NEGATIVES_DIR: Final = "negatives"
    BASELINE_DIR: Final = "baseline"
    #: every generated item's first candidate, QC verdicts as columns (the QC ablation's w/o-QC data)
    UNFILTERED_DIR: Final = "unfiltered"
    SUBSETS: Final = ("data", "negatives", "baseline", "unfiltered")
    SHARD: Final = "{subset}/{category}/{split}-{index:05d}-of-{total:05d}.parquet"
    SHARD_GLOB: Final = "{subset}/{category}/{split}-*.parquet"
    CARD: Final = "README.md"
    SAMPLE_GRID: Final = "assets/sample_grid.jpg"
    MANIFEST: Final = "ggt_dataset.json"
    DEFAULT_CONFIG: Final = "default"
    NEGATIVES_CONFIG: Final = "negatives"
    BASELINE_CONFIG: Final = "baseline"
    UNFILTERED_CONFIG: Final = "unfiltered"
    EVAL_YAML: Final = "eval.yaml"


#: The five aspects of the paper's VLM judge (QC stage 2 and the VLM-R metric), in order.
JUDGE_ASPECTS: Final[tuple[str, ...]] = (
    "restoration_quality",
    "object_consistency",
    "geometry_alignment",
    "content_reasonableness",
    "color_consistency",
)

#: Most generation attempts per item in QC stage 2 (the paper regenerates at most 3 times); a
#: config asking for more is refused, not clamped.
MAX_QC_ATTEMPTS: Final = 3

#: Hard cap on decoded pixels per image; above it a file is treated as a decompression bomb.
MAX_IMAGE_PIXELS: Final = 64_000_000
#: Hard cap on the bytes of one image file (or archive member), checked before it is read: a
#: ``MAX_IMAGE_PIXELS`` image stored uncompressed at 8 bytes a pixel (16-bit RGBA TIFF) fits.
MAX_IMAGE_BYTES: Final = MAX_IMAGE_PIXELS * 8

#: Hugging Face dataset repo of the official release (loose files, not loadable as is: see ``ggt mirror``).
GGT100K_REPO_ID: Final = "VCLab-PolyU/GGT-100K"
#: Licence of the official release.
GGT100K_LICENSE: Final = "cc-by-nc-nd-4.0"
#: The packed GGT-100K every training recipe reads (``data.ggt`` and ``validation.path``): the folder
#: ``ggt pack hf://datasets/VCLab-PolyU/GGT-100K ggt-100k`` writes, relative to the directory a run is
#: launched from (as the recipes' other data paths). A Hub mirror made by ``ggt mirror`` replaces it
#: with overrides: ``'data.ggt=[{path: you/ggt-100k, split: train}]' validation.path=you/ggt-100k``.
GGT100K_MIRROR_DIR: Final = "ggt-100k"

_ALIAS_STRIP = re.compile(r"[\s_\-]+")
_CATEGORY_ALIASES: Final[dict[str, str]] = {
    **{_ALIAS_STRIP.sub("", c): c for c in CATEGORIES},
    "mixed": "general",
    "generalmixed": "general",
    "real": "general",
    "rainy": "rain",
    "derain": "rain",
    "hazy": "haze",
    "dehaze": "haze",
    "fog": "haze",
    "foggy": "haze",
    "snowy": "snow",
    "desnow": "snow",
    "lowlight": "low_light",
    "night": "low_light",
    "dark": "low_light",
    "lol": "low_light",
    "old": "old_photo",
    "oldphotos": "old_photo",
}


def parse_category(value: str) -> str:
    """Map a folder name or manifest value (``"Low-Light"``, ``"oldphoto"``, ...) to a category.

    Raises:
        ValueError: naming the value and the accepted categories when it is not recognised.
    """
    key = _ALIAS_STRIP.sub("", str(value).strip().lower())
    try:
        return _CATEGORY_ALIASES[key]
    except KeyError:
        raise ValueError(f"unknown category {value!r}; expected one of {', '.join(CATEGORIES)}") from None


def try_parse_category(value: str) -> str | None:
    """Like :func:`parse_category` but returns ``None`` for an unrecognised value."""
    try:
        return parse_category(value)
    except ValueError:
        return None


def parse_split(value: str) -> str:
    """Validate a split name (``train`` or ``test``); raises ``ValueError`` naming the value."""
    split = str(value).strip().lower()
    if split not in SPLITS:
        raise ValueError(f"unknown split {value!r}; expected one of {', '.join(SPLITS)}")
    return split


#: ``format`` of the human-share JSON written by ``ggt leaderboard votes --share --out``
#: (:func:`ggt_hf.leaderboard.study.shares_json`) and read by ``ggt bench-mfm --human``
#: (:func:`ggt_hf.evaluation.bench_mfm.read_shares`).
SHARE_FORMAT = "ggt-human-share"
