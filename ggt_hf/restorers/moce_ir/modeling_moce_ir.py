"""MoCE-IR (Zamfir et al., CVPR 2025) with the official parameter names.

Source: the official repository ``eduardzamfir/MoCE-IR`` keeps the architecture in
``src/net/moce_ir.py``; the stored public index holds that repository without its ``src/net/``
folder, so this module follows the ``moce_ir.py`` text common to public forks (e.g.
``lack9921/MoCE-IR``; its fork-specific optional ``cls_dim`` task head is left out). The golden
key/shape list ``tests/restorers/official_keys/moce_ir__paper.json`` (25,353,796 parameters) was
dumped from that code with the official ``MoCE_IR`` options.

The model is a Restormer-style U-Net: plain transposed-attention blocks in the encoder, and decoder
blocks whose second branch is a mixture of "complexity experts" (see
:mod:`ggt_hf.restorers.moce_ir.experts_moce_ir`) routed per image from pooled features plus a
high-pass frequency embedding of the bottleneck. There is no external pretrained component (no
CLIP): the model builds offline from its config.

**Auxiliary loss.** In training mode every forward stores the routers' load-balancing loss, averaged
over decoder blocks exactly as the official ``total_loss``, in ``model.aux_loss`` (a scalar tensor;
None in eval mode). The official recipe adds ``0.01 * aux_loss`` (``--balance_loss_weight``) to the
L1 (+ FFT) loss. Unrouted experts get no gradient in a step, so DDP needs
``find_unused_parameters=True`` (the official trainer uses ``ddp_find_unused_parameters_true``).

The official ``HighPassConv2d(freeze=True)`` sets an attribute instead of freezing, so its Laplacian
kernel is trained in the official model; it is trainable here too.
"""

from __future__ import annotations

import torch
from torch import nn

from ggt_hf.restorers.base import Restorer, RestorerCard
from ggt_hf.restorers.moce_ir.configuration_moce_ir import MoCEIRConfig
from ggt_hf.restorers.moce_ir.experts_moce_ir import AdapterLayer
from ggt_hf.restorers.restormer.modeling_restormer import (
    Attention,
    Downsample,
    FeedForward,
    LayerNorm,
    OverlapPatchEmbed,
    Upsample,
    transposed_attention,
)


