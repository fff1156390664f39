"""Synthetic build run folders for the scale benchmarks: one real demo item, copied N times.

The seed item is built for real (the demo's offline config: classical backend, heuristic prompt
and judge, geometry checks) from one bundled photo degraded with ``ggt_hf.degrade`` (rain). Copies
get their own id, record, hard-linked LQ photo and hard-linked candidate images, so the folder has
the layout and file count of an N-item run without N builds (and the pack's check cache, keyed by
path, sees N distinct files). ``size`` makes the copies from a downscaled seed (e.g. 64² instead of
1024²) to measure per-item bookkeeping at 100K items without the 1024² decode time.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from ggt_hf.degrade import degrade
from ggt_hf.files.run_store import RunLayout, RunStore
from ggt_hf.pipeline.build import build
from ggt_hf.pipeline.demo import demo_config, sample_dir


def seed_run(work: Path) -> Path:
    """A real one-item build run (accepted by the automatic QC), built once per work folder."""
    run = work / "seed" / "build"
    if run.exists() and any(r.state == "accepted" for r in RunStore(run).records()):
        return run
    shutil.rmtree(work / "seed", ignore_errors=True)
    photos = work / "seed" / "photos"
    (photos / "rain").mkdir(parents=True)
    clean = np.asarray(Image.open(sample_dir() / "coffee.png").convert("RGB"))
    Image.fromarray(degrade(clean, "rain", seed=0).image).save(photos / "rain" / "seed.png")
    data = demo_config(work / "seed", photos).to_dict()
    data["sources"] = [{"path": str(photos), "license": "cc0-1.0"}]
    data["qc"]["metric_thresholds"] = {}
    build(type(demo_config(work, photos)).from_dict(data), progress=False)
    if not any(r.state == "accepted" for r in RunStore(run).records()):
        raise RuntimeError(f"the seed item was not accepted by QC; see {run}")
    return run


def _link(links: dict[Path, Path], image: Path, target: Path, root: Path) -> None:
    """Hard-link ``image`` to ``target``; past the file system's link limit, from a fresh copy."""
    source = links.setdefault(image, image)
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno != errno.EMLINK:
            raise
        copies = root / ".seed-copies"
        copies.mkdir(exist_ok=True)
        fresh = copies / f"{len(os.listdir(copies))}.png"
        shutil.copy2(image, fresh)
        links[image] = fresh
        os.link(fresh, target)


def _small_copy(image: Path, root: Path, size: int) -> Path:
    """``image`` downscaled to ``size``² (PNG), made once per run folder."""
    small = root / ".seed-small" / f"{image.stem}-{size}.png"
    if not small.exists():
        small.parent.mkdir(parents=True, exist_ok=True)
        Image.open(image).convert("RGB").resize((size, size), Image.Resampling.LANCZOS).save(small)
    return small


def make_run(seed: Path, out: Path, n: int, size: int | None = None, reviewed: bool = False) -> Path:
    """An ``n``-item run folder made of copies of the seed run's accepted item (cached by size;
    ``size`` downscales the images to ``size``²). ``reviewed`` turns human review on and records a
    decision for every item, as the paper's review of all accepted items does: accept, except
    every tenth item, rejected (so the ``negatives`` config gets rows too)."""
    layout = RunLayout(out)
    if layout.items_dir.is_dir() and len(os.listdir(layout.items_dir)) == n:
        return out
    shutil.rmtree(out, ignore_errors=True)
    source = next(r for r in RunStore(seed).records() if r.state == "accepted")
    store = RunStore(out, create=True)
    config = json.loads(RunLayout(seed).config_file.read_text())
    config["qc"]["human_review"] = reviewed
    layout.config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    seed_lq = RunLayout(seed).resolve(source.lq_path)
    images = {a.attempt: RunLayout(seed).resolve(a.image) for a in source.attempts if a.image}
    if size:
        seed_lq = _small_copy(seed_lq, out, size)
        images = {k: _small_copy(v, out, size) for k, v in images.items()}
    lq_dir = Path(source.lq_path).parent
    (layout.root / lq_dir).mkdir(parents=True, exist_ok=True)
    template, links = source.to_json(), {}
    for k in range(n):
        item_id = f"s{k:06d}"
        lq_path = (lq_dir / f"{item_id}{seed_lq.suffix}").as_posix()
        _link(links, seed_lq, layout.resolve(lq_path), layout.root)
        record = {**template, "id": item_id, "lq_path": lq_path}
        record["attempts"] = [
            {**a, "image": a["image"] and RunLayout.candidate(item_id, a["attempt"])}
            for a in template["attempts"]
        ]
        folder = layout.root / RunLayout.CANDIDATES_DIR / item_id
        folder.mkdir(parents=True)
        for attempt, image in images.items():
            _link(links, image, layout.resolve(RunLayout.candidate(item_id, attempt)), layout.root)
        # formatted exactly as RunStore.write formats a record (atomic_write_json)
        layout.item(item_id).write_text(
            json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        )
    if reviewed:
        with layout.review_file.open("w", encoding="utf-8") as fh:
            for k in range(n):
                rejected = k % 10 == 9
                row = {
                    "decision": "reject" if rejected else "accept",
                    "id": f"s{k:06d}",
                    "reason": "synthetic rejection" if rejected else None,
                    "reviewer": "bench",
                    "time": 0.0,
                }
                fh.write(json.dumps(row, sort_keys=True) + "\n")
    assert len(store.item_ids()) == n
    return out
