"""``HeuristicVLM``: an offline stand-in for a VLM client — it is NOT a vision-language model.

It implements :class:`ggt_hf.backends.base.VLMClient` with classical measurements so that adaptive
prompting and judging run without keys, weights or network (tests, offline builds, CI):

* :meth:`HeuristicVLM.describe` runs the degradation analyser
  (:func:`ggt_hf.backends.analysis.analyse`) and writes an image-specific restoration prompt from
  its findings: the degradations present, in words, with their strength (mild / moderate /
  strong), and what must be preserved — always composition, framing, objects, people, text, faces
  and textures, plus what the findings put at risk (e.g. "the scene's real colours" when a colour
  cast is found, "distant detail" under haze). ``PromptResult.analysis`` is the analyser's dict
  (:meth:`~ggt_hf.backends.analysis.Analysis.to_dict`) plus the ``degradations`` and ``preserve``
  lists and the ``category_hint`` read from the instruction — the keys the adaptive instruction
  asks real VLMs to answer with.
* :meth:`HeuristicVLM.judge` delegates to :class:`ggt_hf.judging.heuristic.HeuristicJudge`
  (thresholded measurements over the five aspects); it composes that judge and adds nothing.

Prompts only name a degradation that the analyser found (or the instruction's category hint
names), so the words that make :class:`~ggt_hf.backends.classical.ClassicalBackend` force a step
appear only when that step is wanted. Deterministic: the same image gives the same prompt.
"""

from __future__ import annotations

import re
from typing import Any

from PIL import Image

from ggt_hf.backends.analysis import Analysis, Measurement, analyse
from ggt_hf.backends.base import PromptResult, Usage
from ggt_hf.constants import try_parse_category
from ggt_hf.judging.heuristic import HeuristicJudge
from ggt_hf.judging.verdict import Verdict

#: What is always preserved, whatever the findings.
ALWAYS_PRESERVE: tuple[str, ...] = (
    "the composition and framing",
    "every object and person in its place",
    "any text, logos and faces",
    "the textures of surfaces",
)

#: Extra things to preserve, per degradation found.
PRESERVE_WHEN: dict[str, str] = {
    "noise": "fine detail, without a plastic, over-smoothed look",
    "blur": "the true shapes of edges, without halos or invented detail",
    "jpeg": "smooth gradients, without new blocks or banding",
    "haze": "the depth of the scene and its distant detail",
    "exposure": "the light sources and the time of day of the scene",
    "color_cast": "the scene's real colours, with neutral greys and whites",
    "fading": "the original tones; restore colour only where it is evident, never invent it",
    "streaks": "the background behind the lines",
}

#: Categories whose degradation the prompt names when the hint says so but nothing was measured.
_HINT_WORDS: dict[str, str] = {
    "rain": "rain streaks",
    "haze": "haze",
    "snow": "snowflakes",
    "low_light": "under-exposure",
    "old_photo": "fading and scratches of an old print",
}

_HINT_RE = re.compile(r"category hint is:\s*([A-Za-z _-]+)", re.IGNORECASE)


def _cast_direction(m: Measurement) -> str:
    """``"warm"``/``"cool"``/``"green"``/``"magenta"`` from the grey-edge cast's components."""
    rg, yb = m.values.get("rg", 0.0), m.values.get("yb", 0.0)
    if abs(yb) >= abs(rg):
        return "warm (yellow-orange)" if yb > 0 else "cool (blue)"
    return "magenta-red" if rg > 0 else "green"


