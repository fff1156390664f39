"""The DA-CLIP encoder with open_clip's module and parameter names (Algolzw/daclip-uir
``open_clip/{model,transformer,daclip_model}.py``), so ``daclip_ViT-B-32.pt`` loads strictly.

Only what the ViT DA-CLIP uses is kept: a CLIP with a ViT image tower and the causal text tower
(``CLIP``), the controller — a copy of the image tower whose ``Transformer`` is wrapped in a
``ControlTransformer`` adding one zero-initialised ``Linear`` per block — and ``DaCLIP`` tying them
together. No ``.cuda()`` calls; nothing is downloaded (weights come from ``ggt convert``).
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

#: CLIP's image normalisation (open_clip ``OPENAI_DATASET_MEAN`` / ``_STD``), used by the
#: official ``clip_transform``
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class LayerNorm(nn.LayerNorm):
    """open_clip's LayerNorm: computes in the input dtype and casts back."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        orig = x.dtype
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps).to(orig)


class ResidualAttentionBlock(nn.Module):
    """Pre-norm attention + MLP block (``ln_1``, ``attn``, ``ln_2``, ``mlp.c_fc``, ``mlp.c_proj``)."""

    def __init__(self, d_model: int, n_head: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.ln_1 = LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, n_head)
        self.ln_2 = LayerNorm(d_model)
        width = int(d_model * mlp_ratio)
        self.mlp = nn.Sequential(
            OrderedDict(
                [
                    ("c_fc", nn.Linear(d_model, width)),
                    ("gelu", nn.GELU()),
                    ("c_proj", nn.Linear(width, d_model)),
                ]
            )
        )

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = attn_mask.to(x.dtype) if attn_mask is not None else None
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    """A stack of blocks on ``(L, N, D)``; ``control`` adds the controller's hidden states, popped
    from the end of the list (so block 0 receives the controller's last output, as officially)."""

    def __init__(self, width: int, layers: int, heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.width = width
        self.layers = layers
        self.resblocks = nn.ModuleList(
            [ResidualAttentionBlock(width, heads, mlp_ratio) for _ in range(layers)]
        )

    def forward(self, x, attn_mask=None, output_hiddens: bool = False, control: list | None = None):
        hiddens = []
        for block in self.resblocks:
            x = block(x, attn_mask=attn_mask)
            if output_hiddens:
                hiddens.append(x)
            if control is not None:
                x = x + control.pop()
        return (x, hiddens) if output_hiddens else x


class ControlTransformer(nn.Module):
    """The controller's transformer: the wrapped blocks plus ``zero_modules`` (one ``Linear`` per
    block) whose outputs are the hidden states handed to the CLIP image tower."""

    def __init__(self, transformer: Transformer) -> None:
        super().__init__()
        self.transformer = transformer
        self.layers = transformer.layers
        self.width = transformer.width
        self.zero_modules = nn.ModuleList([nn.Linear(self.width, self.width) for _ in range(self.layers)])
        for module in self.zero_modules:
            nn.init.zeros_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(self, x, attn_mask=None, output_hiddens: bool = False, control: list | None = None):
        hiddens = []
        for zero, block in zip(self.zero_modules, self.transformer.resblocks, strict=True):
            x = block(x, attn_mask=attn_mask)
            if output_hiddens:
                hiddens.append(zero(x))
            if control is not None:
                x = x + control.pop()
        return (x, hiddens) if output_hiddens else x


class VisionTransformer(nn.Module):
    """open_clip's ViT image tower (class token pooling, ``ln_post`` then ``proj``)."""

    def __init__(self, image_size: int, patch_size: int, width: int, layers: int, heads: int,
                 mlp_ratio: float, output_dim: int) -> None:  # fmt: skip
        super().__init__()
        grid = image_size // patch_size
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        scale = width**-0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(grid * grid + 1, width))
        self.ln_pre = LayerNorm(width)
        self.transformer: nn.Module = Transformer(width, layers, heads, mlp_ratio)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def forward(self, x: torch.Tensor, output_hiddens: bool = False, control: list | None = None):
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding.to(x.dtype) + torch.zeros(
            x.shape[0], 1, x.shape[-1], dtype=x.dtype, device=x.device
        )
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x).permute(1, 0, 2)
        x = self.transformer(x, output_hiddens=output_hiddens, control=control)
        hiddens = None
        if output_hiddens:
            x, hiddens = x
        pooled = self.ln_post(x.permute(1, 0, 2)[:, 0]) @ self.proj
        return (pooled, hiddens) if output_hiddens else pooled


