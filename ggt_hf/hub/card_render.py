"""The one renderer of every card ggt writes, one Jinja template per kind.

* ``dataset`` — the dataset card of a packed folder (its context: :func:`ggt_hf.hub.card.render_card`);
* ``model`` — the model card of a trained restorer of any kind (its context:
  :func:`ggt_hf.training.model_card.render_model_card`; what differs between a regression restorer
  and a generative one is data, :func:`ggt_hf.training.model_card.restorer_card_content` and
  :func:`ggt_hf.generative.card.generative_card_content`, never a branch in the template).

Templates live in ``model_cards/`` (shipped in the wheel as ``ggt_hf/_templates``) and are rendered
by ``huggingface_hub``'s own ``DatasetCard``/``ModelCard.from_template``, so the YAML front matter
is the Hub's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Any

#: card kind → (``huggingface_hub`` card class, template file under ``ggt_hf/_templates``)
CARD_KINDS: dict[str, tuple[str, str]] = {
    "dataset": ("DatasetCard", "dataset_card.md.j2"),
    "model": ("ModelCard", "model_card.md.j2"),
}


def card_template(kind: str) -> str:
    """The Jinja text of the template of card ``kind``; ``ValueError`` naming the kinds otherwise."""
    if kind not in CARD_KINDS:
        raise ValueError(f"unknown card kind {kind!r}; expected one of {', '.join(CARD_KINDS)}")
    return resources.files("ggt_hf").joinpath("_templates", CARD_KINDS[kind][1]).read_text(encoding="utf-8")


def render_card_template(kind: str, card_data: Any, **context: Any) -> str:
    """The README.md text of a card of ``kind``: ``card_data`` (a ``DatasetCardData`` or
    ``ModelCardData``) as front matter, the kind's template filled with ``context``."""
    import huggingface_hub

    template = card_template(kind)
    card_class = getattr(huggingface_hub, CARD_KINDS[kind][0])
    return str(card_class.from_template(card_data, template_str=template, **context))


@dataclass
class CardContent:
    """The per-artifact parts of a model card (the ``model`` kind).

    Attributes:
        model_id: where the model is, as its card's snippets load it: the Hub repo id once pushed,
            else the local folder it was written to (:func:`card_model_id`).
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


def card_model_id(folder: Any, hub_model_id: str | None = None, pushed: bool = False) -> str:
    """The name a model card gives its model: the Hub repo id when the folder is pushed there
    (``pushed`` and a ``hub_model_id``), else the local folder it was written to — so the card's
    ``load_restorer(...)`` / ``ggt restore --model ...`` load this model, not a Hub repo."""
    return hub_model_id if pushed and hub_model_id else str(folder)


def render_model_card_text(
    content: CardContent,
    *,
    datasets: list[str] | None = None,
    eval_results: list | None = None,
    training: list[tuple[str, Any]] | None = None,
    **context: Any,
) -> str:
    """The README.md of a model folder: ``content`` with the Hub front matter; ``training`` rows and
    the evaluation context (``results``, ``eval_dataset``, ...) are left out when not given (a
    converted official checkpoint has neither)."""
    from huggingface_hub import ModelCardData

    card_data = ModelCardData(
        library_name=content.library_name,
        license="apache-2.0",
        pipeline_tag="image-to-image",
        base_model=content.base_model,
        tags=["ggt-hf", "image-restoration", *content.tags],
        datasets=datasets,
        model_name=content.model_id,
        eval_results=eval_results or None,
    )
    rows = [*(training or []), *content.extra_training]
    return render_card_template("model", card_data, content=content, training=rows, **context)
