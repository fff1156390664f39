"""Model-card content of generative restorers (LoRA adapters, ControlNets): the per-kind parts of
:func:`ggt_hf.training.model_card.render_model_card`, the one renderer every trained restorer uses."""

from __future__ import annotations

from typing import Any

from ggt_hf.training.model_card import CardContent


def generative_card_content(
    recipe,
    *,
    model_id: str,
    kind: str,
    usage: str,
    backend_args: str,
    restore_model: str,
    extra: list[tuple[str, Any]] | None = None,
) -> CardContent:
    """:class:`CardContent` of a ``kind`` artifact ("LoRA adapter", "ControlNet") of ``recipe``'s base,
    found at ``model_id`` (:func:`ggt_hf.training.model_card.trained_model_id`)."""
    from ggt_hf.generative.components import FAMILIES

    model, data, flow = recipe.model, recipe.data, recipe.flow
    short = kind.split()[0].lower()
    intro = (
        f"A **generative restorer**: {kind} for `{model.pretrained}` ({FAMILIES[model.family]}) fine-tuned "
        "with ggt-hf on Generative-Ground-Truth pairs — the low-quality photo is the conditioning image, "
        "the GGT high-quality image the target."
    )
    note = (
        "or through ggt-hf's `diffusers` backend (synthesis pipeline, Space, restorations scored with "
        f'`ggt eval`): `DiffusersBackend("{model.pretrained}", {backend_args})`, or from the command '
        f"line: `ggt restore --model {restore_model} photos/ restored/`."
    )
    prompt = data.prompt if data.prompt == "pair" else f"fixed: {data.fixed_prompt or 'ggt fixed prompt'}"
    rows: list[tuple[str, Any]] = [
        ("resolution (bucket area)", f"{data.resolution}²"),
        ("flow matching", f"weighting {flow.weighting_scheme}, shift {flow.shift}"),
        ("prompt", prompt),
        *(extra or []),
    ]
    return CardContent(
        model_id=model_id,
        intro=intro,
        usage=usage,
        usage_note=note,
        library_name="diffusers",
        tags=["diffusers", short, model.family],
        base_model=model.pretrained if not model.pretrained.startswith((".", "/")) else None,
        extra_training=rows,
    )
