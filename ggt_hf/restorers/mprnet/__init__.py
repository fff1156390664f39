"""MPRNet (Zamir et al., "Multi-Stage Progressive Image Restoration", CVPR 2021)."""

from ggt_hf.restorers.mprnet.configuration_mprnet import MPRNetConfig
from ggt_hf.restorers.mprnet.modeling_mprnet import MPRNet

__all__ = ["MPRNet", "MPRNetConfig"]
