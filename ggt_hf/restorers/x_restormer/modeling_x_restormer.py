"""X-Restormer (Chen et al., ECCV 2024) with the official parameter names.

A re-implementation of ``Andrew0613/X-Restormer`` ``xrestormer/archs/xrestormer_arch.py``: Restormer's
U-Net where each block pairs Restormer's transposed (channel) attention with an overlapping
cross-window spatial attention (OCAB, from HAT) with relative position embeddings. The channel
attention, LayerNorm, GDFN and resizing blocks are imported from
:mod:`ggt_hf.restorers.restormer.modeling_restormer`. The golden key/shape list
``tests/restorers/official_keys/x_restormer__paper.json`` was dumped from the official code.

Differences from the official code: ``einops`` rearranges are written as ``reshape``/``permute``;
the official super-resolution pre-upsampling (``scale``) is not exposed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ggt_hf.restorers.base import Restorer, RestorerCard
from ggt_hf.restorers.restormer.modeling_restormer import (
    Attention,
    Downsample,
    FeedForward,
    LayerNorm,
    OverlapPatchEmbed,
    Upsample,
)
from ggt_hf.restorers.x_restormer.configuration_x_restormer import XRestormerConfig


def rel_to_abs(x: torch.Tensor) -> torch.Tensor:
    """Relative logits ``(b, l, 2r-1)`` to absolute ``(b, l, r)`` (the pad-and-reshape trick)."""
    b, length, m = x.shape
    r = (m + 1) // 2
    x = F.pad(x, (0, 1)).reshape(b, length * (m + 1))
    x = F.pad(x, (0, m - length)).reshape(b, length + 1, m)
    return x[:, :length, -r:]


def relative_logits_1d(q: torch.Tensor, rel_k: torch.Tensor) -> torch.Tensor:
    """``(b, x, y, d)`` queries against 1-D relative keys -> ``(b, x, r, y, r)`` logits."""
    b, h, w, _ = q.shape
    r = (rel_k.shape[0] + 1) // 2
    logits = torch.einsum("bxyd,rd->bxyr", q, rel_k).reshape(b * h, w, -1)
    logits = rel_to_abs(logits).reshape(b, h, w, r)
    return logits.unsqueeze(2).expand(b, h, r, w, r)


class RelPosEmb(nn.Module):
    """Decomposed (height + width) relative position logits for window queries vs. overlapping keys."""

    def __init__(self, block_size: int, rel_size: int, dim_head: int) -> None:
        super().__init__()
        scale = dim_head**-0.5
        self.block_size = block_size
        self.rel_height = nn.Parameter(torch.randn(rel_size * 2 - 1, dim_head) * scale)
        self.rel_width = nn.Parameter(torch.randn(rel_size * 2 - 1, dim_head) * scale)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        b, n, d = q.shape
        block = self.block_size
        q = q.reshape(b, block, n // block, d)
        w = relative_logits_1d(q, self.rel_width)  # b x i y j -> b (x y) (i j)
        w = w.permute(0, 1, 3, 2, 4).reshape(b, n, -1)
        h = relative_logits_1d(q.transpose(1, 2), self.rel_height)  # b x i y j -> b (y x) (j i)
        h = h.permute(0, 3, 1, 4, 2).reshape(b, n, -1)
        return w + h


def _split_heads(t: torch.Tensor, heads: int) -> torch.Tensor:
    """``b n (head c) -> (b head) n c``."""
    b, n, c = t.shape
    return t.reshape(b, n, heads, c // heads).transpose(1, 2).reshape(b * heads, n, c // heads)


class OCAB(nn.Module):
    """Overlapping cross-window attention: queries from ``window_size`` windows attend to keys and
    values from enlarged, overlapping ``window_size * (1 + overlap_ratio)`` windows."""

    def __init__(
        self, dim: int, window_size: int, overlap_ratio: float, num_heads: int, dim_head: int, bias: bool
    ) -> None:
        super().__init__()
        self.num_spatial_heads = num_heads
        self.window_size = window_size
        self.overlap_win_size = int(window_size * overlap_ratio) + window_size
        self.inner_dim = dim_head * num_heads
        self.scale = dim_head**-0.5
        self.unfold = nn.Unfold(
            kernel_size=(self.overlap_win_size, self.overlap_win_size),
            stride=window_size,
            padding=(self.overlap_win_size - window_size) // 2,
        )
        self.qkv = nn.Conv2d(dim, self.inner_dim * 3, kernel_size=1, bias=bias)
        self.project_out = nn.Conv2d(self.inner_dim, dim, kernel_size=1, bias=bias)
        self.rel_pos_emb = RelPosEmb(window_size, self.overlap_win_size, dim_head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        ws, heads, inner = self.window_size, self.num_spatial_heads, self.inner_dim
        nh, nw = h // ws, w // ws
        qs, ks, vs = self.qkv(x).chunk(3, dim=1)
        # b c (h p1) (w p2) -> (b h w) (p1 p2) c
        qs = (
            qs.reshape(b, inner, nh, ws, nw, ws)
            .permute(0, 2, 4, 3, 5, 1)
            .reshape(b * nh * nw, ws * ws, inner)
        )
        # unfold: b (c j) i -> (b i) j c
        ks, vs = (
            self.unfold(t).reshape(b, inner, -1, nh * nw).permute(0, 3, 2, 1).reshape(b * nh * nw, -1, inner)
            for t in (ks, vs)
        )
        qs, ks, vs = (_split_heads(t, heads) for t in (qs, ks, vs))
        qs = qs * self.scale
        attn = (qs @ ks.transpose(-2, -1) + self.rel_pos_emb(qs)).softmax(dim=-1)
        out = attn @ vs  # (b h w head) (p1 p2) c -> b (head c) (h p1) (w p2)
        out = out.reshape(b, nh, nw, heads, ws, ws, -1).permute(0, 3, 6, 1, 4, 2, 5).reshape(b, inner, h, w)
        return self.project_out(out)


class TransformerBlock(nn.Module):
    """Channel attention + GDFN, then overlapping window attention + GDFN (all pre-norm)."""

    def __init__(self, dim: int, level: int, config: XRestormerConfig) -> None:
        super().__init__()
        c = config
        self.spatial_attn = OCAB(
            dim, c.window_size, c.overlap_ratio[level], c.spatial_heads[level], c.spatial_dim_head, c.bias
        )
        self.channel_attn = Attention(dim, c.channel_heads[level], c.bias)  # official "ChannelAttention"
        self.norm1 = LayerNorm(dim, c.LayerNorm_type)
        self.norm2 = LayerNorm(dim, c.LayerNorm_type)
        self.norm3 = LayerNorm(dim, c.LayerNorm_type)
        self.norm4 = LayerNorm(dim, c.LayerNorm_type)
        self.channel_ffn = FeedForward(dim, c.ffn_expansion_factor, c.bias)
        self.spatial_ffn = FeedForward(dim, c.ffn_expansion_factor, c.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.channel_attn(self.norm1(x))
        x = x + self.channel_ffn(self.norm2(x))
        x = x + self.spatial_attn(self.norm3(x))
        return x + self.spatial_ffn(self.norm4(x))


X_RESTORMER_CITATION = """@inproceedings{chen2024comparative,
  title={A Comparative Study of Image Restoration Networks for General Backbone Network Design},
  author={Chen, Xiangyu and Li, Zheyuan and Pu, Yuandong and Liu, Yihao and Zhou, Jiantao and Qiao, Yu and Dong, Chao},
  booktitle={ECCV},
  year={2024}
}"""


class XRestormer(Restorer):
    """X-Restormer: Restormer with added overlapping-window spatial attention in every block.

    H, W fed to ``forward`` must be multiples of ``8 * window_size`` (64 by default; the official test
    options pad to 64 as well); :meth:`restore` pads. ``aux_loss`` is always ``None``.
    """

    config_class = XRestormerConfig
    size_multiple = 64
    card = RestorerCard(
        title="X-Restormer",
        paper="A Comparative Study of Image Restoration Networks for General Backbone Network Design (ECCV 2024)",
        paper_url="https://arxiv.org/abs/2310.11881",
        official_repo="https://github.com/Andrew0613/X-Restormer",
        checkpoint_layout=(
            'Official basicsr .pth files (e.g. derain_155k.pth) hold the weights under "params"; parameter '
            "names are identical, so `ggt convert` only unwraps that key."
        ),
        citation=X_RESTORMER_CITATION,
        description=(
            "A general restoration backbone: each Restormer block gains an overlapping cross-window "
            "spatial attention (with relative positions) beside the transposed channel attention, giving "
            "both global channel mixing and local spatial mixing (26.0M parameters)."
        ),
    )

    def __init__(self, config: XRestormerConfig | None = None) -> None:
        super().__init__(config)
        c = self.config
        dim = c.dim
        self.size_multiple = 8 * c.window_size

        def level(width: int, lvl: int, n_blocks: int) -> nn.Sequential:
            return nn.Sequential(*[TransformerBlock(width, lvl, c) for _ in range(n_blocks)])

        self.patch_embed = OverlapPatchEmbed(c.inp_channels, dim)
        self.encoder_level1 = level(dim, 0, c.num_blocks[0])
        self.down1_2 = Downsample(dim)
        self.encoder_level2 = level(dim * 2, 1, c.num_blocks[1])
        self.down2_3 = Downsample(dim * 2)
        self.encoder_level3 = level(dim * 4, 2, c.num_blocks[2])
        self.down3_4 = Downsample(dim * 4)
        self.latent = level(dim * 8, 3, c.num_blocks[3])
        self.up4_3 = Upsample(dim * 8)
        self.reduce_chan_level3 = nn.Conv2d(dim * 8, dim * 4, kernel_size=1, bias=c.bias)
        self.decoder_level3 = level(dim * 4, 2, c.num_blocks[2])
        self.up3_2 = Upsample(dim * 4)
        self.reduce_chan_level2 = nn.Conv2d(dim * 4, dim * 2, kernel_size=1, bias=c.bias)
        self.decoder_level2 = level(dim * 2, 1, c.num_blocks[1])
        self.up2_1 = Upsample(dim * 2)
        self.decoder_level1 = level(dim * 2, 0, c.num_blocks[0])
        self.refinement = level(dim * 2, 0, c.num_refinement_blocks)
        self.output = nn.Conv2d(dim * 2, c.out_channels, kernel_size=3, padding=1, bias=c.bias)

    def forward(self, inp_img: torch.Tensor) -> torch.Tensor:
        out_enc_level1 = self.encoder_level1(self.patch_embed(inp_img))
        out_enc_level2 = self.encoder_level2(self.down1_2(out_enc_level1))
        out_enc_level3 = self.encoder_level3(self.down2_3(out_enc_level2))
        latent = self.latent(self.down3_4(out_enc_level3))

        x = self.reduce_chan_level3(torch.cat([self.up4_3(latent), out_enc_level3], 1))
        x = self.decoder_level3(x)
        x = self.reduce_chan_level2(torch.cat([self.up3_2(x), out_enc_level2], 1))
        x = self.decoder_level2(x)
        x = self.decoder_level1(torch.cat([self.up2_1(x), out_enc_level1], 1))
        return self.output(self.refinement(x)) + inp_img
