"""The one model-card renderer of every trained restorer — regression (NAFNet, SwinIR, …) and
generative (LoRA adapters, ControlNets) alike.

The ``model`` kind of :mod:`ggt_hf.hub.card_render` (``model_cards/model_card.md.j2``): front matter from
``ModelCardData`` with the validation scores as ``model-index`` eval results (so the Hub shows them
and leaderboards can read them), the datasets the run trained on, a training table built from the
recipe (the same rows for every kind, plus the kind's own), and the evaluation table. What differs
per artifact — the introduction, how to load it, extra training rows — is data in a
:class:`CardContent` the task gives (per-model text comes from the restorer's registry entry), never
a branch in the template.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ggt_hf.constants import GGT100K_MIRROR_DIR, GGT100K_REPO_ID, TRAINING_FINAL_DIR
from ggt_hf.hub.card_render import CardContent, card_model_id, render_model_card_text
from ggt_hf.hub.locations import is_hub_id
from ggt_hf.metrics.specs import METRICS


def _as_hub_dataset(path: str) -> str:
    """The local GGT-100K mirror folder stands for the official release it was packed from."""
    return GGT100K_REPO_ID if path.rstrip("/") == GGT100K_MIRROR_DIR else path


def dataset_id(recipe) -> str:
    """The dataset the scores were measured on: the validation set, else the first GGT source."""
    path = recipe.validation.path or (recipe.data.ggt[0].path if recipe.data.ggt else "unknown")
    return _as_hub_dataset(path)


def hub_datasets(recipe) -> list[str] | None:
    """Hub dataset ids among the recipe's GGT and baseline sources (local paths left out)."""
    found = {_as_hub_dataset(s.path) for s in [*recipe.data.ggt, *recipe.data.baseline]}
    return sorted(p for p in found if is_hub_id(p)) or None


def eval_results(recipe, results: dict[str, float], model_name: str) -> list:
    """``EvalResult`` entries (model-index) for the metrics of ``results`` that are in the specs table."""
    from huggingface_hub import EvalResult

    dataset = dataset_id(recipe)
    out = []
    for name, value in results.items():
        spec = METRICS.get(name)
        if spec is None:
            continue
        out.append(
            EvalResult(
                task_type="image-to-image",
                task_name="Image Restoration",
                dataset_type=dataset,
                dataset_name=dataset,
                dataset_config=getattr(recipe.validation, "config", None),
                dataset_split=recipe.validation.split,
                metric_type=name,
                metric_name=spec.title,
                metric_value=round(float(value), 6),
            )
        )
    return out


def training_rows(recipe) -> list[tuple[str, Any]]:
    """The training-table rows every card shows, from the recipe's ``train`` and ``data`` sections."""
    train, data = recipe.train, recipe.data
    batch = f"{data.batch_size} per process × {train.gradient_accumulation_steps} accumulation"
    if train.total_batch_size:
        batch = f"total {train.total_batch_size} ({batch})"
    schedule = f"{train.lr_scheduler}, warm-up {train.warmup_steps}"
    rows: list[tuple[str, Any]] = [
        ("steps", train.max_steps),
        ("batch", batch),
        ("optimizer", f"AdamW lr {train.learning_rate}, betas {tuple(train.betas)}, wd {train.weight_decay}"),
        ("schedule", schedule),
        ("gradient clipping", train.max_grad_norm or "off"),
        ("EMA", train.ema_decay or "off"),
        ("precision", "fp32" if train.mixed_precision == "no" else train.mixed_precision),
        ("GGT sources", ", ".join(s.path for s in data.ggt)),
    ]
    if data.baseline:
        rows.append(("baseline sources", ", ".join(s.path for s in data.baseline)))
        rows.append(("mixing (samples)", f"GGT:baseline = {data.ratio:g}:1"))
    return rows


def render_model_card(recipe, results: dict[str, float], content: CardContent) -> str:
    """The README.md of a trained restorer folder (any kind; see the module docstring)."""
    return render_model_card_text(
        content,
        datasets=hub_datasets(recipe),
        eval_results=eval_results(recipe, results, content.model_id),
        training=training_rows(recipe),
        results=sorted(results.items()),
        eval_dataset=f"`{dataset_id(recipe)}` ({recipe.validation.split})",
        eval_images=recipe.validation.max_images,
        step=recipe.train.max_steps,
    )


def trained_model_id(recipe, out_dir) -> str:
    """The card's name of a model trained by ``recipe`` into ``out_dir``: the Hub id when the run
    pushes it (``train.push_to_hub``), else the folder (:func:`ggt_hf.hub.card_render.card_model_id`)."""
    return card_model_id(out_dir, recipe.train.hub_model_id, pushed=recipe.train.push_to_hub)


def restorer_card_content(recipe, num_parameters: int | None = None, out_dir=None) -> CardContent:
    """:class:`CardContent` of a regression restorer trained into ``out_dir`` (text from its
    registry entry, :func:`ggt_hf.hub.restorer_card.restorer_card_content`)."""
    from ggt_hf.hub.restorer_card import restorer_card_content as registry_content

    mixing = (
        f" mixed with baseline data (GGT:baseline = {recipe.data.ratio:g}:1)" if recipe.data.baseline else ""
    )
    content = registry_content(
        recipe.model.name,
        trained_model_id(recipe, out_dir or Path(recipe.train.output_dir) / TRAINING_FINAL_DIR),
        num_parameters,
        origin=f"trained with [ggt-hf](https://github.com/ggt-hf/ggt-hf) on Generative Ground Truth (GGT) pairs{mixing}",
    )
    content.extra_training = [("loss", recipe.loss.name), ("crop", recipe.data.crop_size)]
    return content
