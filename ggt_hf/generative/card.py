"""Model cards of generative restorers (LoRA / ControlNet repos) through ``huggingface_hub.ModelCard``.

The template is ``model_cards/generative_card.md.j2``; its only variable part — how to load the
artifact into its pipeline — is per *artifact kind* (LoRA vs ControlNet), given by the task, not per
model; everything else is data (``ModelCardData`` front matter + a settings table).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

CARD_TEMPLATE = "generative_card.md.j2"


def render_generative_card(
    recipe,
    results: dict[str, float],
    *,
    kind: str,
    usage: str,
    backend_args: str,
    restore_model: str,
    extra: list[tuple[str, Any]] | None = None,
) -> str:
    """The README.md of a trained LoRA / ControlNet folder."""
    from huggingface_hub import ModelCard, ModelCardData

    from ggt_hf.generative.components import FAMILIES

    model, train, data = recipe.model, recipe.train, recipe.data
    model_id = train.hub_model_id or f"{model.family}-ggt-{kind.split()[0].lower()}"
    datasets = sorted(
        {s.path for s in [*data.ggt, *data.baseline] if "/" in s.path and not s.path.startswith((".", "/"))}
    )
    card_data = ModelCardData(
        library_name="diffusers",
        license="apache-2.0",
        pipeline_tag="image-to-image",
        base_model=model.pretrained if not model.pretrained.startswith((".", "/")) else None,
        tags=["ggt-hf", "image-restoration", "diffusers", kind.split()[0].lower(), model.family],
        datasets=datasets or None,
    )
    training: list[tuple[str, Any]] = [
        ("steps", train.max_steps),
        ("optimizer", f"AdamW lr {train.learning_rate}, wd {train.weight_decay}"),
        ("schedule", f"{train.lr_scheduler}, warm-up {train.warmup_steps}"),
        ("batch per process × accumulation", f"{data.batch_size} × {train.gradient_accumulation_steps}"),
        ("resolution (bucket area)", f"{data.resolution}²"),
        ("mixed precision", train.mixed_precision),
        ("flow matching", f"weighting {recipe.flow.weighting_scheme}, shift {recipe.flow.shift}"),
        (
            "prompt",
            data.prompt if data.prompt == "pair" else f"fixed: {data.fixed_prompt or 'ggt fixed prompt'}",
        ),
        ("GGT sources", ", ".join(s.path for s in data.ggt)),
        *(extra or []),
    ]
    if data.baseline:
        training.append(("baseline sources", ", ".join(s.path for s in data.baseline)))
        training.append(("mixing (batches)", f"GGT:baseline = {data.ratio:g}:1"))
    card = ModelCard.from_template(
        card_data,
        template_str=resources.files("ggt_hf")
        .joinpath("_templates", CARD_TEMPLATE)
        .read_text(encoding="utf-8"),
        model_id=model_id,
        kind=kind,
        base_model=model.pretrained,
        pipeline=FAMILIES[model.family],
        usage=usage,
        backend_args=backend_args,
        restore_model=restore_model,
        training=training,
        results=sorted(results.items()),
        step=train.max_steps,
    )
    return str(card)
