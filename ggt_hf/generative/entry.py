"""The one ``main`` behind ``training/train_edit_lora.py`` and ``training/train_controlnet_flux.py``:
recipe + ``section.key=value`` overrides → task, bucketed loader, :func:`~ggt_hf.training.core.run_training`."""

from __future__ import annotations

import logging
from pathlib import Path


def make_loader_factory(recipe, task, accelerator):
    """``loader_factory(micro_done)`` for :func:`run_training`: the bucketed pairs of this process from
    batch ``micro_done`` on; the first call (after ``task.setup``) also runs ``cache.precompute``."""
    from ggt_hf.generative.data import BucketedPairs, make_bucket_loader

    bucket_file = Path(recipe.cache.folder) / "buckets.json" if recipe.cache.folder else None

    def loader_factory(micro_done: int):
        # called by run_training after task.setup: bucket sides follow the loaded pipeline's VAE
        dataset = BucketedPairs(
            recipe.data,
            task.pipe.vae_scale_factor * 2,
            rank=accelerator.process_index,
            world_size=accelerator.num_processes,
            bucket_file=bucket_file,
        )
        if recipe.cache.precompute:
            task.precompute(dataset, accelerator)
        return make_bucket_loader(dataset, micro_done)

    return loader_factory


def train_generative_main(task_name: str, argv: list[str] | None = None) -> int:
    """Run one generative training (``task_name``: ``edit_lora`` or ``controlnet_flux``)."""
    from ggt_hf.generative.task_base import GenerativeRecipe
    from ggt_hf.training.core import make_accelerator, run_training
    from ggt_hf.training.entry import parse_recipe_args

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if task_name == "edit_lora":
        from ggt_hf.generative.edit_lora import EditLoraTask as task_cls

        about = "LoRA fine-tuning of Qwen-Image-Edit(-Plus) / FLUX.1 Kontext on GGT pairs."
    elif task_name == "controlnet_flux":
        from ggt_hf.generative.controlnet_flux import ControlNetFluxTask as task_cls

        about = "FLUX ControlNet training on GGT pairs (LQ photo as the control image)."
    else:
        raise ValueError(f"unknown generative task {task_name!r}")
    config, overrides = parse_recipe_args(argv, about)
    recipe = GenerativeRecipe.from_yaml(config, overrides)
    accelerator = make_accelerator(recipe.train, recipe.data)
    task = task_cls(recipe)
    loader_factory = make_loader_factory(recipe, task, accelerator)
    final = run_training(
        recipe.train, task, loader_factory, run_config=recipe.to_dict(), accelerator=accelerator
    )
    logging.getLogger(__name__).info("final model: %s", final)
    if accelerator.is_main_process:
        print(f"final model: {final}")
    return 0
