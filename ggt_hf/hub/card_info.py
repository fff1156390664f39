"""The dataset-level card info (name, licence, description, Hub id, ...) kept in a packed folder's
manifest so a re-pack, ``ggt card`` and ``ggt eval --push-results`` read the same values."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ggt_hf.constants import HubLayout
from ggt_hf.files.metadata_files import read_metadata


@dataclass
class CardInfo:
    """Dataset-level metadata for the card (kept in the manifest so repacks preserve it)."""

    pretty_name: str = "GGT dataset"
    license: str = "other"
    description: str = (
        "Paired low-quality (LQ) / high-quality (HQ) images for real-world image restoration, "
        "in the GGT-100K format."
    )
    repo_id: str | None = None
    attribution: str | None = None
    tags: list[str] = field(default_factory=lambda: ["image-restoration", "generative-ground-truth", "ggt"])


def read_card_info(folder: Path, given: CardInfo | None) -> CardInfo:
    """``given``, else the card info stored in ``folder``'s manifest by the last pack, else the defaults
    (a hostile manifest raises :class:`~ggt_hf.errors.DatasetValidationError`)."""
    manifest = folder / HubLayout.MANIFEST
    if given is None and manifest.exists():
        stored = read_metadata(manifest).get("card")  # a hostile manifest: DatasetValidationError
        if isinstance(stored, dict):  # ignore keys an older/newer ggt-hf wrote
            return CardInfo(**{k: v for k, v in stored.items() if k in CardInfo.__dataclass_fields__})
    return given or CardInfo()
