"""Question: how much does the real data path cost a training step?

Runs the real trainer (``ggt_hf.training.core.run_training`` + ``RestorerTask``) twice on the same
model and recipe: once fed by ``make_train_loader`` over a packed dataset of 1024² real-photo pairs
(lossless PNG, as GGT ships), once fed by synthetic tensors already in memory (the peer: zero data
cost). The step time is the interval between consecutive batch requests (forward + backward +
optimizer + data wait), median over the measured steps after a warm-up. Target: data overhead ≤ 10%.

    python benchmarks/bench_train_step.py [--model nafnet] [--steps 30] [--batch 4] [--crop 256]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import itertools

from _common import machine, write_section


class TimedStream:
    """Wraps a batch iterator and records when each batch is asked for."""

    def __init__(self, inner, stamps: list[float]) -> None:
        self.inner, self.stamps = iter(inner), stamps

    def __iter__(self):
        return self

    def __next__(self):
        self.stamps.append(time.perf_counter())
        return next(self.inner)


def synthetic(batch: int, crop: int):
    g = torch.Generator().manual_seed(0)
    item = {
        "lq": torch.rand(batch, 3, crop, crop, generator=g),
        "hq": torch.rand(batch, 3, crop, crop, generator=g),
    }
    while True:
        yield item


def step_times(recipe, loader_factory, warmup: int) -> list[float]:
    from ggt_hf.training.core import run_training
    from ggt_hf.training.restorer_task import RestorerTask

    stamps: list[float] = []
    run_training(recipe.train, RestorerTask(recipe), lambda start: TimedStream(loader_factory(start), stamps))
    diffs = [b - a for a, b in itertools.pairwise(stamps)]
    return diffs[warmup:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nafnet")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--pairs", type=int, default=24)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from bench_loader import make_packed_dataset  # the loader benchmark's data: 1024² real-photo pairs

    from ggt_hf.files.yaml_config import from_dict
    from ggt_hf.training.data import DataConfig, SourceSpec, make_train_loader
    from ggt_hf.training.restorer_task import RestorerRecipe

    with tempfile.TemporaryDirectory() as tmp:
        packed = make_packed_dataset(Path(tmp) / "packed", args.pairs)
        data = DataConfig(
            ggt=[SourceSpec(path=str(packed))],
            crop_size=args.crop,
            batch_size=args.batch,
            num_workers=args.workers,
        )
        results = {}
        for name in ("synthetic", "real"):
            recipe = from_dict(
                RestorerRecipe,
                {
                    "model": {"name": args.model},
                    "loss": {"name": "psnr"},
                    "train": {
                        "output_dir": str(Path(tmp) / name),
                        "max_steps": args.steps + args.warmup + 1,
                        "checkpointing_steps": 0,
                        "log_with": None,
                        "logging_steps": 1000,
                    },
                },
            )
            recipe.data = data
            if name == "real":
                factory = lambda start: make_train_loader(data, start_sample=start * data.batch_size)  # noqa: E731
            else:
                factory = lambda start: synthetic(args.batch, args.crop)  # noqa: E731
            results[name] = statistics.median(step_times(recipe, factory, args.warmup))
            print(f"{name}: {results[name]:.3f} s/step")
    overhead = results["real"] / results["synthetic"] - 1
    command = "python benchmarks/bench_train_step.py " + " ".join(sys.argv[1:])
    section = (
        "## bench_train_step: data overhead of a training step\n\n"
        f"`{command.strip()}`  \nMachine: {machine(('torch', 'accelerate'))}\n\n"
        f"{args.model} (default config), batch {args.batch} x {args.crop}², {args.workers} loader workers, "
        f"median of {args.steps} steps after {args.warmup} warm-up, device {torch.device('cuda' if torch.cuda.is_available() else 'cpu')}.\n\n"
        "| feed | s/step |\n|---|---:|\n"
        f"| synthetic tensors in memory (peer) | {results['synthetic']:.3f} |\n"
        f"| packed 1024² PNG pairs via make_train_loader | {results['real']:.3f} |\n\n"
        f"Data overhead: **{overhead * 100:+.1f}%** (target ≤ +10%).\n\n"
        "A CPU step is long; on a GPU the step is far shorter and 1 crop per decode may not keep up\n"
        "(see bench_loader): raise `data.crops_per_decode`, use `data.cache_dir` or more `num_workers`,\n"
        "and re-run this script there unchanged.\n"
    )
    write_section("bench_train_step: data overhead of a training step", section)
    print(section)


if __name__ == "__main__":
    main()
