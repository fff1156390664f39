"""PromptIR (Potlapalli et al., NeurIPS 2023) with the official parameter names.

A re-implementation of ``va1shn9v/PromptIR`` ``net/model.py`` as trained by its ``train.py``
(``PromptIR(decoder=True)``): a Restormer U-Net whose decoder levels are conditioned on learned
prompts. The Restormer blocks are imported from :mod:`ggt_hf.restorers.restormer.modeling_restormer`.
The golden key/shape list ``tests/restorers/official_keys/promptir__decoder.json`` was dumped from the
official code.

Differences from the official code, and why:

* only the ``decoder=True`` variant exists: with ``decoder=False`` the official forward feeds the
  ``8*dim``-channel latent into ``up4_3 = Upsample(4*dim)`` and fails, so that variant never ran;
* prompt widths are configuration fields (see :class:`PromptIRConfig`) instead of numbers hard-coded
  for ``dim=48``; the defaults give identical shapes;
* the prompt mix uses broadcasting instead of ``repeat`` + ``squeeze`` (same values).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ggt_hf.restorers.base import Restorer, RestorerCard
from ggt_hf.restorers.promptir.configuration_promptir import PromptIRConfig
from ggt_hf.restorers.restormer.modeling_restormer import (
    Downsample,
    OverlapPatchEmbed,
    TransformerBlock,
    Upsample,
)

#: output widths of the official (unused) ``chnl_reduce1-3`` convolutions, also the extra input
#: widths of its (unused) ``reduce_noise_channel_1-3``
_UNUSED_REDUCED_DIMS = (64, 128, 256)


class PromptGenBlock(nn.Module):
    """Prompt generation: a softmax mix of ``prompt_len`` learned prompts, weighted from the input
    features' global average, resized to the feature map and refined by a 3x3 convolution."""

    def __init__(self, prompt_dim: int = 128, prompt_len: int = 5, prompt_size: int = 96, lin_dim: int = 192):
        super().__init__()
        self.prompt_param = nn.Parameter(torch.rand(1, prompt_len, prompt_dim, prompt_size, prompt_size))
        self.linear_layer = nn.Linear(lin_dim, prompt_len)
        self.conv3x3 = nn.Conv2d(prompt_dim, prompt_dim, kernel_size=3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = F.softmax(self.linear_layer(x.mean(dim=(-2, -1))), dim=1)  # (B, prompt_len)
        prompt = (weights[:, :, None, None, None] * self.prompt_param).sum(dim=1)
        prompt = F.interpolate(prompt, x.shape[-2:], mode="bilinear")
        return self.conv3x3(prompt)


PROMPTIR_CITATION = """@inproceedings{potlapalli2023promptir,
  title={PromptIR: Prompting for All-in-One Image Restoration},
  author={Potlapalli, Vaishnav and Zamir, Syed Waqas and Khan, Salman and Khan, Fahad},
  booktitle={Thirty-seventh Conference on Neural Information Processing Systems},
  year={2023}
}"""


class PromptIR(Restorer):
    """PromptIR: Restormer with prompt blocks (prompt generation + interaction) in the decoder.

    ``forward`` takes ``(N, inp_channels, H, W)`` in [0, 1] with H, W multiples of 8 and returns the
    restored image; ``aux_loss`` is always ``None``.
    """

    config_class = PromptIRConfig
    size_multiple = 8
    card = RestorerCard(
        title="PromptIR",
        paper="PromptIR: Prompting for All-in-One Blind Image Restoration (NeurIPS 2023)",
        paper_url="https://arxiv.org/abs/2306.13090",
        official_repo="https://github.com/va1shn9v/PromptIR",
        checkpoint_layout=(
            'The official model.ckpt is a PyTorch Lightning checkpoint: weights under "state_dict" with '
            'every key prefixed "net." (the LightningModule attribute); `ggt convert` unwraps the key and '
            "strips the prefix, names are otherwise identical (decoder=True model)."
        ),
        citation=PROMPTIR_CITATION,
        description=(
            "All-in-one blind restoration: learned prompt components, mixed per image from the decoder "
            "features, are concatenated at three decoder levels and fused by a transformer block, so one "
            "model handles several degradations without being told which (35.6M parameters)."
        ),
    )

    def __init__(self, config: PromptIRConfig | None = None) -> None:
        super().__init__(config)
        c = self.config
        dim, heads, ffn, bias, norm = c.dim, c.heads, c.ffn_expansion_factor, c.bias, c.LayerNorm_type
        p1, p2, p3 = c.prompt_dims

        def block(width: int, n_heads: int) -> TransformerBlock:
            return TransformerBlock(width, n_heads, ffn, bias, norm)

        def level(width: int, n_heads: int, n_blocks: int) -> nn.Sequential:
            return nn.Sequential(*[block(width, n_heads) for _ in range(n_blocks)])

        self.patch_embed = OverlapPatchEmbed(c.inp_channels, dim)
        self.prompt1 = PromptGenBlock(p1, c.prompt_len, c.prompt_sizes[0], lin_dim=dim * 2)
        self.prompt2 = PromptGenBlock(p2, c.prompt_len, c.prompt_sizes[1], lin_dim=dim * 4)
        self.prompt3 = PromptGenBlock(p3, c.prompt_len, c.prompt_sizes[2], lin_dim=dim * 8)
        if c.keep_unused_layers:
            r1, r2, r3 = _UNUSED_REDUCED_DIMS
            self.chnl_reduce1 = nn.Conv2d(p1, r1, kernel_size=1, bias=bias)
            self.chnl_reduce2 = nn.Conv2d(p2, r2, kernel_size=1, bias=bias)
            self.chnl_reduce3 = nn.Conv2d(p3, r3, kernel_size=1, bias=bias)
            self.reduce_noise_channel_1 = nn.Conv2d(dim + r1, dim, kernel_size=1, bias=bias)
            self.reduce_noise_channel_2 = nn.Conv2d(dim * 2 + r2, dim * 2, kernel_size=1, bias=bias)
            self.reduce_noise_channel_3 = nn.Conv2d(dim * 4 + r3, dim * 4, kernel_size=1, bias=bias)

        self.encoder_level1 = level(dim, heads[0], c.num_blocks[0])
        self.down1_2 = Downsample(dim)
        self.encoder_level2 = level(dim * 2, heads[1], c.num_blocks[1])
        self.down2_3 = Downsample(dim * 2)
        self.encoder_level3 = level(dim * 4, heads[2], c.num_blocks[2])
        self.down3_4 = Downsample(dim * 4)
        self.latent = level(dim * 8, heads[3], c.num_blocks[3])

        # prompt interaction at the latent, then level 3 (the official code uses heads[2] for all three)
        self.noise_level3 = block(dim * 8 + p3, heads[2])
        self.reduce_noise_level3 = nn.Conv2d(dim * 8 + p3, dim * 4, kernel_size=1, bias=bias)
        self.up4_3 = Upsample(dim * 4)
        self.reduce_chan_level3 = nn.Conv2d(dim * 2 + dim * 4, dim * 4, kernel_size=1, bias=bias)
        self.decoder_level3 = level(dim * 4, heads[2], c.num_blocks[2])

        self.noise_level2 = block(dim * 4 + p2, heads[2])
        self.reduce_noise_level2 = nn.Conv2d(dim * 4 + p2, dim * 4, kernel_size=1, bias=bias)
        self.up3_2 = Upsample(dim * 4)
        self.reduce_chan_level2 = nn.Conv2d(dim * 4, dim * 2, kernel_size=1, bias=bias)
        self.decoder_level2 = level(dim * 2, heads[1], c.num_blocks[1])

        self.noise_level1 = block(dim * 2 + p1, heads[2])
        self.reduce_noise_level1 = nn.Conv2d(dim * 2 + p1, dim * 2, kernel_size=1, bias=bias)
        self.up2_1 = Upsample(dim * 2)
        self.decoder_level1 = level(dim * 2, heads[0], c.num_blocks[0])
        self.refinement = level(dim * 2, heads[0], c.num_refinement_blocks)
        self.output = nn.Conv2d(dim * 2, c.out_channels, kernel_size=3, padding=1, bias=bias)

    @staticmethod
    def _prompted(x: torch.Tensor, prompt: nn.Module, mix: nn.Module, reduce: nn.Module) -> torch.Tensor:
        """Concatenate the generated prompt to ``x``, mix with a transformer block, reduce channels."""
        return reduce(mix(torch.cat([x, prompt(x)], 1)))

    def forward(self, inp_img: torch.Tensor) -> torch.Tensor:
        out_enc_level1 = self.encoder_level1(self.patch_embed(inp_img))
        out_enc_level2 = self.encoder_level2(self.down1_2(out_enc_level1))
        out_enc_level3 = self.encoder_level3(self.down2_3(out_enc_level2))
        latent = self.latent(self.down3_4(out_enc_level3))
        latent = self._prompted(latent, self.prompt3, self.noise_level3, self.reduce_noise_level3)

        x = self.reduce_chan_level3(torch.cat([self.up4_3(latent), out_enc_level3], 1))
        x = self.decoder_level3(x)
        x = self._prompted(x, self.prompt2, self.noise_level2, self.reduce_noise_level2)

        x = self.reduce_chan_level2(torch.cat([self.up3_2(x), out_enc_level2], 1))
        x = self.decoder_level2(x)
        x = self._prompted(x, self.prompt1, self.noise_level1, self.reduce_noise_level1)

        x = self.decoder_level1(torch.cat([self.up2_1(x), out_enc_level1], 1))
        return self.output(self.refinement(x)) + inp_img
