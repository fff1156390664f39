"""Restormer (Zamir et al., CVPR 2022) with the official parameter names.

A re-implementation of ``swz30/Restormer`` ``basicsr/models/archs/restormer_arch.py``: every module
attribute keeps its official name so an official checkpoint's ``params`` load with
``load_state_dict(strict=True)`` (``tests/restorers/official_keys/restormer__deraining.json`` is the
golden key/shape list dumped from the official code). The building blocks here (channel-wise
LayerNorm, MDTA attention, GDFN feed-forward, pixel-(un)shuffle resizing) are shared by X-Restormer,
PromptIR and MoCE-IR, which all descend from Restormer.

Differences from the official code (none change parameters or outputs beyond float rounding): the
LayerNorms normalise over the channel axis of the NCHW tensor directly instead of reshaping to
``(B, HW, C)`` and back, and head splitting uses ``reshape`` instead of ``einops``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ggt_hf.restorers.base import Restorer, RestorerCard
from ggt_hf.restorers.restormer.configuration_restormer import RestormerConfig

_EPS = 1e-5


class BiasFreeLayerNorm(nn.Module):
    """LayerNorm over channels without mean subtraction or bias (official ``BiasFree_LayerNorm``)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var = x.var(1, keepdim=True, unbiased=False)
        return x / torch.sqrt(var + _EPS) * self.weight[:, None, None]


class WithBiasLayerNorm(nn.Module):
    """Standard LayerNorm over the channel axis of an NCHW tensor (official ``WithBias_LayerNorm``)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(1, keepdim=True)
        var = x.var(1, keepdim=True, unbiased=False)
        return (x - mu) / torch.sqrt(var + _EPS) * self.weight[:, None, None] + self.bias[:, None, None]


class LayerNorm(nn.Module):
    """Channel LayerNorm; ``layer_norm_type`` is "BiasFree" or anything else for "WithBias"."""

    def __init__(self, dim: int, layer_norm_type: str) -> None:
        super().__init__()
        self.body = BiasFreeLayerNorm(dim) if layer_norm_type == "BiasFree" else WithBiasLayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class FeedForward(nn.Module):
    """Gated-Dconv Feed-Forward Network (GDFN)."""

    def __init__(self, dim: int, ffn_expansion_factor: float, bias: bool) -> None:
        super().__init__()
        hidden = int(dim * ffn_expansion_factor)
        self.project_in = nn.Conv2d(dim, hidden * 2, kernel_size=1, bias=bias)
        self.dwconv = nn.Conv2d(hidden * 2, hidden * 2, 3, padding=1, groups=hidden * 2, bias=bias)
        self.project_out = nn.Conv2d(hidden, dim, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(x1) * x2)


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``b (head c) h w -> b head c (h w)``."""
    b, c, h, w = x.shape
    return x.reshape(b, heads, c // heads, h * w)


def transposed_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, temperature: torch.Tensor
) -> torch.Tensor:
    """Restormer's channel ("transposed") attention of NCHW ``q``, ``k``, ``v``; returns NCHW."""
    b, c, h, w = v.shape
    q = F.normalize(split_heads(q, heads), dim=-1)
    k = F.normalize(split_heads(k, heads), dim=-1)
    attn = ((q @ k.transpose(-2, -1)) * temperature).softmax(dim=-1)
    return (attn @ split_heads(v, heads)).reshape(b, c, h, w)


