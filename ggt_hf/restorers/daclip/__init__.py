"""DA-CLIP (Luo et al., "Controlling Vision-Language Models for Multi-Task Image Restoration", ICLR 2024)."""

from ggt_hf.restorers.daclip.configuration_daclip import DACLIPConfig
from ggt_hf.restorers.daclip.modeling_daclip import DACLIP

__all__ = ["DACLIP", "DACLIPConfig"]
