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
