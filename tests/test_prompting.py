"""Prompt strategies and corrective prompts."""

from __future__ import annotations

import pytest
from PIL import Image

from ggt_hf.prompt_texts import template
from ggt_hf.prompts.strategies import corrective_prompt, make_strategy


def test_fixed_strategies(photos):
    fixed = make_strategy("fixed").prompt(photos[0]).prompt
    no_change = make_strategy("fixed-no-change").prompt(photos[0]).prompt
    assert fixed == template("fixed") and no_change.startswith(fixed)
    assert "Do not add, remove or move any object" in no_change
    assert make_strategy("none").prompt(photos[0]).prompt == ""


def test_unknown_strategy():
    with pytest.raises(ValueError, match="unknown prompt strategy 'adaptive'"):
        make_strategy("adaptive")
    with pytest.raises(ValueError, match="unknown VLM client 'nope'"):
        make_strategy("adaptive:nope")


def test_corrective_prompt():
    assert corrective_prompt("Restore it.", None) == "Restore it."
    text = corrective_prompt("Restore it.", "fix geometry alignment: shift 12px")
    assert text.startswith("Restore it.") and "fix geometry alignment: shift 12px" in text


def test_every_list_of_strategies_derives_from_the_registry():
    from ggt_hf.evaluation.bench_mfm import PROMPT_STRATEGIES
    from ggt_hf.prompts.strategies import FIXED_STRATEGIES, STRATEGIES, make_strategy
    from ggt_hf.restore.spec import parse_system

    assert list(PROMPT_STRATEGIES) == list(FIXED_STRATEGIES) == list(STRATEGIES[:-1])
    for name in FIXED_STRATEGIES:
        assert parse_system(f"classical@{name}").strategy == name
        assert make_strategy(name).prompt(Image.new("RGB", (8, 8))).prompt == (PROMPT_STRATEGIES[name] or "")
    with pytest.raises(ValueError, match="did you mean 'fixed-no-change'"):
        parse_system("classical@fixed-nochange")
