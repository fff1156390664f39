"""Pairs from clean photos: the clean photo is HQ, a recorded synthetic degradation is LQ.

This is the baseline-data path of the paper's "w/o GGT" setting and what ``ggt demo`` uses to make
pairs offline. Every LQ carries the exact degradation parameters in its provenance, so it can be
replayed with :func:`ggt_hf.degrade.replay`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from ggt_hf.degrade import degrade
from ggt_hf.files.io_utils import atomic_write_bytes, atomic_write_text
from ggt_hf.imaging.images import encode_image, from_array, load_image, to_array
from ggt_hf.records import PairRecord, Provenance

PAIRS_FILE = "pairs.jsonl"


def pair_seed(base_seed: int, pair_id: str) -> int:
    """Per-pair seed that does not depend on processing order."""
    return int(hashlib.sha256(f"{base_seed}:{pair_id}".encode()).hexdigest()[:8], 16)


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _relative_to(record: PairRecord, folder: Path) -> PairRecord:
    """The record with its image paths relative to ``folder`` (how a manifest there stores them)."""
    return dataclasses.replace(
        record,
        lq_path=os.path.relpath(record.lq_path, folder),
        hq_path=os.path.relpath(record.hq_path, folder),
    )


def synthesize_pairs(
    ingested: list[dict[str, Any]],
    ingest_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    default_split: str = "train",
) -> list[PairRecord]:
    """Write ``out_dir/{lq,hq}/<category>/<id>.png`` for each ingested record; skip existing pairs.

    Returns the pair records (also written to ``out_dir/pairs.jsonl``, a ``ggt pack`` input, with
    paths relative to ``out_dir``).
    """
    ingest_dir, out_dir = Path(ingest_dir), Path(out_dir)
    records = []
    for rec in ingested:
        category, pair_id = rec["category"], rec["id"]
        hq = out_dir / "hq" / category / f"{pair_id}.png"
        lq = out_dir / "lq" / category / f"{pair_id}.png"
        if not hq.exists():
            _link_or_copy(ingest_dir / rec["image"], hq)
        params_path = lq.with_suffix(".json")
        s = pair_seed(seed, pair_id)
        if not (lq.exists() and params_path.exists()):
            result = degrade(to_array(load_image(hq).image), category, seed=s)
            atomic_write_text(params_path, json.dumps(result.params, sort_keys=True))
            atomic_write_bytes(lq, encode_image(from_array(result.image), "png"))
        params = json.loads(params_path.read_text())
        records.append(
            PairRecord(
                id=pair_id,
                category=category,
                split=rec.get("split") or default_split,
                lq_path=str(lq),
                hq_path=str(hq),
                source=rec.get("source"),
                license=rec.get("license"),
                provenance=Provenance(
                    backend="synthetic",
                    model_id=f"ggt_hf.degrade:{params.get('name', category)}",
                    seed=s,
                    lq_transform=rec.get("transform"),
                    degradation=params,
                ),
            )
        )
    lines = "".join(json.dumps(_relative_to(r, out_dir).to_json(), sort_keys=True) + "\n" for r in records)
    atomic_write_text(out_dir / PAIRS_FILE, lines)
    return records
