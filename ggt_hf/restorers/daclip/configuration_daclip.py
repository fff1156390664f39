"""Configuration of :class:`~ggt_hf.restorers.daclip.DACLIP`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ggt_hf.restorers.config_bounds import SEED, Bound, count, ratio


@dataclass
class DACLIPConfig:
    """DA-CLIP (a CLIP ViT-B/32 with a degradation controller) + the universal-IR ``ConditionalUNet``
    sampled with IR-SDE (Algolzw/daclip-uir).

    Defaults are the released models: ``open_clip/model_configs/daclip_ViT-B-32.json`` (embed 512;
    vision 12 layers × 768, patch 32, image 224; text 12 layers × 512, 8 heads, context 77, vocab
    49408) and ``config/daclip-sde/options/test.yml`` (``network_G``: ``nf=64, ch_mult=[1, 2, 4, 8],
    context_dim=512``, degradation and image context on; ``sde``: ``max_sigma=50, T=100, cosine,
    eps=0.005``, posterior sampling).
    """

    model_type: str = "daclip"
    #: every numeric field's bound, checked before building (ggt_hf.restorers.config_bounds)
    BOUNDS: ClassVar[dict[str, Bound]] = {
        "embed_dim": count(4096),
        "vision_image_size": count(2048),
        "vision_layers": count(64),
        "vision_width": count(4096),
        "vision_head_width": count(1024),
        "vision_patch_size": count(256),
        "vision_mlp_ratio": ratio(16.0),
        "text_context_length": count(2048),
        "text_vocab_size": count(1_000_000),
        "text_width": count(4096),
        "text_heads": count(128),
        "text_layers": count(64),
        "in_nc": count(64),
        "out_nc": count(64),
        "nf": count(1024),
        "ch_mult": count(64, max_len=8),
        "context_dim": count(4096),
        "max_sigma": ratio(1e4),
        "sde_steps": count(10_000),
        "eps": ratio(1.0),
        "seed": SEED,
    }
    # CLIP (open_clip CLIP with CLIPVisionCfg / CLIPTextCfg)
    embed_dim: int = 512
    vision_image_size: int = 224
    vision_layers: int = 12
    vision_width: int = 768
    vision_head_width: int = 64
    vision_patch_size: int = 32
    vision_mlp_ratio: float = 4.0
    text_context_length: int = 77
    text_vocab_size: int = 49408
    text_width: int = 512
    text_heads: int = 8
    text_layers: int = 12
    # ConditionalUNet (network_G.setting)
    in_nc: int = 3
    out_nc: int = 3
    nf: int = 64
    ch_mult: list[int] = field(default_factory=lambda: [1, 2, 4, 8])
    context_dim: int = 512
    use_degra_context: bool = True
    use_image_context: bool = True
    # IR-SDE (sde)
    max_sigma: float = 50.0
    sde_steps: int = 100
    schedule: str = "cosine"
    eps: float = 0.005
    sampling_mode: str = "posterior"  # posterior | sde
    #: seed of the sampler's noise (the initial noisy state and every reverse step)
    seed: int = 0
    #: run the DA-CLIP encoder under fp16 autocast on a GPU, as the official code does
    #: (config/daclip-sde/train.py:254, test.py:114 ``torch.cuda.amp.autocast()``); no effect on CPU
    clip_autocast: bool = True
