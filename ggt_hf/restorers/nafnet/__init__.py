"""NAFNet (Chen et al., "Simple Baselines for Image Restoration", ECCV 2022)."""

from ggt_hf.restorers.nafnet.configuration_nafnet import NAFNetConfig
from ggt_hf.restorers.nafnet.modeling_nafnet import NAFNet

__all__ = ["NAFNet", "NAFNetConfig"]
