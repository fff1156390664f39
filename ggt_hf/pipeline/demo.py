"""``ggt demo``: every stage that exists, offline, end to end on the photos shipped in the package.

1. **ingest** the bundled clean photos (``ingest/``);
2. make **LQ photos** from them with recorded synthetic degradations, one category each
   (``pairs/``: clean photo = HQ, degradation = LQ — the paper's baseline-style data). The LQ
   photos are already normalised, so ``pairs/`` gets an ingest records file of its own
   (``pairs/ingested.jsonl``) instead of being ingested a second time;
3. **GGT build** with ``pairs/`` as its source (``build/``): adaptive prompts from the offline
   heuristic analyser → HQ candidates from the ``classical`` baseline restorer (a baseline, not an
   MFM) → QC (PIQE filter, geometry/colour checks, heuristic judge, corrective re-prompting) →
   **pack**;
4. **validate** the packed dataset (``build/dataset/``).

Each stage skips work already done, so re-running on the same folder resumes — killed at any
moment and re-run, it ends with exactly the dataset an uninterrupted run produces.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ggt_hf.degrade.synthetic_pairs import synthesize_pairs
from ggt_hf.files.io_utils import atomic_write_text, sha256_file
from ggt_hf.hub.pairs import Problem
from ggt_hf.ingest.photos import RECORDS_FILE, IngestConfig, IngestSummary, ingest, read_ingested
from ggt_hf.pipeline.build import BuildReport, build
from ggt_hf.pipeline.config import BuildConfig

logger = logging.getLogger(__name__)


def sample_dir() -> Path:
    """Folder of the bundled sample photos (with ``manifest.csv`` and ``LICENSE.md``)."""
    return Path(str(resources.files("ggt_hf") / "sample_data"))


def demo_config(out: Path, source: Path, seed: int = 0) -> BuildConfig:
    """The offline build the demo runs on the ingest-shaped folder ``source`` (same shape as
    dataset_builder/configs/offline_classical.yaml)."""
    return BuildConfig.from_dict(
        {
            "name": "ggt-hf-demo",
            "output": str(out / "build"),
            "sources": [{"path": str(source)}],
            "backend": {"name": "classical", "concurrency": 2},
            "prompt": "adaptive:heuristic",
            "vlm": {"name": "heuristic"},
            "qc": {"metric_thresholds": {"piqe": -10.0}, "geometry": True, "judge": "vlm", "max_attempts": 3},
            "seed": seed,
            "workers": 2,
            "pretty_name": "ggt-hf demo dataset",
            "license": "cc0-1.0",
        }
    )


@dataclass
class DemoResult:
    """Where the demo wrote what, and how each stage went."""

    out: Path
    ingest: IngestSummary
    pairs: int
    build: BuildReport
    problems: list[Problem] = field(default_factory=list)

    @property
    def dataset(self) -> Path:
        return self.out / "build" / "dataset"


def _lq_records(pairs, folder: Path) -> Path:
    """Write ``folder/ingested.jsonl``: one ingest record per LQ photo (paths relative to
    ``folder``), so ``folder`` is a ``ggt build`` source used as-is. Returns ``folder``."""
    lines = []
    for pair in pairs:
        lq = Path(pair.lq_path)
        record = {
            "id": pair.id,
            "category": pair.category,
            "image": Path(os.path.relpath(lq, folder)).as_posix(),
            "split": pair.split,
            "source": pair.source,
            "license": pair.license,
            "sha256": sha256_file(lq),
            "transform": pair.provenance.lq_transform,
            "degradation": pair.provenance.degradation,
        }
        lines.append(json.dumps(record, sort_keys=True) + "\n")
    atomic_write_text(folder / RECORDS_FILE, "".join(lines))
    return folder


def run_demo(out: str | Path, *, seed: int = 0, progress: bool | None = None) -> DemoResult:
    """Run the demo into ``out`` and validate the result (see the module docstring)."""
    from ggt_hf.hub.validate import validate_folder

    out = Path(out)
    samples = sample_dir()
    summary = ingest(
        samples,
        out / "ingest",
        IngestConfig(license="cc0-1.0"),
        manifest=samples / "manifest.csv",
        progress=progress,
    )
    pairs = synthesize_pairs(read_ingested(out / "ingest"), out / "ingest", out / "pairs", seed=seed)
    source = _lq_records(pairs, out / "pairs")
    report = build(demo_config(out, source, seed), progress=progress)
    problems = validate_folder(out / "build" / "dataset", progress=progress)
    return DemoResult(out=out, ingest=summary, pairs=len(pairs), build=report, problems=problems)
