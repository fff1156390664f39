"""PromptIR: Prompting for All-in-One Blind Image Restoration (NeurIPS 2023)."""

from ggt_hf.restorers.promptir.configuration_promptir import PromptIRConfig
from ggt_hf.restorers.promptir.modeling_promptir import PromptIR

__all__ = ["PromptIR", "PromptIRConfig"]
