"""MoCE-IR: Complexity Experts are Task-Discriminative Learners for Any-in-One Image Restoration (CVPR 2025)."""

from ggt_hf.restorers.moce_ir.configuration_moce_ir import MoCEIRConfig
from ggt_hf.restorers.moce_ir.modeling_moce_ir import MoCEIR

__all__ = ["MoCEIR", "MoCEIRConfig"]
