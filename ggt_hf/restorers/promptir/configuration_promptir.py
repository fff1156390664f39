"""Configuration of PromptIR (Potlapalli et al., NeurIPS 2023).

Field names follow the official ``PromptIR(...)`` signature (``va1shn9v/PromptIR`` ``net/model.py``).
The official code hard-codes the prompt widths for ``dim=48`` (e.g. ``int(dim*2**2) + 512``); here they
are the explicit ``prompt_dims`` / ``prompt_sizes`` / ``prompt_len`` fields, whose defaults reproduce
the official layer shapes exactly, and the other widths are derived from ``dim`` so small
configurations (tests, ablations) also build.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ggt_hf.restorers.config_bounds import RESTORMER_FAMILY, Bound, count


@dataclass
class PromptIRConfig:
    """Hyper-parameters of PromptIR; the defaults are the official all-in-one model (``decoder=True``)."""

    model_type: str = "promptir"
    #: every numeric field's bound, checked before building (ggt_hf.restorers.config_bounds)
    BOUNDS: ClassVar[dict[str, Bound]] = {
        **RESTORMER_FAMILY,
        "heads": count(128, max_len=8),
        "prompt_dims": count(4096, max_len=8),
        "prompt_sizes": count(1024, max_len=8),
        "prompt_len": count(64),
    }
    inp_channels: int = 3
    out_channels: int = 3
    dim: int = 48
    num_blocks: list[int] = field(default_factory=lambda: [4, 6, 6, 8])
    num_refinement_blocks: int = 4
    heads: list[int] = field(default_factory=lambda: [1, 2, 4, 8])
    ffn_expansion_factor: float = 2.66
    bias: bool = False
    LayerNorm_type: str = "WithBias"
    #: prompt channels injected at decoder levels 1, 2, 3 (official prompt1/2/3: 64, 128, 320)
    prompt_dims: list[int] = field(default_factory=lambda: [64, 128, 320])
    #: spatial size of the learned prompt tensors at levels 1, 2, 3 (official 64, 32, 16)
    prompt_sizes: list[int] = field(default_factory=lambda: [64, 32, 16])
    #: number of prompt components mixed by the prompt-generation block (official 5)
    prompt_len: int = 5
    #: the official model defines seven 1x1 convolutions that its forward never uses
    #: (``chnl_reduce1-3``, ``reduce_noise_channel_1-3``); keep them so official checkpoints load
    #: strictly. Set False to train without them (they receive no gradient, which otherwise needs DDP
    #: ``find_unused_parameters=True``).
    keep_unused_layers: bool = True
