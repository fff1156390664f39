"""DA-CLIP's restoration network ``ConditionalUNet`` with the module and parameter names of the
official ``config/daclip-sde/models/modules/{DenoisingUNet_arch,module_util,attention}.py``
(Algolzw/daclip-uir), so ``universal-ir.pth`` loads strictly. Shared blocks live in :mod:`ggt_hf.restorers.diffusion_blocks`.

The UNet predicts the noise of an IR-SDE state ``xt`` given the low-quality image ``cond`` (the
SDE's mean), the time step, the DA-CLIP degradation embedding (``text_context``: a learned prompt
weighted by it is added to the time embedding) and the DA-CLIP image embedding (``image_context``:
cross-attention keys/values in the deepest level).
"""

from __future__ import annotations

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


def default_conv(dim_in: int, dim_out: int, kernel_size: int = 3, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(dim_in, dim_out, kernel_size, padding=kernel_size // 2, bias=bias)


class Block(nn.Module):
    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.proj = default_conv(dim_in, dim_out)
        self.act = nn.SiLU()

    def forward(self, x, scale_shift=None):
        x = self.proj(x)
        if scale_shift is not None:
            scale, shift = scale_shift
            x = x * (scale + 1) + shift
        return self.act(x)


class ResBlock(nn.Module):
    """Two conv blocks with a time-embedding scale/shift; 1×1 residual conv when widths differ."""

    def __init__(self, dim_in: int, dim_out: int, time_emb_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(time_emb_dim, dim_out * 2))
        self.block1 = Block(dim_in, dim_out)
        self.block2 = Block(dim_out, dim_out)
        self.res_conv = default_conv(dim_in, dim_out, 1) if dim_in != dim_out else nn.Identity()

    def forward(self, x, time_emb):
        scale_shift = self.mlp(time_emb)[:, :, None, None].chunk(2, dim=1)
        h = self.block2(self.block1(x, scale_shift=scale_shift))
        return h + self.res_conv(x)


class CrossAttention(nn.Module):
    def __init__(
        self, query_dim: int, context_dim: int | None = None, heads: int = 8, dim_head: int = 64
    ) -> None:
        super().__init__()
        inner = dim_head * heads
        context_dim = context_dim or query_dim
        self.scale = dim_head**-0.5
        self.heads = heads
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, query_dim), nn.Dropout(0.0))

    def forward(self, x, context=None):
        context = x if context is None else context
        q, k, v = self.to_q(x), self.to_k(context), self.to_v(context)
        b, h = x.shape[0], self.heads
        q, k, v = (t.reshape(b, t.shape[1], h, -1).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        return self.to_out(out.transpose(1, 2).reshape(b, x.shape[1], -1))


class GEGLU(nn.Module):
    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x):
        x, gate = self.proj(x).chunk(2, dim=-1)
        return x * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__()
        self.net = nn.Sequential(GEGLU(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim))

    def forward(self, x):
        return self.net(x)


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim: int, n_heads: int, d_head: int, context_dim: int | None) -> None:
        super().__init__()
        self.attn1 = CrossAttention(dim, heads=n_heads, dim_head=d_head)
        self.ff = FeedForward(dim)
        self.attn2 = CrossAttention(dim, context_dim=context_dim, heads=n_heads, dim_head=d_head)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, x, context=None):
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), context=context) + x
        return self.ff(self.norm3(x)) + x


class SpatialTransformer(nn.Module):
    """GroupNorm → 1×1 conv → transformer block(s) attending to ``context`` → zero-init 1×1 conv."""

    def __init__(
        self, in_channels: int, n_heads: int, d_head: int, depth: int = 1, context_dim: int | None = None
    ) -> None:
        super().__init__()
        inner = n_heads * d_head
        self.norm = nn.GroupNorm(32, in_channels, eps=1e-6, affine=True)
        self.proj_in = nn.Conv2d(in_channels, inner, 1)
        self.transformer_blocks = nn.ModuleList(
            [BasicTransformerBlock(inner, n_heads, d_head, context_dim) for _ in range(depth)]
        )
        self.proj_out = nn.Conv2d(inner, in_channels, 1)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, x, context=None):
        b, _c, h, w = x.shape
        y = self.proj_in(self.norm(x)).flatten(2).transpose(1, 2)
        for block in self.transformer_blocks:
            y = block(y, context=context)
        return self.proj_out(y.transpose(1, 2).reshape(b, -1, h, w)) + x


