"""``ggt bench-mfm``: compare restoration systems the way GGT-100K's Table 1 does.

A *system* is any callable ``restore(image, prompt) -> image`` under a name (an MFM backend with a
prompt strategy, a restorer, or a baseline). For every system:

* **fidelity**: clean images (DIV2K-Val style, user supplied) are degraded with
  :func:`ggt_hf.degrade.degrade` (seeded, category chosen per image), restored, and scored with the
  FR metrics against the clean image;
* **perceptual**: real LQ images are restored and scored with the NR metrics;
* **VLM-R**: a judge decides success on (real LQ, output);
* optional **human preference** votes (CSV ``system_a,system_b,winner`` with winner one of the two
  names, ``tie`` or ``both_bad``) give a win rate, reported beside the composite (as in the paper).

The composite is :func:`ggt_hf.evaluation.composite.composite` over the systems. Outputs are
cached under ``out/outputs/<system>/`` so an interrupted benchmark resumes, and the Table-1 table
(Markdown, CSV, JSON) and plots (radar per system, bar chart of Avg.) are written to ``out``.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from ggt_hf.constants import CATEGORIES, SHARE_FORMAT
from ggt_hf.degrade import degrade
from ggt_hf.degrade.synthetic_pairs import pair_seed
from ggt_hf.files.io_utils import atomic_write_bytes, atomic_write_json, atomic_write_text
from ggt_hf.files.walk import image_files
from ggt_hf.imaging.images import encode_image, load_image
from ggt_hf.metrics.specs import MetricSpec, paper_metrics
from ggt_hf.prompts.strategies import FIXED_STRATEGIES, fixed_prompt
from ggt_hf.restore.restorer import Restore
from ggt_hf.runtime.parallel import progress_disabled

logger = logging.getLogger(__name__)

#: Prompt strategies that need no VLM, with their text (see :mod:`ggt_hf.prompts.strategies`).
PROMPT_STRATEGIES: dict[str, str | None] = {name: fixed_prompt(name) for name in FIXED_STRATEGIES}


@dataclass
class System:
    """A named restoration system and the prompt it is given."""

    name: str
    restore: Restore
    prompt: Any = None  # fixed text, None, or a ggt_hf.prompts.strategies.PromptStrategy (adaptive)


def _images(folder: str | os.PathLike | None) -> list[Path]:
    if folder is None:
        return []
    paths = image_files(folder)  # a link loop or one leaving the folder, a non-UTF-8 name: skipped, named
    if not paths:
        raise FileNotFoundError(f"no images in {folder}")
    return paths


@dataclass
class BenchConfig:
    """What to measure and where to write it."""

    clean_dir: str | None = None
    real_dir: str | None = None
    out: str = "bench_mfm"
    fidelity_metrics: list[MetricSpec] = field(default_factory=lambda: paper_metrics("FR"))
    perceptual_metrics: list[MetricSpec] = field(default_factory=lambda: paper_metrics("NR"))
    categories: tuple[str, ...] = CATEGORIES
    max_side: int = 1024
    seed: int = 0
    votes: str | None = None
    human: str | None = None  # best-of-N study shares (ggt leaderboard votes --share --out)
    device: str | None = None


def safe_name(name: str) -> str:
    """A system name or image key as a file/folder name (``out/outputs/<system>/real/<key>.png``)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _restore_cached(system: System, key: str, lq: Image.Image, folder: Path) -> np.ndarray:
    path = folder / f"{safe_name(key)}.png"
    if path.exists():
        return np.asarray(load_image(path).image)
    prompt = system.prompt
    if prompt is not None and not isinstance(prompt, str):  # a PromptStrategy: per-image prompt
        prompt = prompt.prompt(lq, item_id=key).prompt
    out = system.restore(lq, prompt)
    if not isinstance(out, Image.Image):
        raise TypeError(f"system {system.name!r} returned {type(out).__name__}, expected a PIL image")
    out = out.convert("RGB")
    if out.size != lq.size:  # MFMs may change the size; metrics need the input geometry
        logger.info("%s: output %s resized to input %s for %s", system.name, out.size, lq.size, key)
        out = out.resize(lq.size, Image.Resampling.LANCZOS)
    atomic_write_bytes(path, encode_image(out))
    return np.asarray(out)


def _load_small(path: Path, max_side: int) -> Image.Image:
    img = load_image(path).image
    img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return img


def _mean_scores(engine, items) -> dict[str, float]:
    totals: dict[str, list[float]] = {}
    for _, scores in engine.score_pairs(items, progress=False):
        for name, value in scores.items():
            totals.setdefault(name, []).append(value)
    return {k: float(np.mean(v)) for k, v in totals.items()}


