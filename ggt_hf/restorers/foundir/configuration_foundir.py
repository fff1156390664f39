"""Configuration of :class:`~ggt_hf.restorers.foundir.FoundIR`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ggt_hf.restorers.config_bounds import SEED, Bound, count, ratio


@dataclass
class FoundIRConfig:
    """FoundIR's generalist model (House-Leo/FoundIR ``test.py``): ``UnetRes(dim=64,
    dim_mults=(1, 2, 4, 8), condition=True, objective="pred_res")`` inside
    ``ResidualDiffusion(timesteps=1000, delta_end=1.4e-3, sampling_timesteps=4, ddim_sampling_eta=0,
    sum_scale=0.01)`` (36.26 M parameters)."""

    model_type: str = "foundir"
    #: every numeric field's bound, checked before building (ggt_hf.restorers.config_bounds)
    BOUNDS: ClassVar[dict[str, Bound]] = {
        "dim": count(1024),
        "dim_mults": count(64, max_len=8),
        "channels": count(64),
        "resnet_block_groups": count(256),
        "timesteps": count(10_000),
        "delta_end": ratio(1.0),
        "sampling_timesteps": count(10_000),
        "ddim_sampling_eta": ratio(1.0),
        "sum_scale": ratio(10.0),
        "seed": SEED,
    }
    dim: int = 64
    dim_mults: list[int] = field(default_factory=lambda: [1, 2, 4, 8])
    channels: int = 3
    resnet_block_groups: int = 8
    timesteps: int = 1000
    delta_end: float = 1.4e-3
    #: the test script's setting for real-world images (its comment gives 3 for synthetic ones)
    sampling_timesteps: int = 4
    ddim_sampling_eta: float = 0.0
    sum_scale: float = 0.01
    #: seed of the sampler's noise (the initial state, and each step when ``ddim_sampling_eta > 0``)
    seed: int = 0
