"""HeuristicVLM: analyser-written prompts and HeuristicJudge verdicts behind the VLMClient protocol."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest
from PIL import Image

from ggt_hf.backends import create_vlm
from ggt_hf.backends.analysis import analyse
from ggt_hf.backends.base import PromptResult, RestoreRequest, VLMClient
from ggt_hf.backends.classical import ClassicalBackend, forced_steps
from ggt_hf.backends.heuristic_vlm import HeuristicVLM, category_hint
from ggt_hf.constants import CATEGORIES
from ggt_hf.degrade import degrade
from ggt_hf.degrade.ops import linear_to_srgb, srgb_to_linear
from ggt_hf.judging.heuristic import HeuristicJudge
from ggt_hf.prompt_texts import template

skdata = pytest.importorskip("skimage.data")


@cache
def photo(name: str, side: int = 512) -> np.ndarray:
    """A real photo as uint8 RGB, longest side at most ``side``."""
    img = Image.fromarray(getattr(skdata, name)())
    scale = side / max(img.size)
    if scale < 1:
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
    return np.asarray(img.convert("RGB"))


def lq(name: str, category: str, seed: int = 1) -> Image.Image:
    return Image.fromarray(degrade(photo(name), category, seed).image)


def instruction(category: str = "unknown") -> str:
    return template("adaptive_instruction").format(category=category)


def with_cast(arr: np.ndarray, gains: tuple[float, float, float]) -> Image.Image:
    lin = srgb_to_linear(arr.astype(np.float32) / 255) * np.asarray(gains, dtype=np.float32)
    return Image.fromarray(np.clip(np.rint(linear_to_srgb(lin) * 255), 0, 255).astype(np.uint8))


def test_protocol_and_registry():
    vlm = create_vlm("heuristic")
    assert isinstance(vlm, HeuristicVLM) and isinstance(vlm, VLMClient)
    assert (vlm.name, vlm.model_id) == ("heuristic", "heuristic-v1")
    assert "not a vlm" in HeuristicVLM.__doc__.lower()


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_hazy_and_dark_prompts_differ_and_name_the_degradation(name):
    vlm = HeuristicVLM()
    hazy = vlm.describe(lq(name, "haze"), instruction=instruction())
    dark = vlm.describe(lq(name, "low_light"), instruction=instruction())
    assert isinstance(hazy, PromptResult) and hazy.prompt != dark.prompt
    assert "haze" in hazy.prompt and "under-exposure" not in hazy.prompt
    assert "under-exposure" in dark.prompt and "too dark" in dark.prompt and "haze" not in dark.prompt
    assert hazy.analysis["dominant_category"] == "haze" and dark.analysis["dominant_category"] == "low_light"
    assert any("haze" in d for d in hazy.analysis["degradations"])
    assert "dehaze" in forced_steps(hazy.prompt) and "brighten" in forced_steps(dark.prompt)


def test_rain_and_old_photo_prompts():
    vlm = HeuristicVLM()
    rain = vlm.describe(lq("chelsea", "rain"), instruction=instruction("rain")).prompt
    assert "rain streaks" in rain and "the background behind the lines" in rain
    old = vlm.describe(lq("chelsea", "old_photo"), instruction=instruction("old_photo")).prompt
    assert "fading" in old and "never invent" in old


def test_colour_cast_asks_to_keep_real_colours():
    vlm = HeuristicVLM()
    cast = vlm.describe(with_cast(photo("astronaut"), (0.7, 1.0, 1.3)), instruction=instruction())
    assert "color_cast" in cast.analysis["present"]
    assert "colour cast" in cast.prompt and "real colours" in cast.prompt and "cool (blue)" in cast.prompt
    clean = vlm.describe(Image.fromarray(photo("astronaut")), instruction=instruction())
    assert "real colours" not in clean.prompt


def test_clean_photo_prompt_is_a_light_touch():
    result = HeuristicVLM().describe(Image.fromarray(photo("chelsea")), instruction=instruction())
    assert "no strong degradation" in result.prompt and result.analysis["degradations"] == []
    assert forced_steps(result.prompt) == []
    for keep in ("composition", "object", "text", "faces"):
        assert keep in result.prompt


def test_analysis_is_the_analyser_dict_and_json():
    image = lq("coffee", "haze", 2)
    result = HeuristicVLM().describe(image, instruction=instruction("haze"), item_id="x1")
    expected = analyse(image).to_dict()
    assert {k: result.analysis[k] for k in expected} == expected
    assert result.analysis["category_hint"] == "haze"
    assert isinstance(result.analysis["preserve"], list) and len(result.analysis["preserve"]) >= 4
    json.dumps(result.analysis, allow_nan=False)
    assert result.usage.calls == 1 and result.usage.cost_usd == 0.0


def test_deterministic():
    image = lq("astronaut", "rain", 0)
    a = HeuristicVLM().describe(image, instruction=instruction())
    b = HeuristicVLM().describe(image, instruction=instruction())
    assert a.prompt == b.prompt and a.analysis == b.analysis


def test_category_hint():
    for category in CATEGORIES:
        assert category_hint(instruction(category)) == category
    assert category_hint(instruction()) is None and category_hint("") is None
    assert category_hint("The photo's category hint is: Low-Light.") == "low_light"


def test_hint_named_when_nothing_is_measured():
    prompt = (
        HeuristicVLM().describe(Image.fromarray(photo("chelsea")), instruction=instruction("rain")).prompt
    )
    assert "rain streaks" in prompt and "filed under" in prompt


def _pairs():
    hq = photo("chelsea")
    hazy = lq("chelsea", "haze", 0)
    restored = ClassicalBackend().restore(RestoreRequest(hazy)).image
    shifted = Image.fromarray(np.roll(hq, 12, axis=1))
    grey = Image.fromarray(hq).convert("L").convert("RGB")
    return [(hazy, restored), (hazy, hazy), (Image.fromarray(hq), shifted), (Image.fromarray(hq), grey)]


def test_judge_equals_heuristic_judge():
    vlm, reference = HeuristicVLM(), HeuristicJudge()
    verdicts = []
    for a, b in _pairs():
        got, want = vlm.judge(a, b, prompt="p"), reference.judge(a, b, prompt="p")
        assert (got.aspects, got.reasons, got.feedback) == (want.aspects, want.reasons, want.feedback)
        verdicts.append(got)
        json.dumps({"aspects": got.aspects, "reasons": got.reasons, "feedback": got.feedback})
    assert not all(v.success for v in verdicts)  # the pairs exercise failing aspects too
    strict = HeuristicVLM(max_shift=0.5)
    a, b = _pairs()[2]
    assert strict.judge(a, b).aspects == HeuristicJudge(max_shift=0.5).judge(a, b).aspects
    assert not strict.judge(a, b).aspects["geometry_alignment"]
