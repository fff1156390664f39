"""Progressive patch training: phases cut each micro-batch to their batch and crop, deterministically
per micro-batch index (so a resume cuts the same), and a real tiny run goes through the phases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ggt_hf.training.batching import BatchSplitError, resolve_phases
from ggt_hf.training.data.progressive import Phase, phase_index, progressive_batches

ROOT = Path(__file__).resolve().parents[2]
PHASES = [Phase(steps=2, crop_size=32, total_batch_size=4), Phase(steps=3, crop_size=48, total_batch_size=2)]


def _stream(start: int = 0):
    k = start
    while True:
        g = torch.Generator().manual_seed(k)
        lq = torch.rand(4, 3, 64, 64, generator=g)
        yield {"lq": lq, "hq": lq * 0.5, "id": [f"{k}-{i}" for i in range(4)], "source": ["ggt"] * 4}
        k += 1


def test_phases_split_over_the_launch_with_one_accumulation():
    assert resolve_phases(PHASES, world_size=1, max_per_process=4) == (1, [4, 2])
    assert resolve_phases(PHASES, world_size=1, max_per_process=2) == (2, [2, 1])
    assert resolve_phases(PHASES, world_size=2, max_per_process=2) == (1, [2, 1])
    with pytest.raises(BatchSplitError, match="cannot all be split over 4 processes"):
        resolve_phases(PHASES, world_size=4, max_per_process=8)
    assert [phase_index(PHASES, s) for s in range(7)] == [0, 0, 1, 1, 1, 1, 1]


def test_each_micro_batch_is_cut_to_its_phase_and_a_resume_cuts_the_same():
    accumulation, micros = resolve_phases(PHASES, world_size=1, max_per_process=2)
    cut = progressive_batches(_stream(), PHASES, micros, accumulation, seed=3)
    batches = [next(cut) for _ in range(10)]  # 5 steps × 2 micro-batches
    shapes = [tuple(b["lq"].shape) for b in batches]
    assert shapes == [(2, 3, 32, 32)] * 4 + [(1, 3, 48, 48)] * 6
    assert all(len(b["id"]) == b["lq"].shape[0] for b in batches)
    first = batches[0]
    assert torch.equal(first["hq"], first["lq"] * 0.5), "LQ and HQ share one window"
    resumed = progressive_batches(_stream(6), PHASES, micros, accumulation, start_micro=6, seed=3)
    again = next(resumed)
    assert torch.equal(again["lq"], batches[6]["lq"]) and again["id"] == batches[6]["id"]


@pytest.mark.slow
def test_a_tiny_progressive_run_goes_through_its_phases(make_pairs_dir, tmp_path):
    from ggt_hf.training.entry import train_restorer_main

    pairs = make_pairs_dir(6, size=96, nested=False, name="ggt")
    out = tmp_path / "run"
    phases = (
        "[{steps: 2, crop_size: 32, total_batch_size: 4}, {steps: 2, crop_size: 48, total_batch_size: 2}]"
    )
    args = [
        "--config",
        str(ROOT / "training/recipes/nafnet/tiny_cpu.yaml"),
        f"data.ggt=[{{path: '{pairs}', kind: pairs}}]",
        f"train.output_dir={out}",
        "train.log_with=null",
        "train.max_steps=4",
        "train.checkpointing_steps=0",
        f"data.progressive={phases}",
    ]
    assert train_restorer_main(args) == 0
    run = json.loads((out / "run_config.json").read_text())
    assert (
        run["data"]["batch_size"],
        run["data"]["crop_size"],
        run["train"]["gradient_accumulation_steps"],
    ) == (2, 48, 2)
    stats = json.loads((out / "data_stats" / "rank0.json").read_text())
    assert stats["samples"] == 2 * 2 * 2 + 2 * 2 * 1  # steps × accumulation × phase micro-batch
