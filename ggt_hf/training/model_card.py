"""Model cards for trained restorers: ``huggingface_hub.ModelCard.from_template`` over
``model_cards/restorer_card.md.j2``, with the validation scores as ``model-index`` eval results (so
the Hub shows them and leaderboards can read them). Per-model text comes from the restorer class's
``card`` (its registry entry), never from branches in the template."""

from __future__ import annotations

from importlib import resources
from typing import Any

from ggt_hf.metrics.specs import METRICS

CARD_TEMPLATE = "restorer_card.md.j2"


def _dataset_id(recipe) -> str:
    return recipe.validation.path or (recipe.data.ggt[0].path if recipe.data.ggt else "unknown")


def eval_results(recipe, results: dict[str, float], model_name: str) -> list:
    """``EvalResult`` entries (model-index) for the metrics of ``results`` that are in the specs table."""
    from huggingface_hub import EvalResult

    dataset = _dataset_id(recipe)
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
                dataset_config=recipe.validation.config,
                dataset_split=recipe.validation.split,
                metric_type=name,
                metric_name=spec.title,
                metric_value=round(float(value), 6),
            )
        )
    return out


def render_restorer_card(recipe, results: dict[str, float], *, num_parameters: int | None = None) -> str:
    """The README.md of a trained restorer folder."""
    from huggingface_hub import ModelCard, ModelCardData

    from ggt_hf.restorers import get_restorer_class

    cls = get_restorer_class(recipe.model.name)
    model_id = recipe.train.hub_model_id or f"{recipe.model.name}-ggt"
    datasets = sorted(
        {
            s.path
            for s in [*recipe.data.ggt, *recipe.data.baseline]
            if "/" in s.path and not s.path.startswith((".", "/"))
        }
    )
    card_data = ModelCardData(
        library_name="ggt-hf",
        license="apache-2.0",
        pipeline_tag="image-to-image",
        tags=["ggt-hf", "image-restoration", recipe.model.name],
        datasets=datasets or None,
        model_name=model_id,
        eval_results=eval_results(recipe, results, model_id) or None,
    )
    train = recipe.train
    training: list[tuple[str, Any]] = [
        ("loss", recipe.loss.name),
        ("crop / batch per process", f"{recipe.data.crop_size} / {recipe.data.batch_size}"),
        ("steps", train.max_steps),
        ("optimizer", f"AdamW lr {train.learning_rate}, betas {tuple(train.betas)}, wd {train.weight_decay}"),
        ("schedule", f"{train.lr_scheduler}, warm-up {train.warmup_steps}, min lr {train.min_lr}"),
        ("EMA", train.ema_decay or "off"),
        ("mixed precision", train.mixed_precision),
        ("GGT sources", ", ".join(s.path for s in recipe.data.ggt)),
    ]
    mixing = None
    if recipe.data.baseline:
        training.append(("baseline sources", ", ".join(s.path for s in recipe.data.baseline)))
        mixing = f"GGT:baseline = {recipe.data.ratio:g}:1"
    template = resources.files("ggt_hf").joinpath("_templates", CARD_TEMPLATE).read_text(encoding="utf-8")
    card = ModelCard.from_template(
        card_data,
        template_str=template,
        model_id=model_id,
        card=cls.card,
        mixing=mixing,
        num_parameters=f"{num_parameters:,}" if num_parameters else "n/a",
        training=training,
        results=sorted(results.items()),
        eval_dataset=f"`{_dataset_id(recipe)}` ({recipe.validation.split})",
        eval_images=recipe.validation.max_images,
        step=train.max_steps,
    )
    return str(card)
