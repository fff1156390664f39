"""FoundIR's ``UnetRes`` / ``Unet`` with the module and parameter names of House-Leo/FoundIR
``src/model.py`` (weight-standardised convs + GroupNorm blocks, linear attention per level, full
attention in the middle). Shared blocks live in :mod:`ggt_hf.restorers.diffusion_blocks`.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from ggt_hf.restorers.diffusion_blocks import (
    LinearAttention,
    PreNorm,
    Residual,
    SinusoidalPosEmb,
    pad_to_multiple,
)


class WeightStandardizedConv2d(nn.Conv2d):
    """Conv2d whose kernel is standardised per output channel at every call."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        eps = 1e-5 if x.dtype == torch.float32 else 1e-3
        w = self.weight
        mean = w.mean(dim=(1, 2, 3), keepdim=True)
        var = w.var(dim=(1, 2, 3), unbiased=False, keepdim=True)
        return F.conv2d(
            x,
            (w - mean) * (var + eps).rsqrt(),
            self.bias,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
        )


class Block(nn.Module):
    def __init__(self, dim: int, dim_out: int, groups: int = 8) -> None:
        super().__init__()
        self.proj = WeightStandardizedConv2d(dim, dim_out, 3, padding=1)
        self.norm = nn.GroupNorm(groups, dim_out)
        self.act = nn.SiLU()

    def forward(self, x, scale_shift=None):
        x = self.norm(self.proj(x))
        if scale_shift is not None:
            scale, shift = scale_shift
            x = x * (scale + 1) + shift
        return self.act(x)


class ResnetBlock(nn.Module):
    def __init__(self, dim: int, dim_out: int, *, time_emb_dim: int, groups: int = 8) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(time_emb_dim, dim_out * 2))
        self.block1 = Block(dim, dim_out, groups=groups)
        self.block2 = Block(dim_out, dim_out, groups=groups)
        self.res_conv = nn.Conv2d(dim, dim_out, 1) if dim != dim_out else nn.Identity()

    def forward(self, x, time_emb):
        scale_shift = self.mlp(time_emb)[:, :, None, None].chunk(2, dim=1)
        return self.block2(self.block1(x, scale_shift=scale_shift)) + self.res_conv(x)


class Attention(nn.Module):
    """Full softmax attention over all positions (4 heads of 32)."""

    def __init__(self, dim: int, heads: int = 4, dim_head: int = 32) -> None:
        super().__init__()
        self.scale = dim_head**-0.5
        self.heads = heads
        hidden = dim_head * heads
        self.to_qkv = nn.Conv2d(dim, hidden * 3, 1, bias=False)
        self.to_out = nn.Conv2d(hidden, dim, 1)

    def forward(self, x):
        b, _, h, w = x.shape
        q, k, v = (
            t.reshape(b, self.heads, -1, h * w).transpose(-1, -2) for t in self.to_qkv(x).chunk(3, dim=1)
        )
        out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        return self.to_out(out.transpose(-1, -2).reshape(b, -1, h, w))


class Unet(nn.Module):
    """The official conditional ``Unet`` (input: noisy state and LQ concatenated)."""

    def __init__(self, dim: int, dim_mults=(1, 2, 4, 8), channels: int = 3, resnet_block_groups: int = 8,
                 condition: bool = True) -> None:  # fmt: skip
        super().__init__()
        self.channels = channels
        self.depth = len(dim_mults)
        self.init_conv = nn.Conv2d(channels * (2 if condition else 1), dim, 7, padding=3)
        dims = [dim, *(dim * m for m in dim_mults)]
        in_out = list(itertools.pairwise(dims))
        time_dim = dim * 4
        self.time_mlp = nn.Sequential(
            SinusoidalPosEmb(dim), nn.Linear(dim, time_dim), nn.GELU(), nn.Linear(time_dim, time_dim)
        )

        def block(a: int, b: int) -> ResnetBlock:
            return ResnetBlock(a, b, time_emb_dim=time_dim, groups=resnet_block_groups)

        self.downs = nn.ModuleList([])
        self.ups = nn.ModuleList([])
        for ind, (dim_in, dim_out) in enumerate(in_out):
            last = ind >= len(in_out) - 1
            self.downs.append(nn.ModuleList([
                block(dim_in, dim_in), block(dim_in, dim_in), Residual(PreNorm(dim_in, LinearAttention(dim_in))),
                nn.Conv2d(dim_in, dim_out, 4, 2, 1) if not last else nn.Conv2d(dim_in, dim_out, 3, padding=1),
            ]))  # fmt: skip
        mid = dims[-1]
        self.mid_block1 = block(mid, mid)
        self.mid_attn = Residual(PreNorm(mid, Attention(mid)))
        self.mid_block2 = block(mid, mid)
        for ind, (dim_in, dim_out) in enumerate(reversed(in_out)):
            last = ind == len(in_out) - 1
            self.ups.append(nn.ModuleList([
                block(dim_out + dim_in, dim_out), block(dim_out + dim_in, dim_out),
                Residual(PreNorm(dim_out, LinearAttention(dim_out))),
                nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(dim_out, dim_in, 3, padding=1))
                if not last else nn.Conv2d(dim_out, dim_in, 3, padding=1),
            ]))  # fmt: skip
        self.final_res_block = block(dim * 2, dim)
        self.final_conv = nn.Conv2d(dim, channels, 1)

    def forward(self, x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        h0, w0 = x.shape[2:]
        x = self.init_conv(pad_to_multiple(x, 2**self.depth))
        r = x.clone()
        t = self.time_mlp(time)
        skips = []
        for block1, block2, attn, downsample in self.downs:
            x = block1(x, t)
            skips.append(x)
            x = attn(block2(x, t))
            skips.append(x)
            x = downsample(x)
        x = self.mid_block2(self.mid_attn(self.mid_block1(x, t)), t)
        for block1, block2, attn, upsample in self.ups:
            x = block1(torch.cat((x, skips.pop()), dim=1), t)
            x = block2(torch.cat((x, skips.pop()), dim=1), t)
            x = upsample(attn(x))
        x = self.final_res_block(torch.cat((x, r), dim=1), t)
        return self.final_conv(x)[..., :h0, :w0].contiguous()


class UnetRes(nn.Module):
    """``UnetRes(num_unet=1, objective="pred_res")``: one ``unet0`` predicting the residual, timed by
    ``alphas_cumsum[t]·T`` (the first of the two time values the diffusion passes)."""

    def __init__(
        self, dim: int, dim_mults=(1, 2, 4, 8), channels: int = 3, resnet_block_groups: int = 8
    ) -> None:
        super().__init__()
        self.channels = channels
        self.unet0 = Unet(dim, dim_mults, channels, resnet_block_groups, condition=True)

    def forward(self, x: torch.Tensor, time: list[torch.Tensor]) -> list[torch.Tensor]:
        return [self.unet0(x, time[0])]
