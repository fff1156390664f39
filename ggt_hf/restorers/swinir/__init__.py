"""SwinIR (Liang et al., "SwinIR: Image Restoration Using Swin Transformer", ICCVW 2021)."""

from ggt_hf.restorers.swinir.configuration_swinir import SwinIRConfig
from ggt_hf.restorers.swinir.modeling_swinir import SwinIR

__all__ = ["SwinIR", "SwinIRConfig"]
