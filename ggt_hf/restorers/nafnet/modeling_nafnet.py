"""NAFNet, with the module and parameter names of the official
``basicsr/models/archs/NAFNet_arch.py`` (megvii-research/NAFNet), so released checkpoints load with
``load_state_dict(strict=True)`` after unwrapping ``"params"`` (see :mod:`ggt_hf.restorers.convert`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ggt_hf.restorers.base import Restorer, RestorerCard
from ggt_hf.restorers.checkpoint_layouts import OFFICIAL_CHECKPOINTS
from ggt_hf.restorers.nafnet.configuration_nafnet import NAFNetConfig


class LayerNorm2d(nn.Module):
    """Layer norm over the channel axis of an NCHW tensor (parameters ``weight``, ``bias``).

    The official one is a custom ``autograd.Function`` whose hand-written backward only saves
    memory; the forward below is the same formula and autograd derives the same gradient.
    """

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        y = (x - mu) / (var + self.eps).sqrt()
        return self.weight.view(1, -1, 1, 1) * y + self.bias.view(1, -1, 1, 1)


class SimpleGate(nn.Module):
    """Split the channels in two halves and multiply them (NAFNet's activation replacement)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x.chunk(2, dim=1)
        return x1 * x2


class NAFBlock(nn.Module):
    """Nonlinear-activation-free block: depth-wise conv + SimpleGate + simplified channel attention,
    then a gated FFN; both branches are scaled by learnt ``beta`` / ``gamma`` (initialised to 0).
    The argument names are the official ones."""

    def __init__(self, c: int, DW_Expand: int = 2, FFN_Expand: int = 2, drop_out_rate: float = 0.0) -> None:
        super().__init__()
        dw_channel = c * DW_Expand
        self.conv1 = nn.Conv2d(c, dw_channel, kernel_size=1, padding=0, stride=1, groups=1, bias=True)
        self.conv2 = nn.Conv2d(
            dw_channel, dw_channel, kernel_size=3, padding=1, stride=1, groups=dw_channel, bias=True
        )
        self.conv3 = nn.Conv2d(dw_channel // 2, c, kernel_size=1, padding=0, stride=1, groups=1, bias=True)
        # Simplified Channel Attention
        self.sca = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(
                dw_channel // 2, dw_channel // 2, kernel_size=1, padding=0, stride=1, groups=1, bias=True
            ),
        )
        self.sg = SimpleGate()
        ffn_channel = FFN_Expand * c
        self.conv4 = nn.Conv2d(c, ffn_channel, kernel_size=1, padding=0, stride=1, groups=1, bias=True)
        self.conv5 = nn.Conv2d(ffn_channel // 2, c, kernel_size=1, padding=0, stride=1, groups=1, bias=True)
        self.norm1 = LayerNorm2d(c)
        self.norm2 = LayerNorm2d(c)
        self.dropout1 = nn.Dropout(drop_out_rate) if drop_out_rate > 0.0 else nn.Identity()
        self.dropout2 = nn.Dropout(drop_out_rate) if drop_out_rate > 0.0 else nn.Identity()
        self.beta = nn.Parameter(torch.zeros((1, c, 1, 1)))
        self.gamma = nn.Parameter(torch.zeros((1, c, 1, 1)))

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        x = self.conv2(self.conv1(self.norm1(inp)))
        x = self.sg(x)
        x = x * self.sca(x)
        x = self.dropout1(self.conv3(x))
        y = inp + x * self.beta
        x = self.conv5(self.sg(self.conv4(self.norm2(y))))
        x = self.dropout2(x)
        return y + x * self.gamma


class NAFNet(Restorer):
    """NAFNet: a U-Net of :class:`NAFBlock` s with a global residual (``output = input + net(input)``).

    ``forward`` is the official one (it zero-pads H and W to :attr:`size_multiple` itself and crops
    back); :meth:`~ggt_hf.restorers.base.Restorer.restore` reflect-pads first, which the official
    test scripts do not, so border pixels may differ slightly from theirs.
    """

    config_class = NAFNetConfig
    card = RestorerCard(
        title="NAFNet",
        paper="Simple Baselines for Image Restoration (ECCV 2022)",
        paper_url="https://arxiv.org/abs/2204.04676",
        official_repo="https://github.com/megvii-research/NAFNet",
        checkpoint_layout=OFFICIAL_CHECKPOINTS["nafnet"].describe(),
        citation=(
            "@inproceedings{chen2022simple,\n  title={Simple Baselines for Image Restoration},\n"
            "  author={Chen, Liangyu and Chu, Xiaojie and Zhang, Xiangyu and Sun, Jian},\n"
            "  booktitle={ECCV},\n  year={2022}\n}"
        ),
        description=(
            "A U-Net of nonlinear-activation-free blocks (SimpleGate, simplified channel attention); "
            "default config = NAFNet-SIDD-width32."
        ),
    )

    def __init__(self, config: NAFNetConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        width = cfg.width
        self.intro = nn.Conv2d(
            cfg.img_channel, width, kernel_size=3, padding=1, stride=1, groups=1, bias=True
        )
        self.ending = nn.Conv2d(
            width, cfg.img_channel, kernel_size=3, padding=1, stride=1, groups=1, bias=True
        )
        self.encoders = nn.ModuleList()
        self.decoders = nn.ModuleList()
        self.ups = nn.ModuleList()
        self.downs = nn.ModuleList()
        chan = width
        for num in cfg.enc_blk_nums:
            self.encoders.append(nn.Sequential(*[NAFBlock(chan) for _ in range(num)]))
            self.downs.append(nn.Conv2d(chan, 2 * chan, 2, 2))
            chan *= 2
        self.middle_blks = nn.Sequential(*[NAFBlock(chan) for _ in range(cfg.middle_blk_num)])
        for num in cfg.dec_blk_nums:
            self.ups.append(nn.Sequential(nn.Conv2d(chan, chan * 2, 1, bias=False), nn.PixelShuffle(2)))
            chan //= 2
            self.decoders.append(nn.Sequential(*[NAFBlock(chan) for _ in range(num)]))
        self.padder_size = 2 ** len(self.encoders)

    @property
    def size_multiple(self) -> int:  # type: ignore[override]
        """``2 ** len(enc_blk_nums)``: one halving per encoder level."""
        return self.padder_size

    def check_image_size(self, x: torch.Tensor) -> torch.Tensor:
        """Zero-pad H and W on the bottom/right to multiples of :attr:`padder_size` (official)."""
        _, _, h, w = x.size()
        mod_pad_h = (self.padder_size - h % self.padder_size) % self.padder_size
        mod_pad_w = (self.padder_size - w % self.padder_size) % self.padder_size
        return F.pad(x, (0, mod_pad_w, 0, mod_pad_h))

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` in [0, 1] → the restored image of the same shape."""
        _, _, h, w = inp.shape
        inp = self.check_image_size(inp)
        x = self.intro(inp)
        encs = []
        for encoder, down in zip(self.encoders, self.downs, strict=True):
            x = encoder(x)
            encs.append(x)
            x = down(x)
        x = self.middle_blks(x)
        for decoder, up, enc_skip in zip(self.decoders, self.ups, encs[::-1], strict=False):
            x = decoder(up(x) + enc_skip)
        x = self.ending(x) + inp
        return x[:, :, :h, :w]
