"""The metric specs table: everything that sorts, inverts or groups scores reads it.

Each :class:`MetricSpec` says what a metric measures (full-reference ``FR``, no-reference ``NR``
or ``VLM`` judged), how it is computed (the ``pyiqa`` id), which direction is better, which
composite group of the GGT-100K paper it belongs to (fidelity / perceptual / vlm; ``None`` for
extra metrics outside the paper's composite) and whether it needs downloaded weights.

Conventions (all metrics): RGB images as float tensors in [0, 1]. ``psnr`` is on RGB and ``ssim``
on the Y channel of YCbCr, pyiqa's defaults (``psnry`` / ``ssimc`` flip that); FR metrics need
prediction and reference of equal size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ggt_hf.errors import UnknownNameError

Mode = Literal["FR", "NR", "VLM"]
Group = Literal["fidelity", "perceptual", "vlm"]

#: The paper's composite groups, in table order.
GROUPS: tuple[Group, ...] = ("fidelity", "perceptual", "vlm")


@dataclass(frozen=True)
class MetricSpec:
    """One metric: identity, direction, composite group, weights."""

    name: str
    title: str
    mode: Mode
    lower_better: bool
    group: Group | None
    pyiqa_id: str | None
    needs_weights: bool

    @property
    def higher_better(self) -> bool:
        return not self.lower_better

    def to_dict(self) -> dict[str, object]:
        """The spec as written into results files (what readers need to sort and group)."""
        return {
            "name": self.name,
            "title": self.title,
            "mode": self.mode,
            "lower_better": self.lower_better,
            "group": self.group,
        }

    @property
    def arrow(self) -> str:
        """↑ or ↓, as in the paper's tables."""
        return "↓" if self.lower_better else "↑"


def _m(name, title, mode, lower, group, pyiqa_id, weights) -> MetricSpec:
    return MetricSpec(name, title, mode, lower, group, pyiqa_id, weights)


#: All metrics ggt-hf knows, paper metrics first (in the paper's column order).
METRICS: dict[str, MetricSpec] = {
    s.name: s
    for s in (
        _m("psnr", "PSNR", "FR", False, "fidelity", "psnr", False),
        _m("ssim", "SSIM", "FR", False, "fidelity", "ssim", False),
        _m("lpips", "LPIPS", "FR", True, "fidelity", "lpips", True),
        _m("dists", "DISTS", "FR", True, "fidelity", "dists", True),
        _m("niqe", "NIQE", "NR", True, "perceptual", "niqe", True),
        _m("musiq", "MUSIQ", "NR", False, "perceptual", "musiq", True),
        _m("maniqa", "MANIQA", "NR", False, "perceptual", "maniqa", True),
        _m("topiq_nr", "TOPIQ-NR", "NR", False, "perceptual", "topiq_nr", True),
        _m("afine_nr", "AFINE-NR", "NR", True, "perceptual", "afine_nr", True),
        _m("vlm_r", "VLM-R", "VLM", False, "vlm", None, False),
        # weight-free extras, usable fully offline
        _m("psnry", "PSNR-Y", "FR", False, None, "psnry", False),
        _m("ssimc", "SSIM-RGB", "FR", False, None, "ssimc", False),
        _m("ms_ssim", "MS-SSIM", "FR", False, None, "ms_ssim", False),
        _m("gmsd", "GMSD", "FR", True, None, "gmsd", False),
        _m("fsim", "FSIM", "FR", False, None, "fsim", False),
        _m("vif", "VIF", "FR", False, None, "vif", False),
        _m("piqe", "PIQE", "NR", True, None, "piqe", False),
    )
}


def get_spec(name: str) -> MetricSpec:
    """The spec of ``name``; raises :class:`UnknownNameError` (a ``KeyError``) listing the known names."""
    try:
        return METRICS[name.strip().lower()]
    except KeyError:
        raise UnknownNameError(name, f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None


def parse_metric_list(text: str | list[str] | None, default: list[str]) -> list[MetricSpec]:
    """Specs of a comma-separated list (or list) of names; ``default`` when empty."""
    names = text.split(",") if isinstance(text, str) else (text or default)
    return [get_spec(n) for n in names if n.strip()]


def paper_metrics(mode: Mode | None = None) -> list[MetricSpec]:
    """The metrics of the paper's tables (those in a composite group), optionally of one mode."""
    return [s for s in METRICS.values() if s.group is not None and (mode is None or s.mode == mode)]


def weight_free(mode: Mode | None = None) -> list[MetricSpec]:
    """pyiqa metrics that need no downloaded weights (always available offline)."""
    return [
        s for s in METRICS.values() if s.pyiqa_id and not s.needs_weights and (mode is None or s.mode == mode)
    ]
