"""Configuration of :class:`~ggt_hf.restorers.nafnet.NAFNet`."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class NAFNetConfig:
    """Hyper-parameters of the official ``NAFNet`` constructor (megvii-research/NAFNet).

    The defaults are the SIDD denoising model ``NAFNet-SIDD-width32`` (29.2 M parameters). The GoPro
    deblurring model ``NAFNet-GoPro-width64`` is ``width=64, middle_blk_num=1,
    enc_blk_nums=[1, 1, 1, 28], dec_blk_nums=[1, 1, 1, 1]`` (67.9 M parameters).
    """

    model_type: str = "nafnet"
    img_channel: int = 3
    width: int = 32
    middle_blk_num: int = 12
    enc_blk_nums: list[int] = field(default_factory=lambda: [2, 2, 4, 8])
    dec_blk_nums: list[int] = field(default_factory=lambda: [2, 2, 2, 2])
