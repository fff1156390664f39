"""One card renderer, one template per kind (dataset, model); the templates ship with the wheel."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from ggt_hf.hub.card_render import CARD_KINDS, card_template

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("kind", sorted(CARD_KINDS))
def test_each_kind_has_its_template_in_model_cards(kind):
    shipped = REPO / "ggt_hf" / "_templates" / CARD_KINDS[kind][1]
    assert filecmp.cmp(shipped, REPO / "model_cards" / CARD_KINDS[kind][1], shallow=False)
    assert card_template(kind) == shipped.read_text(encoding="utf-8")


def test_an_unknown_kind_is_named():
    with pytest.raises(ValueError, match="unknown card kind 'space'; expected one of dataset, model"):
        card_template("space")
