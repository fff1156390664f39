"""Configuration of Restormer (Zamir et al., CVPR 2022).

Field names follow the official ``Restormer(...)`` signature (``swz30/Restormer``
``basicsr/models/archs/restormer_arch.py``), so the ``network_g`` block of an official YAML option
file maps onto this dataclass one to one (hence the official ``LayerNorm_type`` spelling).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ggt_hf.restorers.config_bounds import RESTORMER_FAMILY, Bound, count


@dataclass
class RestormerConfig:
    """Hyper-parameters of Restormer; the defaults are the official deraining / motion-deblurring model."""

    model_type: str = "restormer"
    #: every numeric field's bound, checked before building (ggt_hf.restorers.config_bounds)
    BOUNDS: ClassVar[dict[str, Bound]] = {
        **RESTORMER_FAMILY,
        "heads": count(128, max_len=8),
    }
    inp_channels: int = 3
    out_channels: int = 3
    #: channels at level 1; level ``i`` has ``dim * 2**i``
    dim: int = 48
    #: transformer blocks per level (encoder 1-3 and latent; the decoder reuses levels 1-3)
    num_blocks: list[int] = field(default_factory=lambda: [4, 6, 6, 8])
    num_refinement_blocks: int = 4
    #: attention heads per level
    heads: list[int] = field(default_factory=lambda: [1, 2, 4, 8])
    ffn_expansion_factor: float = 2.66
    bias: bool = False
    #: "WithBias" or "BiasFree" (the official denoising models use "BiasFree")
    LayerNorm_type: str = "WithBias"
    #: dual-pixel defocus deblurring only (then ``inp_channels=6``); adds ``skip_conv``
    dual_pixel_task: bool = False
