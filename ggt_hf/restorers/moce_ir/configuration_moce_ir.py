"""Configuration of MoCE-IR (Zamfir et al., CVPR 2025).

Field names follow the official ``MoCEIR(...)`` signature (``src/net/moce_ir.py``); the defaults are the
``MoCE_IR`` model of the official ``src/options.py`` (``--model MoCE_IR --with_complexity``). The
official ``depth_type`` / ``stage_depth`` arguments are left out on purpose: in the official
``ModExpert.feat_extract`` the loop over ``depth`` recomputes the same single step from the same input,
so expert depth changes neither the parameters nor the output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ggt_hf.restorers.config_bounds import RESTORMER_FAMILY, Bound, count


@dataclass
class MoCEIRConfig:
    """Hyper-parameters of MoCE-IR; the defaults are the official ``MoCE_IR`` (not ``MoCE_IR_S``) model."""

    model_type: str = "moce_ir"
    #: every numeric field's bound, checked before building (ggt_hf.restorers.config_bounds)
    BOUNDS: ClassVar[dict[str, Bound]] = {
        **RESTORMER_FAMILY,
        "levels": count(8),
        "heads": count(128, max_len=8),
        "num_dec_blocks": count(64, low=0, max_len=8),
        "rank": count(4096),
        "num_experts": count(64),
        "topk": count(64),
    }
    inp_channels: int = 3
    out_channels: int = 3
    dim: int = 48
    levels: int = 4
    heads: list[int] = field(default_factory=lambda: [1, 2, 4, 8])
    #: encoder blocks per level (the last entry is the latent)
    num_blocks: list[int] = field(default_factory=lambda: [4, 6, 6, 8])
    #: decoder blocks per level, finest first (each holds a mixture of complexity experts)
    num_dec_blocks: list[int] = field(default_factory=lambda: [2, 4, 4])
    ffn_expansion_factor: float = 2.0
    num_refinement_blocks: int = 4
    LayerNorm_type: str = "WithBias"
    bias: bool = False
    #: expert bottleneck width for the "constant"/"lin"/"double"/"exp"/"fact" rank types
    rank: int = 2
    num_experts: int = 4
    #: how expert widths grow: "spread" = level_dim // 2**i (reversed), "constant", "lin", "double",
    #: "exp", "fact" as in the official AdapterLayer
    rank_type: str = "spread"
    topk: int = 1
    #: weight the importance (load-balancing) loss by expert complexity (the paper's bias toward
    #: simpler experts)
    with_complexity: bool = True
    #: normalise expert complexity by its "max" or "min"
    complexity_scale: str = "max"
    #: the official router adds Gaussian noise to the logits at inference too, so its outputs are
    #: random; False (default here) routes deterministically at eval, True reproduces the official
    #: behaviour. Training always uses the noise.
    routing_noise_at_eval: bool = False
