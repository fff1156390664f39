"""SwinIR for same-size restoration (denoising / JPEG artifact reduction), with the module, parameter
and buffer names of the official ``models/network_swinir.py`` (JingyunLiang/SwinIR), so released
checkpoints load with ``load_state_dict(strict=True)`` after unwrapping ``"params"``.

Deviations that do not touch the state dict: timm's ``DropPath`` is torchvision's
``StochasticDepth(mode="row")`` (the same operation; torchvision is already a dependency, timm is not),
the RGB mean is a non-persistent buffer (the official plain attribute did not follow ``.to()``), and
gradient checkpointing passes ``x_size`` (the official call omits it and fails). The SR upsamplers and
the FLOP counters are left out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn
from torchvision.ops import StochasticDepth

from ggt_hf.restorers.base import Restorer, RestorerCard
from ggt_hf.restorers.checkpoint_layouts import OFFICIAL_CHECKPOINTS
from ggt_hf.restorers.swinir.configuration_swinir import SwinIRConfig

Size = tuple[int, int]


class Mlp(nn.Module):
    """Linear → GELU → Linear (with dropout)."""

    def __init__(self, in_features: int, hidden_features: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, in_features)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


def window_partition(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """``(B, H, W, C)`` → ``(B·nW, window_size, window_size, C)``."""
    b, h, w, c = x.shape
    x = x.view(b, h // window_size, window_size, w // window_size, window_size, c)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, window_size, window_size, c)


def window_reverse(windows: torch.Tensor, window_size: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: → ``(B, H, W, C)``."""
    b = int(windows.shape[0] / (h * w / window_size / window_size))
    x = windows.view(b, h // window_size, w // window_size, window_size, window_size, -1)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(b, h, w, -1)


class WindowAttention(nn.Module):
    """Window multi-head self-attention with a learnt relative position bias."""

    def __init__(
        self,
        dim: int,
        window_size: Size,
        num_heads: int,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.window_size = window_size
        self.num_heads = num_heads
        self.scale = qk_scale or (dim // num_heads) ** -0.5
        wh, ww = window_size
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * wh - 1) * (2 * ww - 1), num_heads))
        coords = torch.stack(torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij")).flatten(1)
        relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
        relative[:, :, 0] += wh - 1
        relative[:, :, 1] += ww - 1
        relative[:, :, 0] *= 2 * ww - 1
        self.register_buffer("relative_position_index", relative.sum(-1))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x``: ``(nW·B, N, C)``; ``mask``: ``(nW, N, N)`` of 0 / −100, or ``None``."""
        b_, n, c = x.shape
        qkv = self.qkv(x).reshape(b_, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        attn = attn + bias.permute(2, 0, 1).contiguous().unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(b_ // nw, nw, self.num_heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, n, n)
        attn = self.attn_drop(self.softmax(attn))
        x = (attn @ v).transpose(1, 2).reshape(b_, n, c)
        return self.proj_drop(self.proj(x))


class SwinTransformerBlock(nn.Module):
    """(Shifted-)window attention + MLP, each with a pre-norm and a residual."""

    def __init__(
        self,
        dim: int,
        input_resolution: Size,
        num_heads: int,
        window_size: int = 7,
        shift_size: int = 0,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.input_resolution = input_resolution
        self.window_size = window_size
        self.shift_size = shift_size
        if min(input_resolution) <= window_size:  # the window covers the whole input: no shift
            self.shift_size = 0
            self.window_size = min(input_resolution)
        if not 0 <= self.shift_size < self.window_size:
            raise ValueError(f"shift_size {self.shift_size} must be in [0, window_size {self.window_size})")
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(
            dim, (self.window_size, self.window_size), num_heads, qkv_bias, qk_scale, attn_drop, drop
        )
        self.drop_path = StochasticDepth(drop_path, "row") if drop_path > 0.0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)
        attn_mask = self.calculate_mask(input_resolution) if self.shift_size > 0 else None
        self.register_buffer("attn_mask", attn_mask)

    def calculate_mask(self, x_size: Size) -> torch.Tensor:
        """The SW-MSA mask for an ``x_size`` feature map: −100 between tokens of different regions."""
        h, w = x_size
        img_mask = torch.zeros((1, h, w, 1))
        ws, ss = self.window_size, self.shift_size
        slices = (slice(0, -ws), slice(-ws, -ss), slice(-ss, None))
        cnt = 0
        for hs in slices:
            for wsl in slices:
                img_mask[:, hs, wsl, :] = cnt
                cnt += 1
        mask_windows = window_partition(img_mask, ws).view(-1, ws * ws)
        attn_mask = mask_windows.unsqueeze(1) - mask_windows.unsqueeze(2)
        return attn_mask.masked_fill(attn_mask != 0, -100.0).masked_fill(attn_mask == 0, 0.0)

    def forward(self, x: torch.Tensor, x_size: Size) -> torch.Tensor:
        h, w = x_size
        b, _, c = x.shape
        shortcut = x
        x = self.norm1(x).view(b, h, w, c)
        if self.shift_size > 0:
            x = torch.roll(x, shifts=(-self.shift_size, -self.shift_size), dims=(1, 2))
        x_windows = window_partition(x, self.window_size).view(-1, self.window_size * self.window_size, c)
        # the stored mask fits img_size only; other sizes get theirs computed (as the official code)
        if tuple(self.input_resolution) == tuple(x_size):
            mask = self.attn_mask
        else:
            mask = self.calculate_mask(x_size).to(x.device) if self.shift_size > 0 else None
        attn_windows = self.attn(x_windows, mask=mask).view(-1, self.window_size, self.window_size, c)
        x = window_reverse(attn_windows, self.window_size, h, w)
        if self.shift_size > 0:
            x = torch.roll(x, shifts=(self.shift_size, self.shift_size), dims=(1, 2))
        x = shortcut + self.drop_path(x.view(b, h * w, c))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class BasicLayer(nn.Module):
    """``depth`` Swin blocks alternating regular and shifted windows."""

    def __init__(
        self,
        dim: int,
        input_resolution: Size,
        depth: int,
        num_heads: int,
        window_size: int,
        mlp_ratio: float,
        qkv_bias: bool,
        qk_scale: float | None,
        drop: float,
        attn_drop: float,
        drop_path: list[float],
        use_checkpoint: bool = False,
    ) -> None:
        super().__init__()
        self.use_checkpoint = use_checkpoint
        self.blocks = nn.ModuleList(
            SwinTransformerBlock(
                dim,
                input_resolution,
                num_heads,
                window_size=window_size,
                shift_size=0 if i % 2 == 0 else window_size // 2,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                qk_scale=qk_scale,
                drop=drop,
                attn_drop=attn_drop,
                drop_path=drop_path[i],
            )
            for i in range(depth)
        )

    def forward(self, x: torch.Tensor, x_size: Size) -> torch.Tensor:
        for blk in self.blocks:
            if self.use_checkpoint and self.training:
                x = torch.utils.checkpoint.checkpoint(blk, x, x_size, use_reentrant=False)
            else:
                x = blk(x, x_size)
        return x


def _resi_connection(kind: str, dim: int) -> nn.Module:
    """The conv closing each residual group: ``1conv`` or the parameter-saving ``3conv``."""
    if kind == "1conv":
        return nn.Conv2d(dim, dim, 3, 1, 1)
    if kind == "3conv":
        return nn.Sequential(
            nn.Conv2d(dim, dim // 4, 3, 1, 1),
            nn.LeakyReLU(negative_slope=0.2, inplace=True),
            nn.Conv2d(dim // 4, dim // 4, 1, 1, 0),
            nn.LeakyReLU(negative_slope=0.2, inplace=True),
            nn.Conv2d(dim // 4, dim, 3, 1, 1),
        )
    raise ValueError(f"resi_connection must be '1conv' or '3conv', got {kind!r}")


class PatchEmbed(nn.Module):
    """``(B, C, H, W)`` → ``(B, H·W, C)`` tokens, optionally layer-normed (patch size 1)."""

    def __init__(self, embed_dim: int, norm: bool) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(embed_dim) if norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(2).transpose(1, 2)
        return self.norm(x) if self.norm is not None else x


class PatchUnEmbed(nn.Module):
    """``(B, H·W, C)`` tokens → ``(B, C, H, W)``."""

    def __init__(self, embed_dim: int) -> None:
        super().__init__()
        self.embed_dim = embed_dim

    def forward(self, x: torch.Tensor, x_size: Size) -> torch.Tensor:
        return x.transpose(1, 2).view(x.shape[0], self.embed_dim, x_size[0], x_size[1])


class RSTB(nn.Module):
    """Residual Swin Transformer Block: a :class:`BasicLayer`, a conv, and a long skip."""

    def __init__(self, dim: int, resi_connection: str, **layer_kwargs) -> None:
        super().__init__()
        self.residual_group = BasicLayer(dim=dim, **layer_kwargs)
        self.conv = _resi_connection(resi_connection, dim)
        self.patch_embed = PatchEmbed(dim, norm=False)
        self.patch_unembed = PatchUnEmbed(dim)

    def forward(self, x: torch.Tensor, x_size: Size) -> torch.Tensor:
        return self.patch_embed(self.conv(self.patch_unembed(self.residual_group(x, x_size), x_size))) + x


class SwinIR(Restorer):
    """SwinIR (same-size restoration): shallow conv → RSTBs → conv, with an image-level residual.

    ``forward`` is the official one: it reflect-pads H and W to ``window_size`` itself and crops
    back, so any size ≥ 2 px works; :attr:`size_multiple` = ``window_size`` lets
    :meth:`~ggt_hf.restorers.base.Restorer.restore` handle tiny inputs too.
    """

    config_class = SwinIRConfig
    card = RestorerCard(
        title="SwinIR",
        paper="SwinIR: Image Restoration Using Swin Transformer (ICCV Workshops 2021)",
        paper_url="https://arxiv.org/abs/2108.10257",
        official_repo="https://github.com/JingyunLiang/SwinIR",
        checkpoint_layout=OFFICIAL_CHECKPOINTS["swinir"].describe(),
        citation=(
            "@inproceedings{liang2021swinir,\n  title={SwinIR: Image Restoration Using Swin Transformer},\n"
            "  author={Liang, Jingyun and Cao, Jiezhang and Sun, Guolei and Zhang, Kai and Van Gool, Luc "
            "and Timofte, Radu},\n  booktitle={ICCV Workshops},\n  year={2021}\n}"
        ),
        description=(
            "Residual Swin Transformer blocks with shifted-window attention; default config = the "
            "colour denoising SwinIR-M (img_size 128, window 8)."
        ),
    )

    def __init__(self, config: SwinIRConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        if cfg.upscale != 1 or cfg.upsampler != "":
            raise ValueError("only same-size restoration is supported: upscale=1, upsampler=''")
        if cfg.patch_size != 1:
            raise ValueError("SwinIR restoration models use patch_size=1")
        self.img_range = cfg.img_range
        mean = (0.4488, 0.4371, 0.4040) if cfg.in_chans == 3 else (0.0,) * cfg.in_chans
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.upscale = cfg.upscale
        self.window_size = cfg.window_size
        embed_dim = cfg.embed_dim
        self.conv_first = nn.Conv2d(cfg.in_chans, embed_dim, 3, 1, 1)
        self.ape = cfg.ape
        self.patch_embed = PatchEmbed(embed_dim, norm=cfg.patch_norm)
        self.patch_unembed = PatchUnEmbed(embed_dim)
        resolution = (cfg.img_size, cfg.img_size)
        if self.ape:
            self.absolute_pos_embed = nn.Parameter(torch.zeros(1, cfg.img_size**2, embed_dim))
            nn.init.trunc_normal_(self.absolute_pos_embed, std=0.02)
        self.pos_drop = nn.Dropout(p=cfg.drop_rate)
        dpr = torch.linspace(
            0, cfg.drop_path_rate, sum(cfg.depths), device="cpu"
        ).tolist()  # stochastic depth
        self.layers = nn.ModuleList()
        for i, (depth, heads) in enumerate(zip(cfg.depths, cfg.num_heads, strict=True)):
            start = sum(cfg.depths[:i])
            self.layers.append(
                RSTB(
                    embed_dim,
                    cfg.resi_connection,
                    input_resolution=resolution,
                    depth=depth,
                    num_heads=heads,
                    window_size=cfg.window_size,
                    mlp_ratio=cfg.mlp_ratio,
                    qkv_bias=cfg.qkv_bias,
                    qk_scale=cfg.qk_scale,
                    drop=cfg.drop_rate,
                    attn_drop=cfg.attn_drop_rate,
                    drop_path=dpr[start : start + depth],
                    use_checkpoint=cfg.use_checkpoint,
                )
            )
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = _resi_connection(cfg.resi_connection, embed_dim)
        self.conv_last = nn.Conv2d(embed_dim, cfg.in_chans, 3, 1, 1)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.LayerNorm):
            nn.init.constant_(m.bias, 0)
            nn.init.constant_(m.weight, 1.0)

    @property
    def size_multiple(self) -> int:  # type: ignore[override]
        """The attention window: feature maps are split into ``window_size``² windows."""
        return self.window_size

    def check_image_size(self, x: torch.Tensor) -> torch.Tensor:
        """Reflect-pad H and W on the bottom/right to multiples of ``window_size`` (official)."""
        _, _, h, w = x.size()
        mod_pad_h = (self.window_size - h % self.window_size) % self.window_size
        mod_pad_w = (self.window_size - w % self.window_size) % self.window_size
        return F.pad(x, (0, mod_pad_w, 0, mod_pad_h), "reflect")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The deep feature extractor: tokens through every RSTB, normed, back to a feature map."""
        x_size = (x.shape[2], x.shape[3])
        x = self.patch_embed(x)
        if self.ape:
            x = x + self.absolute_pos_embed
        x = self.pos_drop(x)
        for layer in self.layers:
            x = layer(x, x_size)
        return self.patch_unembed(self.norm(x), x_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` in [0, 1] → the restored image of the same shape."""
        h, w = x.shape[2:]
        x = self.check_image_size(x)
        mean = self.mean.type_as(x)
        x = (x - mean) * self.img_range
        x_first = self.conv_first(x)
        res = self.conv_after_body(self.forward_features(x_first)) + x_first
        x = x + self.conv_last(res)
        x = x / self.img_range + mean
        return x[:, :, : h * self.upscale, : w * self.upscale]
