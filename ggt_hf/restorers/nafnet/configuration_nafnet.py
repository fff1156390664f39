"""Configuration of :class:`~ggt_hf.restorers.nafnet.NAFNet`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ggt_hf.restorers.config_bounds import Bound, count


@dataclass
class NAFNetConfig:
    """Hyper-parameters of the official ``NAFNet`` constructor (megvii-research/NAFNet).

    The defaults are the SIDD denoising model ``NAFNet-SIDD-width32`` (29.2 M parameters). The GoPro
    deblurring model ``NAFNet-GoPro-width64`` is ``width=64, middle_blk_num=1,
    enc_blk_nums=[1, 1, 1, 28], dec_blk_nums=[1, 1, 1, 1]`` (67.9 M parameters).
    """

    model_type: str = "nafnet"
    #: every numeric field's bound, checked before building (ggt_hf.restorers.config_bounds)
    BOUNDS: ClassVar[dict[str, Bound]] = {
        "img_channel": count(64),
        "width": count(1024),
        "middle_blk_num": count(64, low=0),
        "enc_blk_nums": count(64, low=0, max_len=8),
        "dec_blk_nums": count(64, low=0, max_len=8),
    }
    img_channel: int = 3
    width: int = 32
    middle_blk_num: int = 12
    enc_blk_nums: list[int] = field(default_factory=lambda: [2, 2, 4, 8])
    dec_blk_nums: list[int] = field(default_factory=lambda: [2, 2, 2, 2])