class CrossAttention(nn.Module):
    """Transposed attention with queries from ``x`` and keys/values (7x7 depth-wise) from ``y``."""

    def __init__(self, dim: int, num_heads: int, bias: bool) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.q = nn.Conv2d(dim, dim, kernel_size=1, bias=bias)
        self.q_dwconv = nn.Conv2d(dim, dim, kernel_size=3, padding=1, groups=dim, bias=bias)
        self.kv = nn.Conv2d(dim, dim * 2, kernel_size=1, bias=bias)
        self.kv_dwconv = nn.Conv2d(dim * 2, dim * 2, kernel_size=7, padding=3, groups=dim * 2, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        q = self.q_dwconv(self.q(x))
        k, v = self.kv_dwconv(self.kv(y)).chunk(2, dim=1)
        return self.project_out(transposed_attention(q, k, v, self.num_heads, self.temperature))


class EncoderBlock(nn.Module):
    """Restormer block (MDTA + GDFN) with the official MoCE-IR names (``norms``, ``mixer``)."""

    def __init__(self, dim: int, num_heads: int, ffn_expansion_factor: float, bias: bool, norm: str) -> None:
        super().__init__()
        self.norms = nn.ModuleList([LayerNorm(dim, norm), LayerNorm(dim, norm)])
        self.mixer = Attention(dim, num_heads, bias)
        self.ffn = FeedForward(dim, ffn_expansion_factor, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.mixer(self.norms[0](x))
        return x + self.ffn(self.norms[1](x))


class DecoderBlock(nn.Module):
    """Shared self-attention branch + expert branch, fused by cross-attention, then GDFN."""

    def __init__(self, dim: int, num_heads: int, config: MoCEIRConfig, rank: int, freq_dim: int) -> None:
        super().__init__()
        c = config
        self.norms = nn.ModuleList([LayerNorm(dim, c.LayerNorm_type), LayerNorm(dim, c.LayerNorm_type)])
        self.proj = nn.ModuleList([nn.Conv2d(dim, dim, kernel_size=1), nn.Conv2d(dim, dim, kernel_size=1)])
        self.shared = Attention(dim, num_heads, c.bias)
        self.mixer = CrossAttention(dim, num_heads, c.bias)
        self.ffn = FeedForward(dim, c.ffn_expansion_factor, c.bias)
        self.adapter = AdapterLayer(
            dim,
            rank,
            num_experts=c.num_experts,
            top_k=c.topk,
            rank_type=c.rank_type,
            freq_dim=freq_dim,
            with_complexity=c.with_complexity,
            complexity_scale=c.complexity_scale,
            noise_at_eval=c.routing_noise_at_eval,
        )

    def forward(self, x: torch.Tensor, freq_emb: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.norms[0](x)
        x_s = self.shared(self.proj[0](x))
        x_a = self.adapter(self.proj[1](x), freq_emb, x_s)
        x = self.mixer(x_a, x_s) + shortcut
        return x + self.ffn(self.norms[1](x))


class EncoderResidualGroup(nn.Module):
    """``num_blocks`` encoder blocks (the official code builds these with ``bias=True``)."""

    def __init__(self, dim: int, num_heads: int, num_blocks: int, ffn_expansion: float, norm: str) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [EncoderBlock(dim, num_heads, ffn_expansion, True, norm) for _ in range(num_blocks)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class DecoderResidualGroup(nn.Module):
    """``num_blocks`` decoder blocks sharing the image's frequency embedding."""

    def __init__(
        self, dim: int, num_heads: int, num_blocks: int, config: MoCEIRConfig, freq_dim: int
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [DecoderBlock(dim, num_heads, config, config.rank, freq_dim) for _ in range(num_blocks)]
        )

    def forward(self, x: torch.Tensor, freq_emb: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, freq_emb)
        return x


class HighPassConv2d(nn.Module):
    """Depth-wise 3x3 convolution initialised to the Laplacian high-pass kernel."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, kernel_size=3, padding=1, bias=False, groups=c)
        kernel = torch.full((3, 3), -1.0)
        kernel[1, 1] = 8.0
        with torch.no_grad():
            self.conv.weight.copy_(kernel.expand(c, 1, 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class FrequencyEmbedding(nn.Module):
    """Per-image routing embedding: high-pass + GELU, global average, 2-layer MLP."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.high_conv = nn.Sequential(HighPassConv2d(dim), nn.GELU())
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.high_conv(x).mean(dim=(-2, -1)))


MOCE_IR_CITATION = """@inproceedings{zamfir2025complexity,
  title={Complexity Experts are Task-Discriminative Learners for Any Image Restoration},
  author={Zamfir, Eduard and Wu, Zongwei and Mehta, Nancy and Tan, Yuedong and Paudel, Danda Pani and Zhang, Yulun and Timofte, Radu},
  booktitle={CVPR},
  year={2025}
}"""


class MoCEIR(Restorer):
    """MoCE-IR all-in-one restorer; ``forward`` returns the image, ``aux_loss`` the routing loss
    (training mode only). H, W must be multiples of ``2 ** (levels - 1)`` (8 by default)."""

    config_class = MoCEIRConfig
    size_multiple = 8
    card = RestorerCard(
        title="MoCE-IR",
        paper=(
            "Complexity Experts are Task-Discriminative Learners for Any-in-One Image Restoration (CVPR 2025)"
        ),
        paper_url="https://arxiv.org/abs/2411.18466",
        official_repo="https://github.com/eduardzamfir/MoCE-IR",
        checkpoint_layout=(
            'Official checkpoints are PyTorch Lightning .ckpt files: weights under "state_dict", keys '
            'prefixed "net."; `ggt convert` unwraps and strips them. Key names and shapes match the '
            "official src/net/moce_ir.py as published in forks (the original net/ folder was not in "
            "the stored index used to build this port); not verified against a released checkpoint file."
        ),
        citation=MOCE_IR_CITATION,
        description=(
            "Mixture of complexity experts: each decoder block routes an image to one of four "
            "Fourier-attention experts of growing width and receptive field, with a load-balancing "
            "loss biased toward simpler experts, so experts specialise by degradation (25.4M parameters)."
        ),
    )

    def __init__(self, config: MoCEIRConfig | None = None) -> None:
        super().__init__(config)
        c = self.config
        self.size_multiple = 2 ** (c.levels - 1)
        dims = [c.dim * 2**i for i in range(c.levels)]
        ffn, norm = c.ffn_expansion_factor, c.LayerNorm_type

        self.patch_embed = OverlapPatchEmbed(c.inp_channels, c.dim, bias=False)
        self.freq_embed = FrequencyEmbedding(dims[-1])
        self.enc = nn.ModuleList(
            nn.ModuleList(
                [EncoderResidualGroup(dims[i], c.heads[i], c.num_blocks[i], ffn, norm), Downsample(dims[i])]
            )
            for i in range(c.levels - 1)
        )
        self.latent = EncoderResidualGroup(dims[-1], c.heads[-1], c.num_blocks[-1], ffn, norm)

        rdims, rheads, rdec = dims[::-1], c.heads[::-1], c.num_dec_blocks[::-1]
        self.dec = nn.ModuleList(
            nn.ModuleList(
                [
                    Upsample(rdims[i]),
                    nn.Conv2d(rdims[i], rdims[i + 1], kernel_size=1, bias=c.bias),
                    DecoderResidualGroup(rdims[i + 1], rheads[i + 1], rdec[i], c, freq_dim=dims[-1]),
                ]
            )
            for i in range(c.levels - 1)
        )
        self.refinement = EncoderResidualGroup(c.dim, c.heads[0], c.num_refinement_blocks, ffn, norm)
        self.output = nn.Conv2d(c.dim, c.out_channels, kernel_size=3, padding=1, bias=c.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.patch_embed(x)
        skips = []
        for block, downsample in self.enc:
            feats = block(feats)
            skips.append(feats)
            feats = downsample(feats)
        feats = self.latent(feats)
        freq_emb = self.freq_embed(feats)

        for upsample, fusion, group in self.dec:
            feats = fusion(torch.cat([upsample(feats), skips.pop()], dim=1))
            feats = group(feats, freq_emb)
        out = self.output(self.refinement(feats)) + x

        losses = [layer.adapter.loss for _, _, group in self.dec for layer in group.layers]
        if self.training and losses and all(loss is not None for loss in losses):
            self.aux_loss = torch.stack(losses).sum() / sum(self.config.num_dec_blocks)
        else:
            self.aux_loss = None
        return out
