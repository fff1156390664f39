"""Restormer: Efficient Transformer for High-Resolution Image Restoration (CVPR 2022)."""

from ggt_hf.restorers.restormer.configuration_restormer import RestormerConfig
from ggt_hf.restorers.restormer.modeling_restormer import Restormer

__all__ = ["Restormer", "RestormerConfig"]