def _attention(
    dim: int, level: int, use_image_context: bool, context_dim: int, head_ch: int = 32
) -> nn.Module:
    """Linear attention in the first three levels, cross-attention to the image context below."""
    if use_image_context and context_dim > 0 and level >= 3:
        return SpatialTransformer(dim, dim // head_ch, head_ch, depth=1, context_dim=context_dim)
    return LinearAttention(dim)


class ConditionalUNet(nn.Module):
    """The official ``ConditionalUNet(in_nc, out_nc, nf, ch_mult, context_dim, use_degra_context,
    use_image_context)``."""

    def __init__(self, in_nc=3, out_nc=3, nf=64, ch_mult=(1, 2, 4, 4), context_dim=512,
                 use_degra_context=True, use_image_context=False) -> None:  # fmt: skip
        super().__init__()
        self.depth = len(ch_mult)
        self.context_dim = -1 if context_dim is None else context_dim
        self.use_image_context = use_image_context
        self.use_degra_context = use_degra_context
        self.init_conv = default_conv(in_nc * 2, nf, 7)
        time_dim = nf * 4
        self.time_mlp = nn.Sequential(
            SinusoidalPosEmb(nf), nn.Linear(nf, time_dim), nn.GELU(), nn.Linear(time_dim, time_dim)
        )
        if self.context_dim > 0 and use_degra_context:
            self.prompt = nn.Parameter(torch.rand(1, time_dim))
            self.text_mlp = nn.Sequential(
                nn.Linear(context_dim, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim)
            )
            self.prompt_mlp = nn.Linear(time_dim, time_dim)
        self.downs = nn.ModuleList([])
        self.ups = nn.ModuleList([])
        mults = [1, *ch_mult]
        for i in range(self.depth):
            dim_in, dim_out = nf * mults[i], nf * mults[i + 1]
            att_down = _attention(dim_in, i, use_image_context, self.context_dim)
            att_up = _attention(dim_out, i, use_image_context, self.context_dim)
            last = i == self.depth - 1
            self.downs.append(nn.ModuleList([
                ResBlock(dim_in, dim_in, time_dim), ResBlock(dim_in, dim_in, time_dim),
                Residual(PreNorm(dim_in, att_down)),
                nn.Conv2d(dim_in, dim_out, 4, 2, 1) if not last else default_conv(dim_in, dim_out),
            ]))  # fmt: skip
            self.ups.insert(0, nn.ModuleList([
                ResBlock(dim_out + dim_in, dim_out, time_dim), ResBlock(dim_out + dim_in, dim_out, time_dim),
                Residual(PreNorm(dim_out, att_up)),
                nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(dim_out, dim_in, 3, 1, 1))
                if i != 0 else default_conv(dim_out, dim_in),
            ]))  # fmt: skip
        mid = nf * mults[-1]
        self.mid_block1 = ResBlock(mid, mid, time_dim)
        self.mid_attn = Residual(PreNorm(mid, _attention(mid, 3, use_image_context, self.context_dim)))
        self.mid_block2 = ResBlock(mid, mid, time_dim)
        self.final_res_block = ResBlock(nf * 2, nf, time_dim)
        self.final_conv = nn.Conv2d(nf, out_nc, 3, 1, 1)

    def forward(self, xt, cond, time, text_context=None, image_context=None):
        """Predicted noise of ``xt``; H, W are reflect-padded to a multiple of 2**depth inside."""
        x = torch.cat([xt - cond, cond], dim=1)
        h0, w0 = x.shape[2:]
        x = pad_to_multiple(x, 2**self.depth)
        x = self.init_conv(x)
        x_ = x.clone()
        t = self.time_mlp(time)
        if self.context_dim > 0:
            if self.use_degra_context and text_context is not None:
                prompt = torch.softmax(self.text_mlp(text_context), dim=1) * self.prompt
                t = t + self.prompt_mlp(prompt)
            if self.use_image_context and image_context is not None:
                image_context = image_context.unsqueeze(1)
        skips = []
        for b1, b2, attn, downsample in self.downs:
            x = b1(x, t)
            skips.append(x)
            x = attn(b2(x, t), context=image_context)
            skips.append(x)
            x = downsample(x)
        x = self.mid_block2(self.mid_attn(self.mid_block1(x, t), context=image_context), t)
        for b1, b2, attn, upsample in self.ups:
            x = b1(torch.cat([x, skips.pop()], dim=1), t)
            x = b2(torch.cat([x, skips.pop()], dim=1), t)
            x = upsample(attn(x, context=image_context))
        x = self.final_res_block(torch.cat([x, x_], dim=1), t)
        return self.final_conv(x)[..., :h0, :w0].contiguous()
