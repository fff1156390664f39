"""``ggt demo``: every stage that exists, offline, end to end on the photos shipped in the package.

Stages: ingest the bundled photos → make pairs (clean photo as HQ, a labelled synthetic
degradation of it as LQ) → pack → validate. Each stage skips work already done, so re-running on
the same folder resumes; pack is deterministic, so a resumed run ends with the same dataset.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ggt_hf.hub.card import CardInfo
from ggt_hf.hub.pack import PackConfig, PackReport, pack
from ggt_hf.hub.pairs import Problem
from ggt_hf.hub.validate import validate_folder
from ggt_hf.ingest import IngestConfig, IngestSummary, ingest, read_ingested
from ggt_hf.synthetic_pairs import synthesize_pairs

logger = logging.getLogger(__name__)

DEMO_CARD = CardInfo(
    pretty_name="ggt-hf demo dataset",
    license="cc0-1.0",
    description=(
        "A tiny dataset made by `ggt demo` from public-domain / CC0 photos bundled with scikit-image: "
        "clean photos as HQ and seeded, recorded synthetic degradations as LQ, one category each."
    ),
)


def sample_dir() -> Path:
    """Folder of the bundled sample photos (with ``manifest.csv`` and ``LICENSE.md``)."""
    return Path(str(resources.files("ggt_hf") / "sample_data"))


@dataclass
class DemoResult:
    """Where the demo wrote what, and how each stage went."""

    out: Path
    ingest: IngestSummary
    pairs: int
    pack: PackReport
    problems: list[Problem] = field(default_factory=list)

    @property
    def dataset(self) -> Path:
        return self.out / "dataset"


def run_demo(out: str | Path, *, seed: int = 0, progress: bool | None = None) -> DemoResult:
    """Run the demo into ``out`` (``ingest/``, ``pairs/``, ``dataset/``) and validate the result."""
    out = Path(out)
    samples = sample_dir()
    summary = ingest(
        samples,
        out / "ingest",
        IngestConfig(license="see sample_data/LICENSE.md"),
        manifest=samples / "manifest.csv",
        progress=progress,
    )
    records = synthesize_pairs(read_ingested(out / "ingest"), out / "ingest", out / "pairs", seed=seed)
    report = pack(records, out / "dataset", PackConfig(card=DEMO_CARD), progress=progress)
    problems = validate_folder(out / "dataset", progress=progress)
    return DemoResult(out=out, ingest=summary, pairs=len(records), pack=report, problems=problems)
