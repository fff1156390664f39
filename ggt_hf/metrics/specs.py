"""The metric specs table: everything that sorts, inverts or groups scores reads it.

Each :class:`MetricSpec` says what a metric measures (full-reference ``FR``, no-reference ``NR``
or ``VLM`` judged), how it is computed (the ``pyiqa`` id), which direction is better, which
composite group of the GGT-100K paper it belongs to (fidelity / perceptual / vlm; ``None`` for
extra metrics outside the paper's composite) and which downloaded weight files it loads
(:class:`WeightRef`, resolved to files on disk by :mod:`ggt_hf.metrics.weight_files`).

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


WeightSource = Literal["pyiqa", "torchvision", "timm", "clip"]


@dataclass(frozen=True)
class WeightRef:
    """One weight file a metric's pyiqa model loads, named the way the loading library declares it.

    ``pyiqa``: ``owner`` is an arch module (``lpips_arch``), ``key`` a key of its
    ``default_model_urls``; ``torchvision``: a model builder (``alexnet``) and a member of its weights
    enum (``IMAGENET1K_V1``); ``timm``: a timm model name (its pretrained config names the Hub repo);
    ``clip``: a pyiqa CLIP module (``afineclip_model``) and a key of its ``_MODELS``.
    """

    source: WeightSource
    owner: str
    key: str = ""


@dataclass(frozen=True)
class MetricSpec:
    """One metric: identity, direction, composite group, weights."""

    name: str
    title: str
    mode: Mode
    lower_better: bool
    group: Group | None
    pyiqa_id: str | None
    #: the files its pyiqa model loads, in loading order (empty: weight-free)
    weights: tuple[WeightRef, ...] = ()

    @property
    def needs_weights(self) -> bool:
        """Whether the metric loads downloaded weights."""
        return bool(self.weights)

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


def _m(name, title, mode, lower, group, pyiqa_id, *weights: WeightRef) -> MetricSpec:
    return MetricSpec(name, title, mode, lower, group, pyiqa_id, weights)


def _pyiqa(arch: str, key: str) -> WeightRef:
    return WeightRef("pyiqa", arch, key)


_ALEXNET = WeightRef("torchvision", "alexnet", "IMAGENET1K_V1")
_VGG16 = WeightRef("torchvision", "vgg16", "IMAGENET1K_V1")
_VIT_B8 = WeightRef("timm", "vit_base_patch8_224")
_RESNET50 = WeightRef("timm", "resnet50")
_CLIP_B32 = WeightRef("clip", "afineclip_model", "ViT-B/32")


#: All metrics ggt-hf knows, paper metrics first (in the paper's column order).
METRICS: dict[str, MetricSpec] = {
    s.name: s
    for s in (
        _m("psnr", "PSNR", "FR", False, "fidelity", "psnr"),
        _m("ssim", "SSIM", "FR", False, "fidelity", "ssim"),
        _m("lpips", "LPIPS", "FR", True, "fidelity", "lpips", _ALEXNET, _pyiqa("lpips_arch", "0.1_alex")),
        _m("dists", "DISTS", "FR", True, "fidelity", "dists", _VGG16, _pyiqa("dists_arch", "url")),
        _m("niqe", "NIQE", "NR", True, "perceptual", "niqe", _pyiqa("niqe_arch", "url")),
        _m("musiq", "MUSIQ", "NR", False, "perceptual", "musiq", _pyiqa("musiq_arch", "koniq10k")),
        _m("maniqa", "MANIQA", "NR", False, "perceptual", "maniqa", _VIT_B8, _pyiqa("maniqa_arch", "koniq")),
        _m(
            "topiq_nr",
            "TOPIQ-NR",
            "NR",
            False,
            "perceptual",
            "topiq_nr",
            _RESNET50,
            _pyiqa("topiq_arch", "cfanet_nr_koniq_res50"),
        ),
        _m(
            "afine_nr",
            "AFINE-NR",
            "NR",
            True,
            "perceptual",
            "afine_nr",
            _CLIP_B32,
            _pyiqa("afine_arch", "afine"),
        ),
        _m("vlm_r", "VLM-R", "VLM", False, "vlm", None),
        # weight-free extras, usable fully offline
        _m("psnry", "PSNR-Y", "FR", False, None, "psnry"),
        _m("ssimc", "SSIM-RGB", "FR", False, None, "ssimc"),
        _m("ms_ssim", "MS-SSIM", "FR", False, None, "ms_ssim"),
        _m("gmsd", "GMSD", "FR", True, None, "gmsd"),
        _m("fsim", "FSIM", "FR", False, None, "fsim"),
        _m("vif", "VIF", "FR", False, None, "vif"),
        _m("piqe", "PIQE", "NR", True, None, "piqe"),
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