class CLIP(nn.Module):
    """open_clip ``CLIP``: ``visual`` plus the text tower's parts as direct attributes."""

    def __init__(self, cfg) -> None:
        super().__init__()
        self.visual = VisionTransformer(
            cfg.vision_image_size, cfg.vision_patch_size, cfg.vision_width, cfg.vision_layers,
            cfg.vision_width // cfg.vision_head_width, cfg.vision_mlp_ratio, cfg.embed_dim,
        )  # fmt: skip
        self.transformer = Transformer(cfg.text_width, cfg.text_layers, cfg.text_heads)
        self.token_embedding = nn.Embedding(cfg.text_vocab_size, cfg.text_width)
        self.positional_embedding = nn.Parameter(torch.empty(cfg.text_context_length, cfg.text_width))
        self.ln_final = LayerNorm(cfg.text_width)
        self.text_projection = nn.Parameter(torch.empty(cfg.text_width, cfg.embed_dim))
        mask = torch.full((cfg.text_context_length, cfg.text_context_length), float("-inf")).triu_(1)
        self.register_buffer("attn_mask", mask, persistent=False)
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        nn.init.normal_(self.text_projection, std=cfg.text_width**-0.5)

    def encode_text(self, text: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """Token ids ``(N, 77)`` → text features (taken at the end-of-text token)."""
        x = self.token_embedding(text) + self.positional_embedding
        x = self.transformer(x.permute(1, 0, 2), attn_mask=self.attn_mask).permute(1, 0, 2)
        x = self.ln_final(x)
        x = x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ self.text_projection
        return F.normalize(x, dim=-1) if normalize else x


class DaCLIP(nn.Module):
    """``clip`` (frozen CLIP), ``visual`` (the same module as ``clip.visual``, as officially: its
    weights appear under both names), ``visual_control`` (the controller) and ``logit_scale``."""

    def __init__(self, cfg) -> None:
        super().__init__()
        self.clip = CLIP(cfg)
        self.visual = self.clip.visual
        control = VisionTransformer(
            cfg.vision_image_size, cfg.vision_patch_size, cfg.vision_width, cfg.vision_layers,
            cfg.vision_width // cfg.vision_head_width, cfg.vision_mlp_ratio, cfg.embed_dim,
        )  # fmt: skip
        control.transformer = ControlTransformer(control.transformer)
        self.visual_control = control
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))

    def encode_image(self, image: torch.Tensor, control: bool = True, normalize: bool = False):
        """``(image_features, degradation_features)`` with ``control`` (the official test's call),
        else the plain CLIP image features."""
        if not control:
            features = self.clip.visual(image)
            return F.normalize(features, dim=-1) if normalize else features
        degra, hiddens = self.visual_control(image, output_hiddens=True)
        features = self.clip.visual(image, control=hiddens)
        if normalize:
            features, degra = F.normalize(features, dim=-1), F.normalize(degra, dim=-1)
        return features, degra


def clip_preprocess(x: torch.Tensor, resolution: int = 224) -> torch.Tensor:
    """The official ``clip_transform`` on a ``(N, 3, H, W)`` batch in [0, 1]: bicubic resize of the
    short side to ``resolution`` (antialiased, like PIL), centre crop, CLIP normalisation."""
    h, w = x.shape[-2:]
    scale = resolution / min(h, w)
    size = (max(resolution, round(h * scale)), max(resolution, round(w * scale)))
    y = F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
    top, left = (size[0] - resolution) // 2, (size[1] - resolution) // 2
    y = y[..., top : top + resolution, left : left + resolution]
    mean = torch.tensor(CLIP_MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (y - mean) / std
