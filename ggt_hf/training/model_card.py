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

from dataclasses import dataclass, field
from typing import Any

from ggt_hf.constants import GGT100K_MIRROR_DIR, GGT100K_REPO_ID
from ggt_hf.hub.card_render import render_card_template
from ggt_hf.hub.locations import is_hub_id
from ggt_hf.metrics.specs import METRICS


@dataclass
class CardContent:
    """The per-artifact parts of a card.

    Attributes:
        model_id: repo id shown in the title (``train.hub_model_id`` or a default name).
        intro: the opening paragraph (markdown).
        usage: a Python snippet loading the artifact.
        usage_note: a line after the snippet (CLI / backend use).
        library_name, tags, base_model: ``ModelCardData`` fields.
        extra_training: kind-specific rows of the training table.
        citation: BibTeX of the architecture's paper (regression restorers).
    """

    model_id: str
    intro: str
    usage: str
    usage_note: str = ""
    library_name: str = "ggt-hf"
    tags: list[str] = field(default_factory=list)
    base_model: str | None = None
    extra_training: list[tuple[str, Any]] = field(default_factory=list)
    citation: str | None = None


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
    from huggingface_hub import ModelCardData

    card_data = ModelCardData(
        library_name=content.library_name,
        license="apache-2.0",
        pipeline_tag="image-to-image",
        base_model=content.base_model,
        tags=["ggt-hf", "image-restoration", *content.tags],
        datasets=hub_datasets(recipe),
        model_name=content.model_id,
        eval_results=eval_results(recipe, results, content.model_id) or None,
    )
    return render_card_template(
        "model",
        card_data,
        content=content,
        training=[*training_rows(recipe), *content.extra_training],
        results=sorted(results.items()),
        eval_dataset=f"`{dataset_id(recipe)}` ({recipe.validation.split})",
        eval_images=recipe.validation.max_images,
        step=recipe.train.max_steps,
    )


def restorer_card_content(recipe, num_parameters: int | None = None) -> CardContent:
    """:class:`CardContent` of a regression restorer (text from its registry entry)."""
    from ggt_hf.restorers import get_restorer_class

    card = get_restorer_class(recipe.model.name).card
    model_id = recipe.train.hub_model_id or f"{recipe.model.name}-ggt"
    mixing = (
        f" mixed with baseline data (GGT:baseline = {recipe.data.ratio:g}:1)" if recipe.data.baseline else ""
    )
    intro = (
        f"A **{card.title}** image restorer trained with [ggt-hf](https://github.com/ggt-hf/ggt-hf) on "
        f"Generative Ground Truth (GGT) pairs{mixing}.\n\n{card.description}\n\n"
        f"- Architecture: {card.title} — *{card.paper}* ([paper]({card.paper_url}), "
        f"[official code]({card.official_repo}))\n"
        f"- Parameters: {f'{num_parameters:,}' if num_parameters else 'n/a'}\n"
        f"- Official checkpoint layout: {card.checkpoint_layout}"
    )
    usage = (
        "from ggt_hf.restorers import load_restorer\n"
        "from ggt_hf.restorers.tiling import restore_image\n\n"
        f'model = load_restorer("{model_id}")          # safetensors only\n'
        'restored = restore_image(model, "photo.jpg", tile=512, overlap=32)'
    )
    return CardContent(
        model_id=model_id,
        intro=intro,
        usage=usage,
        usage_note=f"or from the command line: `ggt restore --model {model_id} photos/ restored/`.",
        tags=[recipe.model.name],
        extra_training=[("loss", recipe.loss.name), ("crop", recipe.data.crop_size)],
        citation=card.citation,
    )
