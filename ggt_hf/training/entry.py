"""What the short ``training/*.py`` entry scripts share: recipe + ``key=value`` overrides on the
command line, and the restorer run."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path


def parse_recipe_args(argv: list[str] | None, description: str) -> tuple[Path, list[str]]:
    """``--config RECIPE.yaml`` plus overrides given as ``section.key=value`` (or ``--section.key=value``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", required=True, type=Path, help="recipe YAML (training/recipes/...)")
    parser.add_argument("overrides", nargs="*", help="section.key=value overrides, e.g. train.max_steps=10")
    parser.add_argument(
        "--push_to_hub", action="store_true", help="upload the final folder (train.push_to_hub)"
    )
    parser.add_argument(
        "--hub_model_id", help="model repo to push to, e.g. you/nafnet-ggt (train.hub_model_id)"
    )
    parser.add_argument(
        "--resume_from_checkpoint", help='"latest" or a checkpoint folder (train.resume_from_checkpoint)'
    )
    parser.add_argument("--output_dir", help="run folder (train.output_dir)")
    args, unknown = parser.parse_known_args(argv)
    flags = [
        f"train.{name}={value}"
        for name in ("hub_model_id", "resume_from_checkpoint", "output_dir")
        if (value := getattr(args, name)) is not None
    ]
    if args.push_to_hub:
        flags.append("train.push_to_hub=true")
    extra = [u for u in unknown if "=" in u]
    bad = [u for u in unknown if "=" not in u]
    if bad:
        parser.error(f"unrecognised arguments: {' '.join(bad)} (overrides look like section.key=value)")
    return args.config, [*args.overrides, *extra, *flags]


def train_restorer_main(argv: list[str] | None = None) -> int:
    """``accelerate launch training/train_restorer.py --config ... [overrides]``."""
    from ggt_hf.training.core import run_training
    from ggt_hf.training.data import make_train_loader
    from ggt_hf.training.restorer_task import RestorerRecipe, RestorerTask

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config, overrides = parse_recipe_args(
        argv, "Train a ggt-hf restorer on GGT pairs (1:1 mixing by default)."
    )
    recipe = RestorerRecipe.from_yaml(config, overrides)
    from ggt_hf.training.core import make_accelerator

    accelerator = make_accelerator(recipe.train, recipe.data)
    rank, world = accelerator.process_index, accelerator.num_processes
    data = recipe.data

    def loader_factory(micro_done: int):
        loader = make_train_loader(
            data, rank=rank, world_size=world, start_sample=micro_done * data.batch_size
        )
        if not data.progressive:
            return loader
        from ggt_hf.training.batching import resolve_phases
        from ggt_hf.training.data.progressive import progressive_batches

        accumulation, micros = resolve_phases(data.progressive, world, data.batch_size)
        return progressive_batches(loader, data.progressive, micros, accumulation, micro_done, data.seed)

    final = run_training(
        recipe.train,
        RestorerTask(recipe),
        loader_factory,
        run_config=recipe.to_dict(),
        accelerator=accelerator,
    )
    if accelerator.is_main_process:
        print(f"final model: {final}")
    return 0
