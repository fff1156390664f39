"""FoundIR (Li et al., "FoundIR: Unleashing Million-scale Training Data to Advance Foundation Models
for Image Restoration", ICCV 2025)."""

from ggt_hf.restorers.foundir.configuration_foundir import FoundIRConfig
from ggt_hf.restorers.foundir.modeling_foundir import FoundIR

__all__ = ["FoundIR", "FoundIRConfig"]
