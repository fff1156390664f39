"""Configuration of :class:`~ggt_hf.restorers.mprnet.MPRNet`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ggt_hf.restorers.config_bounds import Bound, count


@dataclass
class MPRNetConfig:
    """Hyper-parameters of the official ``MPRNet`` constructor (swz30/MPRNet).

    The defaults are the deraining model (``Deraining/MPRNet.py``, ``model_deraining.pth``, 3.6 M
    parameters). The deblurring model shares the architecture with ``n_feat=96,
    scale_unetfeats=48, scale_orsnetfeats=32``.
    """

    model_type: str = "mprnet"
    #: every numeric field's bound, checked before building (ggt_hf.restorers.config_bounds)
    BOUNDS: ClassVar[dict[str, Bound]] = {
        "in_c": count(64),
        "out_c": count(64),
        "n_feat": count(1024),
        "scale_unetfeats": count(1024, low=0),
        "scale_orsnetfeats": count(1024, low=0),
        "num_cab": count(64),
        "kernel_size": count(31),
        "reduction": count(1024),
    }
    in_c: int = 3
    out_c: int = 3
    n_feat: int = 40
    scale_unetfeats: int = 20
    scale_orsnetfeats: int = 16
    num_cab: int = 8
    kernel_size: int = 3
    reduction: int = 4
    bias: bool = False
