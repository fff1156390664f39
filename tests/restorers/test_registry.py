"""The restorer registry as a whole: every entry follows the conventions and errors name the item."""

from __future__ import annotations

import json
from dataclasses import asdict, fields

import pytest

from ggt_hf.restorers import (
    RESTORERS,
    UnknownRestorerError,
    build_restorer,
    get_restorer_class,
    list_restorers,
    load_restorer,
)


def test_list_is_sorted_and_has_every_architecture():
    assert list_restorers() == sorted(RESTORERS)
    assert {"nafnet", "swinir", "mprnet"} <= set(list_restorers())


@pytest.mark.parametrize("name", sorted(RESTORERS))
def test_conventions(name):
    cls = get_restorer_class(name)
    config = cls.config_class()
    assert fields(config)[0].name == "model_type" and config.model_type == name
    json.dumps(asdict(config))  # config.json must be plain JSON
    card = cls.card
    for field in ("title", "paper", "paper_url", "official_repo", "checkpoint_layout", "citation"):
        assert getattr(card, field), f"{name}: empty card.{field}"
    assert card.official_repo.startswith("https://github.com/")


def test_aliases_and_errors(tmp_path):
    assert get_restorer_class("NAFNet") is get_restorer_class("nafnet")
    with pytest.raises(UnknownRestorerError, match=r"unknown restorer; known: .*nafnet"):
        get_restorer_class("unet")
    with pytest.raises(UnknownRestorerError, match=r"unknown config fields \['depth'\]"):
        build_restorer("nafnet", depth=3)
    with pytest.raises(UnknownRestorerError, match=r"no readable config\.json"):
        load_restorer(str(tmp_path))