def run_bench(
    systems: list[System], config: BenchConfig, *, judge=None, progress: bool | None = None
) -> dict[str, Any]:
    """Measure every system; returns ``{"raw": system → metric → value, "skipped": ..., ...}``."""
    from ggt_hf.evaluation.vlm_r import vlm_success_rate
    from ggt_hf.metrics.engine import MetricEngine, PairItem

    out = Path(config.out)
    clean, real = _images(config.clean_dir), _images(config.real_dir)
    names = [s.name for s in systems]
    human = human_win_rates(config.votes, names) if config.votes else {}
    share = _human_share(config.human, names) if config.human else {}
    # only the groups the given images can measure: --real alone has no fidelity, --clean alone no NR
    fid = MetricEngine(config.fidelity_metrics if clean else [], device=config.device)
    per = MetricEngine(config.perceptual_metrics if real else [], device=config.device)
    skipped = {**fid.drop_unavailable(), **per.drop_unavailable()}
    degraded = []  # (key, lq, clean) computed once, shared by all systems
    for i, path in enumerate(clean):
        img = _load_small(path, config.max_side)
        category = config.categories[i % len(config.categories)]
        lq = degrade(np.asarray(img), category, seed=pair_seed(config.seed, path.stem)).image
        degraded.append((f"{path.stem}-{category}", Image.fromarray(lq), img))
    reals = [(p.stem, _load_small(p, config.max_side)) for p in real]
    raw: dict[str, dict[str, float]] = {}
    bar = tqdm(
        total=len(systems) * (len(degraded) + len(reals)),
        desc="bench-mfm",
        unit="img",
        disable=progress_disabled(progress),
    )
    for system in systems:
        folder = out / "outputs" / safe_name(system.name)
        scores: dict[str, float] = {}
        fid_items, real_outputs = [], []
        for key, lq, ref in degraded:
            fid_items.append(
                PairItem(key, _restore_cached(system, key, lq, folder / "fidelity"), np.asarray(ref))
            )
            bar.update(1)
        for key, lq in reals:
            real_outputs.append((key, lq, _restore_cached(system, key, lq, folder / "real")))
            bar.update(1)
        if fid_items and fid.specs:
            scores.update(_mean_scores(fid, fid_items))
        if real_outputs and per.specs:
            scores.update(_mean_scores(per, [PairItem(k, o) for k, _, o in real_outputs]))
        if real_outputs and judge is not None:
            result = vlm_success_rate(judge, [(k, lq, Image.fromarray(o)) for k, lq, o in real_outputs])
            scores["vlm_r"] = result.rate
        raw[system.name] = scores
    bar.close()
    return {
        "raw": raw,
        "skipped": skipped,
        "human_win_rate": human,
        "human_share": share,
        "n_fidelity": len(degraded),
        "n_real": len(reals),
    }


def read_shares(path: str | Path) -> dict[str, float]:
    """System → share from a ``ggt leaderboard votes --share --out`` file."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("format") != SHARE_FORMAT:
        raise ValueError(
            f"{path}: not a human-share file (write one with `ggt leaderboard votes --share --out`)"
        )
    return {name: float(row["share"]) for name, row in data["shares"].items()}


def _human_share(path: str | os.PathLike, systems: list[str]) -> dict[str, float]:
    """The study shares of ``systems`` (names as in the study's output folders)."""
    shares = read_shares(path)
    # a study over bench-mfm's own outputs names systems by their output folders
    folders = {safe_name(s): s for s in systems}
    shares = {folders.get(k, k) if k not in systems else k: v for k, v in shares.items()}
    unknown = sorted(set(shares) - set(systems))
    if unknown:
        logger.warning("%s: shares of systems not benchmarked ignored: %s", path, ", ".join(unknown))
    if not set(shares) & set(systems):
        raise ValueError(
            f"{path}: no benchmarked system has a share (study systems: {', '.join(sorted(shares))}; "
            f"benchmarked: {', '.join(systems)}); name the systems like the study's folders with =NAME"
        )
    return {s: shares[s] for s in systems if s in shares}


def human_win_rates(votes_csv: str | os.PathLike, systems: list[str]) -> dict[str, float]:
    """Win rate per system from pairwise votes (ties count half; both-bad counts for neither)."""
    wins = dict.fromkeys(systems, 0.0)
    games = dict.fromkeys(systems, 0)
    with open(votes_csv, newline="", encoding="utf-8") as fh:
        for number, row in enumerate(csv.DictReader(fh), start=2):
            a, b, winner = row.get("system_a"), row.get("system_b"), (row.get("winner") or "").strip()
            if a not in wins or b not in wins or winner not in {a, b, "tie", "both_bad"}:
                raise ValueError(f"{votes_csv}:{number}: bad vote {row} (systems: {', '.join(systems)})")
            games[a] += 1
            games[b] += 1
            if winner == "tie":
                wins[a] += 0.5
                wins[b] += 0.5
            elif winner != "both_bad":
                wins[winner] += 1
    return {s: wins[s] / games[s] for s in systems if games[s]}


def write_report(result: dict[str, Any], out: str | os.PathLike, *, plots: bool = True) -> dict[str, Path]:
    """Composite, Table-1 Markdown/CSV/JSON and plots into ``out``; returns the written paths."""
    from ggt_hf.evaluation.composite import composite
    from ggt_hf.evaluation.tables import markdown_table, to_json, write_csv

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    comp = composite(result["raw"])
    paths = {"markdown": out / "table1.md", "csv": out / "table1.csv", "json": out / "table1.json"}
    share = result.get("human_share") or {}
    extra = {"Human": {k: f"{v:.1%}" for k, v in share.items()}} if share else None
    text = markdown_table(comp, sort=True, title="MFM benchmark (GGT-100K Table 1 protocol)", extra=extra)
    if result.get("human_win_rate"):
        text += "\n\nHuman preference win rate: " + ", ".join(
            f"{k}: {v:.1%}" for k, v in result["human_win_rate"].items()
        )
    if result.get("skipped"):
        text += "\n\nSkipped metrics (weights missing): " + "; ".join(
            f"{k}: {v}" for k, v in result["skipped"].items()
        )
    atomic_write_text(paths["markdown"], text + "\n")
    write_csv(comp, paths["csv"])
    atomic_write_json(paths["json"], {**to_json(comp), **{k: v for k, v in result.items() if k != "raw"}})
    if plots:
        from ggt_hf.evaluation.plots import avg_bar_chart, radar_chart

        paths["radar"] = radar_chart(comp, out / "radar.png")
        paths["bar"] = avg_bar_chart(comp, out / "avg.png")
    return paths