class Attention(nn.Module):
    """Multi-Dconv Head Transposed Self-Attention (MDTA)."""

    def __init__(self, dim: int, num_heads: int, bias: bool) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = nn.Conv2d(dim, dim * 3, kernel_size=1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(dim * 3, dim * 3, 3, padding=1, groups=dim * 3, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)
        return self.project_out(transposed_attention(q, k, v, self.num_heads, self.temperature))


class TransformerBlock(nn.Module):
    """Pre-norm MDTA + GDFN block."""

    def __init__(
        self, dim: int, num_heads: int, ffn_expansion_factor: float, bias: bool, layer_norm_type: str
    ) -> None:
        super().__init__()
        self.norm1 = LayerNorm(dim, layer_norm_type)
        self.attn = Attention(dim, num_heads, bias)
        self.norm2 = LayerNorm(dim, layer_norm_type)
        self.ffn = FeedForward(dim, ffn_expansion_factor, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class OverlapPatchEmbed(nn.Module):
    """3x3 convolution embedding."""

    def __init__(self, in_c: int = 3, embed_dim: int = 48, bias: bool = False) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_c, embed_dim, kernel_size=3, padding=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class Downsample(nn.Module):
    """Halve H and W, double channels (conv to ``n_feat // 2`` then pixel-unshuffle)."""

    def __init__(self, n_feat: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(n_feat, n_feat // 2, 3, padding=1, bias=False), nn.PixelUnshuffle(2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Upsample(nn.Module):
    """Double H and W, halve channels (conv to ``n_feat * 2`` then pixel-shuffle)."""

    def __init__(self, n_feat: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(n_feat, n_feat * 2, 3, padding=1, bias=False), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


RESTORMER_CITATION = """@inproceedings{Zamir2021Restormer,
  title={Restormer: Efficient Transformer for High-Resolution Image Restoration},
  author={Syed Waqas Zamir and Aditya Arora and Salman Khan and Munawar Hayat and Fahad Shahbaz Khan and Ming-Hsuan Yang},
  booktitle={CVPR},
  year={2022}
}"""


class Restormer(Restorer):
    """Restormer: a 4-level U-Net of transposed-attention transformer blocks with a global residual.

    ``forward`` takes ``(N, inp_channels, H, W)`` in [0, 1] with H, W multiples of 8 (use
    :meth:`~ggt_hf.restorers.base.Restorer.restore` for any size) and returns the restored image.
    ``aux_loss`` is always ``None`` (no auxiliary objective).
    """

    config_class = RestormerConfig
    size_multiple = 8
    card = RestorerCard(
        title="Restormer",
        paper="Restormer: Efficient Transformer for High-Resolution Image Restoration (CVPR 2022)",
        paper_url="https://arxiv.org/abs/2111.09881",
        official_repo="https://github.com/swz30/Restormer",
        checkpoint_layout=(
            "Official basicsr .pth files (e.g. deraining.pth, motion_deblurring.pth) hold the weights "
            'under "params"; parameter names are identical, so `ggt convert` only unwraps that key.'
        ),
        citation=RESTORMER_CITATION,
        description=(
            "Encoder-decoder transformer whose multi-Dconv head transposed attention (MDTA) attends "
            "across channels, so its cost is linear in the number of pixels; gated-Dconv feed-forward "
            "networks (GDFN) mix locally. Defaults are the deraining / motion-deblurring model (26.1M parameters)."
        ),
    )

    def __init__(self, config: RestormerConfig | None = None) -> None:
        super().__init__(config)
        c = self.config
        dim, heads, norm = c.dim, c.heads, c.LayerNorm_type

        def level(width: int, n_heads: int, n_blocks: int) -> nn.Sequential:
            return nn.Sequential(
                *[
                    TransformerBlock(width, n_heads, c.ffn_expansion_factor, c.bias, norm)
                    for _ in range(n_blocks)
                ]
            )

        self.patch_embed = OverlapPatchEmbed(c.inp_channels, dim)
        self.encoder_level1 = level(dim, heads[0], c.num_blocks[0])
        self.down1_2 = Downsample(dim)
        self.encoder_level2 = level(dim * 2, heads[1], c.num_blocks[1])
        self.down2_3 = Downsample(dim * 2)
        self.encoder_level3 = level(dim * 4, heads[2], c.num_blocks[2])
        self.down3_4 = Downsample(dim * 4)
        self.latent = level(dim * 8, heads[3], c.num_blocks[3])
        self.up4_3 = Upsample(dim * 8)
        self.reduce_chan_level3 = nn.Conv2d(dim * 8, dim * 4, kernel_size=1, bias=c.bias)
        self.decoder_level3 = level(dim * 4, heads[2], c.num_blocks[2])
        self.up3_2 = Upsample(dim * 4)
        self.reduce_chan_level2 = nn.Conv2d(dim * 4, dim * 2, kernel_size=1, bias=c.bias)
        self.decoder_level2 = level(dim * 2, heads[1], c.num_blocks[1])
        self.up2_1 = Upsample(dim * 2)  # level 2 -> 1 keeps 2*dim channels (no 1x1 reduction)
        self.decoder_level1 = level(dim * 2, heads[0], c.num_blocks[0])
        self.refinement = level(dim * 2, heads[0], c.num_refinement_blocks)
        if c.dual_pixel_task:
            self.skip_conv = nn.Conv2d(dim, dim * 2, kernel_size=1, bias=c.bias)
        self.output = nn.Conv2d(dim * 2, c.out_channels, kernel_size=3, padding=1, bias=c.bias)

    def forward(self, inp_img: torch.Tensor) -> torch.Tensor:
        inp_enc_level1 = self.patch_embed(inp_img)
        out_enc_level1 = self.encoder_level1(inp_enc_level1)
        out_enc_level2 = self.encoder_level2(self.down1_2(out_enc_level1))
        out_enc_level3 = self.encoder_level3(self.down2_3(out_enc_level2))
        latent = self.latent(self.down3_4(out_enc_level3))

        x = self.reduce_chan_level3(torch.cat([self.up4_3(latent), out_enc_level3], 1))
        x = self.decoder_level3(x)
        x = self.reduce_chan_level2(torch.cat([self.up3_2(x), out_enc_level2], 1))
        x = self.decoder_level2(x)
        x = self.decoder_level1(torch.cat([self.up2_1(x), out_enc_level1], 1))
        x = self.refinement(x)
        if self.config.dual_pixel_task:
            return self.output(x + self.skip_conv(inp_enc_level1))
        return self.output(x) + inp_img