def describe_degradation(name: str, m: Measurement, analysis: Analysis) -> str:
    """One degradation in words, with its strength (e.g. ``"strong haze"``)."""
    s = m.strength
    if name == "noise":
        return f"{s} noise and grain"
    if name == "blur":
        return f"{s} blur that softens detail"
    if name == "jpeg":
        return f"{s} JPEG compression blocking"
    if name == "haze":
        return f"{s} haze that washes out contrast and colour"
    if name == "exposure":
        return f"{s} under-exposure (the photo is too dark)"
    if name == "color_cast":
        return f"a {s} {_cast_direction(m)} colour cast"
    if name == "fading":
        return f"{s} fading of the colours, as in an aged or toned print"
    if name == "streaks":
        bright = m.values.get("bright", 1.0) >= 0.5
        if analysis.dominant_category == "rain" and bright:
            return f"{s} rain streaks"
        return f"{s} thin {'bright' if bright else 'dark'} scratches or streaks"
    raise ValueError(f"unknown degradation {name!r}")


def category_hint(instruction: str) -> str | None:
    """The category named by the adaptive instruction's "category hint is: …" line, if any."""
    match = _HINT_RE.search(instruction or "")
    return try_parse_category(match.group(1).strip().rstrip(".")) if match else None


def named_degradations(analysis: Analysis) -> list[str]:
    """The measurements a prompt names: those present, except fading under haze or under-exposure
    (washed-out colour is then a symptom of those, and restoring it is their business)."""
    present = analysis.present
    if "haze" in present or "exposure" in present:
        present = [n for n in present if n != "fading"]
    return present


def write_prompt(analysis: Analysis, hint: str | None = None) -> tuple[str, list[str], list[str]]:
    """The restoration prompt for an analysis: ``(prompt, degradations, preserve)``."""
    named = named_degradations(analysis)
    degradations = [describe_degradation(n, analysis[n], analysis) for n in named]
    if hint in _HINT_WORDS and analysis.dominant_category != hint and not degradations:
        degradations.append(f"possible {_HINT_WORDS[hint]} (the photo is filed under that category)")
    preserve = list(ALWAYS_PRESERVE) + [PRESERVE_WHEN[n] for n in named]
    if degradations:
        first = f"Restore this photo: it shows {_join(degradations)}."
        ask = "Remove these problems and bring back a clean, natural, high-quality photo of the same scene."
    else:
        first = "Restore this photo: no strong degradation is visible."
        ask = "Make only a light, faithful clean-up and keep the colours, exposure and detail as they are."
    keep = f"Preserve {_join(preserve)}."
    forbid = "Do not add, remove or move anything; keep the same geometry and perspective."
    return " ".join((first, ask, keep, forbid)), degradations, preserve


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


class HeuristicVLM:
    """Offline VLM-client stand-in (not a VLM): analyser-written prompts, heuristic judging.

    Args:
        model_id: recorded as the client's model id (default ``heuristic-v1``).
        judge: the :class:`HeuristicJudge` to delegate to; built from ``judge_options`` if omitted.
        **judge_options: :class:`HeuristicJudge` fields (e.g. ``max_shift``).
    """

    name = "heuristic"
    forwards_options_to = HeuristicJudge  # **judge_options (checked by ggt_hf.backends.check_options)

    def __init__(
        self, model_id: str = "heuristic-v1", judge: HeuristicJudge | None = None, **judge_options: Any
    ) -> None:
        self.model_id = model_id
        self._judge = judge if judge is not None else HeuristicJudge(**judge_options)

    def describe(self, image: Image.Image, *, instruction: str, item_id: str = "<item>") -> PromptResult:
        """Analyse ``image`` and write its restoration prompt (``instruction`` gives the hint)."""
        analysis = analyse(image)
        hint = category_hint(instruction)
        prompt, degradations, preserve = write_prompt(analysis, hint)
        record = analysis.to_dict()
        record.update(degradations=degradations, preserve=preserve, category_hint=hint)
        return PromptResult(prompt, record, Usage(calls=1, images=1))

    def judge(self, lq: Image.Image, out: Image.Image, *, prompt: str | None = None) -> Verdict:
        """The :class:`HeuristicJudge` verdict on restoring ``lq`` into ``out``."""
        return self._judge.judge(lq, out, prompt=prompt)
