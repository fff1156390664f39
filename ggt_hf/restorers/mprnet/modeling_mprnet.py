"""MPRNet with the module and parameter names of the official ``Deraining/MPRNet.py`` /
``Deblurring/MPRNet.py`` (swz30/MPRNet), so released checkpoints load with
``load_state_dict(strict=True)`` after unwrapping ``"state_dict"`` and stripping ``module.``.

As in the official code, one ``nn.PReLU`` instance is shared by every block: its single slope
appears under many state-dict keys and all of them hold the same tensor.
"""

from __future__ import annotations

import torch
from torch import nn

from ggt_hf.restorers.base import Restorer, RestorerCard
from ggt_hf.restorers.checkpoint_layouts import OFFICIAL_CHECKPOINTS
from ggt_hf.restorers.mprnet.configuration_mprnet import MPRNetConfig

Features = list[torch.Tensor]


def conv(
    in_channels: int, out_channels: int, kernel_size: int, bias: bool = False, stride: int = 1
) -> nn.Conv2d:
    """A 'same'-padded convolution."""
    return nn.Conv2d(
        in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias, stride=stride
    )


class CALayer(nn.Module):
    """Channel attention: global average pool → 1×1 squeeze/excite → sigmoid gate."""

    def __init__(self, channel: int, reduction: int = 16, bias: bool = False) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_du = nn.Sequential(
            nn.Conv2d(channel, channel // reduction, 1, padding=0, bias=bias),
            nn.ReLU(inplace=True),
            nn.Conv2d(channel // reduction, channel, 1, padding=0, bias=bias),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv_du(self.avg_pool(x))


class CAB(nn.Module):
    """Channel Attention Block: conv → act → conv → channel attention, plus a residual."""

    def __init__(self, n_feat: int, kernel_size: int, reduction: int, bias: bool, act: nn.Module) -> None:
        super().__init__()
        self.CA = CALayer(n_feat, reduction, bias=bias)
        self.body = nn.Sequential(
            conv(n_feat, n_feat, kernel_size, bias=bias), act, conv(n_feat, n_feat, kernel_size, bias=bias)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.CA(self.body(x)) + x


def _cabs(n: int, n_feat: int, kernel_size: int, reduction: int, bias: bool, act: nn.Module) -> nn.Sequential:
    return nn.Sequential(*[CAB(n_feat, kernel_size, reduction, bias=bias, act=act) for _ in range(n)])


class SAM(nn.Module):
    """Supervised Attention Module: predicts a stage image and gates the features with it."""

    def __init__(self, n_feat: int, kernel_size: int, bias: bool) -> None:
        super().__init__()
        self.conv1 = conv(n_feat, n_feat, kernel_size, bias=bias)
        self.conv2 = conv(n_feat, 3, kernel_size, bias=bias)
        self.conv3 = conv(3, n_feat, kernel_size, bias=bias)

    def forward(self, x: torch.Tensor, x_img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        img = self.conv2(x) + x_img
        x1 = self.conv1(x) * torch.sigmoid(self.conv3(img))
        return x1 + x, img


class DownSample(nn.Module):
    """Bilinear ×0.5 then a 1×1 conv adding ``s_factor`` channels."""

    def __init__(self, in_channels: int, s_factor: int) -> None:
        super().__init__()
        self.down = nn.Sequential(
            nn.Upsample(scale_factor=0.5, mode="bilinear", align_corners=False),
            nn.Conv2d(in_channels, in_channels + s_factor, 1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(x)


class UpSample(nn.Module):
    """Bilinear ×2 then a 1×1 conv removing ``s_factor`` channels."""

    def __init__(self, in_channels: int, s_factor: int) -> None:
        super().__init__()
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(in_channels + s_factor, in_channels, 1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(x)


class SkipUpSample(UpSample):
    """:class:`UpSample` plus a skip connection (same parameters, ``up.1.weight``)."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.up(x) + y


class Encoder(nn.Module):
    """Three-level U-Net encoder; with ``csff`` it fuses the previous stage's features (CSFF)."""

    def __init__(
        self,
        n_feat: int,
        kernel_size: int,
        reduction: int,
        act: nn.Module,
        bias: bool,
        scale_unetfeats: int,
        csff: bool,
    ) -> None:
        super().__init__()
        chans = [n_feat + i * scale_unetfeats for i in range(3)]
        self.encoder_level1 = _cabs(2, chans[0], kernel_size, reduction, bias, act)
        self.encoder_level2 = _cabs(2, chans[1], kernel_size, reduction, bias, act)
        self.encoder_level3 = _cabs(2, chans[2], kernel_size, reduction, bias, act)
        self.down12 = DownSample(chans[0], scale_unetfeats)
        self.down23 = DownSample(chans[1], scale_unetfeats)
        self.csff = csff
        if csff:  # Cross Stage Feature Fusion
            for i, c in enumerate(chans, start=1):
                setattr(self, f"csff_enc{i}", nn.Conv2d(c, c, kernel_size=1, bias=bias))
            for i, c in enumerate(chans, start=1):
                setattr(self, f"csff_dec{i}", nn.Conv2d(c, c, kernel_size=1, bias=bias))

    def forward(
        self, x: torch.Tensor, encoder_outs: Features | None = None, decoder_outs: Features | None = None
    ) -> Features:
        fuse = encoder_outs is not None and decoder_outs is not None
        outs = []
        for i, level in enumerate((self.encoder_level1, self.encoder_level2, self.encoder_level3)):
            if i:
                x = (self.down12, self.down23)[i - 1](x)
            x = level(x)
            if fuse:
                csff_enc = getattr(self, f"csff_enc{i + 1}")
                csff_dec = getattr(self, f"csff_dec{i + 1}")
                x = x + csff_enc(encoder_outs[i]) + csff_dec(decoder_outs[i])
            outs.append(x)
        return outs


class Decoder(nn.Module):
    """Three-level U-Net decoder with channel-attention skip connections."""

    def __init__(
        self, n_feat: int, kernel_size: int, reduction: int, act: nn.Module, bias: bool, scale_unetfeats: int
    ) -> None:
        super().__init__()
        chans = [n_feat + i * scale_unetfeats for i in range(3)]
        self.decoder_level1 = _cabs(2, chans[0], kernel_size, reduction, bias, act)
        self.decoder_level2 = _cabs(2, chans[1], kernel_size, reduction, bias, act)
        self.decoder_level3 = _cabs(2, chans[2], kernel_size, reduction, bias, act)
        self.skip_attn1 = CAB(chans[0], kernel_size, reduction, bias=bias, act=act)
        self.skip_attn2 = CAB(chans[1], kernel_size, reduction, bias=bias, act=act)
        self.up21 = SkipUpSample(chans[0], scale_unetfeats)
        self.up32 = SkipUpSample(chans[1], scale_unetfeats)

    def forward(self, outs: Features) -> Features:
        enc1, enc2, enc3 = outs
        dec3 = self.decoder_level3(enc3)
        dec2 = self.decoder_level2(self.up32(dec3, self.skip_attn2(enc2)))
        dec1 = self.decoder_level1(self.up21(dec2, self.skip_attn1(enc1)))
        return [dec1, dec2, dec3]


class ORB(nn.Module):
    """Original Resolution Block: ``num_cab`` CABs and a conv, plus a residual."""

    def __init__(
        self, n_feat: int, kernel_size: int, reduction: int, act: nn.Module, bias: bool, num_cab: int
    ) -> None:
        super().__init__()
        body = [CAB(n_feat, kernel_size, reduction, bias=bias, act=act) for _ in range(num_cab)]
        self.body = nn.Sequential(*body, conv(n_feat, n_feat, kernel_size))  # official: this conv has no bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + x


class ORSNet(nn.Module):
    """Stage 3: full-resolution ORBs fused with the stage-2 encoder/decoder features."""

    def __init__(
        self,
        n_feat: int,
        scale_orsnetfeats: int,
        kernel_size: int,
        reduction: int,
        act: nn.Module,
        bias: bool,
        scale_unetfeats: int,
        num_cab: int,
    ) -> None:
        super().__init__()
        c = n_feat + scale_orsnetfeats
        self.orb1 = ORB(c, kernel_size, reduction, act, bias, num_cab)
        self.orb2 = ORB(c, kernel_size, reduction, act, bias, num_cab)
        self.orb3 = ORB(c, kernel_size, reduction, act, bias, num_cab)
        self.up_enc1 = UpSample(n_feat, scale_unetfeats)
        self.up_dec1 = UpSample(n_feat, scale_unetfeats)
        self.up_enc2 = nn.Sequential(
            UpSample(n_feat + scale_unetfeats, scale_unetfeats), UpSample(n_feat, scale_unetfeats)
        )
        self.up_dec2 = nn.Sequential(
            UpSample(n_feat + scale_unetfeats, scale_unetfeats), UpSample(n_feat, scale_unetfeats)
        )
        for name in ("conv_enc1", "conv_enc2", "conv_enc3", "conv_dec1", "conv_dec2", "conv_dec3"):
            setattr(self, name, nn.Conv2d(n_feat, c, kernel_size=1, bias=bias))

    def forward(self, x: torch.Tensor, encoder_outs: Features, decoder_outs: Features) -> torch.Tensor:
        x = self.orb1(x)
        x = x + self.conv_enc1(encoder_outs[0]) + self.conv_dec1(decoder_outs[0])
        x = self.orb2(x)
        x = x + self.conv_enc2(self.up_enc1(encoder_outs[1])) + self.conv_dec2(self.up_dec1(decoder_outs[1]))
        x = self.orb3(x)
        return (
            x + self.conv_enc3(self.up_enc2(encoder_outs[2])) + self.conv_dec3(self.up_dec2(decoder_outs[2]))
        )


class MPRNet(Restorer):
    """MPRNet: three progressive stages (4 patches → 2 patches → full resolution).

    ``forward`` returns ``[stage3, stage2, stage1]`` images (all full resolution, as the official
    code; training supervises all three); element 0 is the final output that
    :meth:`~ggt_hf.restorers.base.Restorer.restore` returns.
    """

    config_class = MPRNetConfig
    card = RestorerCard(
        title="MPRNet",
        paper="Multi-Stage Progressive Image Restoration (CVPR 2021)",
        paper_url="https://arxiv.org/abs/2102.02808",
        official_repo="https://github.com/swz30/MPRNet",
        checkpoint_layout=OFFICIAL_CHECKPOINTS["mprnet"].describe(),
        citation=(
            "@inproceedings{zamir2021multi,\n  title={Multi-Stage Progressive Image Restoration},\n"
            "  author={Zamir, Syed Waqas and Arora, Aditya and Khan, Salman and Hayat, Munawar and Khan, "
            "Fahad Shahbaz and Yang, Ming-Hsuan and Shao, Ling},\n  booktitle={CVPR},\n  year={2021}\n}"
        ),
        description=(
            "Two encoder-decoder stages on image patches and an original-resolution stage, linked by "
            "supervised attention and cross-stage feature fusion; default config = the deraining model."
        ),
    )
    #: the image is halved into patches, and each patch is downsampled twice in the U-Nets.
    size_multiple = 8

    def __init__(self, config: MPRNetConfig | None = None) -> None:
        super().__init__(config)
        c = self.config
        act = nn.PReLU()  # one shared module, as in the official code
        k, r, b = c.kernel_size, c.reduction, c.bias
        for i in (1, 2, 3):
            shallow = nn.Sequential(conv(c.in_c, c.n_feat, k, bias=b), CAB(c.n_feat, k, r, bias=b, act=act))
            setattr(self, f"shallow_feat{i}", shallow)
        self.stage1_encoder = Encoder(c.n_feat, k, r, act, b, c.scale_unetfeats, csff=False)
        self.stage1_decoder = Decoder(c.n_feat, k, r, act, b, c.scale_unetfeats)
        self.stage2_encoder = Encoder(c.n_feat, k, r, act, b, c.scale_unetfeats, csff=True)
        self.stage2_decoder = Decoder(c.n_feat, k, r, act, b, c.scale_unetfeats)
        self.stage3_orsnet = ORSNet(c.n_feat, c.scale_orsnetfeats, k, r, act, b, c.scale_unetfeats, c.num_cab)
        self.sam12 = SAM(c.n_feat, kernel_size=1, bias=b)
        self.sam23 = SAM(c.n_feat, kernel_size=1, bias=b)
        self.concat12 = conv(c.n_feat * 2, c.n_feat, k, bias=b)
        self.concat23 = conv(c.n_feat * 2, c.n_feat + c.scale_orsnetfeats, k, bias=b)
        self.tail = conv(c.n_feat + c.scale_orsnetfeats, c.out_c, k, bias=b)

    def forward(self, x3_img: torch.Tensor) -> list[torch.Tensor]:
        """``(N, 3, H, W)`` in [0, 1], H and W multiples of 8 → ``[stage3, stage2, stage1]``."""
        h, w = x3_img.shape[2], x3_img.shape[3]
        # Multi-patch hierarchy: two patches for stage 2, four for stage 1.
        x2top_img, x2bot_img = x3_img[:, :, : h // 2, :], x3_img[:, :, h // 2 :, :]
        quads = [
            half[:, :, :, sl]
            for half in (x2top_img, x2bot_img)
            for sl in (slice(0, w // 2), slice(w // 2, w))
        ]

        # Stage 1: encode each quarter, decode each half.
        feat1 = [self.stage1_encoder(self.shallow_feat1(q)) for q in quads]
        feat1_top = [torch.cat((k, v), 3) for k, v in zip(feat1[0], feat1[1], strict=True)]
        feat1_bot = [torch.cat((k, v), 3) for k, v in zip(feat1[2], feat1[3], strict=True)]
        res1_top = self.stage1_decoder(feat1_top)
        res1_bot = self.stage1_decoder(feat1_bot)
        x2top_samfeats, stage1_img_top = self.sam12(res1_top[0], x2top_img)
        x2bot_samfeats, stage1_img_bot = self.sam12(res1_bot[0], x2bot_img)
        stage1_img = torch.cat([stage1_img_top, stage1_img_bot], 2)

        # Stage 2: each half, fused with the SAM features and the stage-1 features (CSFF).
        x2top_cat = self.concat12(torch.cat([self.shallow_feat2(x2top_img), x2top_samfeats], 1))
        x2bot_cat = self.concat12(torch.cat([self.shallow_feat2(x2bot_img), x2bot_samfeats], 1))
        feat2_top = self.stage2_encoder(x2top_cat, feat1_top, res1_top)
        feat2_bot = self.stage2_encoder(x2bot_cat, feat1_bot, res1_bot)
        feat2 = [torch.cat((k, v), 2) for k, v in zip(feat2_top, feat2_bot, strict=True)]
        res2 = self.stage2_decoder(feat2)
        x3_samfeats, stage2_img = self.sam23(res2[0], x3_img)

        # Stage 3: full resolution.
        x3_cat = self.concat23(torch.cat([self.shallow_feat3(x3_img), x3_samfeats], 1))
        x3_cat = self.stage3_orsnet(x3_cat, feat2, res2)
        stage3_img = self.tail(x3_cat)
        return [stage3_img + x3_img, stage2_img, stage1_img]
