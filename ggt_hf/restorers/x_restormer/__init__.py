"""X-Restormer: A Comparative Study of Image Restoration Networks for General Backbone Network Design (ECCV 2024)."""

from ggt_hf.restorers.x_restormer.configuration_x_restormer import XRestormerConfig
from ggt_hf.restorers.x_restormer.modeling_x_restormer import XRestormer

__all__ = ["XRestormer", "XRestormerConfig"]
