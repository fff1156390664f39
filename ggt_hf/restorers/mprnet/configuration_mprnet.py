"""Configuration of :class:`~ggt_hf.restorers.mprnet.MPRNet`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class MPRNetConfig:
    """Hyper-parameters of the official ``MPRNet`` constructor (swz30/MPRNet).

    The defaults are the deraining model (``Deraining/MPRNet.py``, ``model_deraining.pth``, 3.6 M
    parameters). The deblurring model shares the architecture with ``n_feat=96,
    scale_unetfeats=48, scale_orsnetfeats=32``.
    """

    model_type: str = "mprnet"
    in_c: int = 3
    out_c: int = 3
    n_feat: int = 40
    scale_unetfeats: int = 20
    scale_orsnetfeats: int = 16
    num_cab: int = 8
    kernel_size: int = 3
    reduction: int = 4
    bias: bool = False
