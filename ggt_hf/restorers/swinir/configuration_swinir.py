"""Configuration of :class:`~ggt_hf.restorers.swinir.SwinIR`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ggt_hf.restorers.config_bounds import Bound, count, ratio


@dataclass
class SwinIRConfig:
    """Hyper-parameters of the official ``SwinIR`` constructor (JingyunLiang/SwinIR).

    The defaults are the colour denoising model of ``main_test_swinir.py --task color_dn``
    (``005_colorDN_DFWB_s128w8_SwinIR-M_noise{15,25,50}.pth``, 11.5 M parameters). The JPEG
    artifact-reduction models use ``in_chans=1`` (grey) or ``in_chans=3`` with ``img_size=126,
    window_size=7, img_range=255.0``. Only same-size restoration is supported (``upscale=1``,
    ``upsampler=""``): super-resolution heads would change the output size.

    ``img_size`` fixes the size of the stored shifted-window attention masks (they are part of the
    official state dict); other input sizes work, their masks are computed on the fly.
    """

    model_type: str = "swinir"
    #: every numeric field's bound, checked before building (ggt_hf.restorers.config_bounds)
    BOUNDS: ClassVar[dict[str, Bound]] = {
        "img_size": count(1024),
        "patch_size": count(1),  # restoration models use 1
        "in_chans": count(64),
        "embed_dim": count(1024),
        "depths": count(64, low=0, max_len=16),
        "num_heads": count(128, max_len=16),
        "window_size": count(64),
        "mlp_ratio": ratio(16.0),
        "qk_scale": ratio(1e3, optional=True),
        "drop_rate": ratio(1.0),
        "attn_drop_rate": ratio(1.0),
        "drop_path_rate": ratio(1.0),
        "upscale": count(1),  # same-size restoration only
        "img_range": ratio(1e4),
    }
    img_size: int = 128
    patch_size: int = 1
    in_chans: int = 3
    embed_dim: int = 180
    depths: list[int] = field(default_factory=lambda: [6, 6, 6, 6, 6, 6])
    num_heads: list[int] = field(default_factory=lambda: [6, 6, 6, 6, 6, 6])
    window_size: int = 8
    mlp_ratio: float = 2.0
    qkv_bias: bool = True
    qk_scale: float | None = None
    drop_rate: float = 0.0
    attn_drop_rate: float = 0.0
    drop_path_rate: float = 0.1
    ape: bool = False
    patch_norm: bool = True
    use_checkpoint: bool = False
    upscale: int = 1
    img_range: float = 1.0
    upsampler: str = ""
    resi_connection: str = "1conv"
