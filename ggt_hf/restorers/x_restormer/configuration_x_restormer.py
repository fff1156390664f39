"""Configuration of X-Restormer (Chen et al., ECCV 2024).

Field names follow the official ``XRestormer(...)`` signature (``Andrew0613/X-Restormer``
``xrestormer/archs/xrestormer_arch.py``). The defaults are the released model (the ``network_g`` of
every official training option file, e.g. ``options/train/004_xrestormer_derain.yml``), not the
signature's unused defaults (``num_blocks=[4,6,6,8]``, ``spatial_heads=[2,2,3,4]``). The official
``scale`` (bilinear pre-upsampling for super-resolution) and the ignored ``dual_pixel_task`` are not
exposed: ggt-hf restorers map an image to one of the same size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ggt_hf.restorers.config_bounds import RESTORMER_FAMILY, Bound, count, ratio


@dataclass
class XRestormerConfig:
    """Hyper-parameters of X-Restormer; the defaults are the released model (26.0M parameters)."""

    model_type: str = "x_restormer"
    #: every numeric field's bound, checked before building (ggt_hf.restorers.config_bounds)
    BOUNDS: ClassVar[dict[str, Bound]] = {
        **RESTORMER_FAMILY,
        "channel_heads": count(128, max_len=8),
        "spatial_heads": count(128, max_len=8),
        "overlap_ratio": ratio(4.0, max_len=8),
        "window_size": count(64),
        "spatial_dim_head": count(1024),
    }
    inp_channels: int = 3
    out_channels: int = 3
    dim: int = 48
    num_blocks: list[int] = field(default_factory=lambda: [2, 4, 4, 4])
    num_refinement_blocks: int = 4
    #: heads of the transposed (channel) attention per level
    channel_heads: list[int] = field(default_factory=lambda: [1, 2, 4, 8])
    #: heads of the overlapping window (spatial) attention per level
    spatial_heads: list[int] = field(default_factory=lambda: [1, 2, 4, 8])
    #: key/value windows are ``window_size * (1 + overlap_ratio)`` wide
    overlap_ratio: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5, 0.5])
    window_size: int = 8
    spatial_dim_head: int = 16
    bias: bool = False
    ffn_expansion_factor: float = 2.66
    LayerNorm_type: str = "WithBias"
