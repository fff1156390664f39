"""MoCE-IR's mixture of complexity experts: Fourier-attention experts of growing width and patch size,
a noisy top-k router over image features + a frequency embedding, and its load-balancing loss.

Parameter names follow the official ``src/net/moce_ir.py`` (``AdapterLayer``, ``ModExpert``,
``FFTAttention``, ``RoutingFunction``). Behavioural notes, each checked against the official code:

* experts run only on the samples routed to them (the official ``SparseDispatcher`` in training);
  the official eval branch indexes experts with ``top_k_indices.squeeze(0)``, which is only correct
  for batch size 1. Here both modes use the per-sample dispatch, identical to the official eval
  output for a batch of one and correct for larger batches;
* the router's logit noise is applied in training and, only if ``noise_at_eval``, at inference
  (the official code always adds it, which makes its inference random);
* ``ModExpert`` applies its residual step once: the official ``depth`` loop recomputes that same
  step from the same input, so the result is identical;
* FFTAttention's ``kernel_size`` argument is unused in the official code and omitted.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ggt_hf.restorers.restormer.modeling_restormer import LayerNorm


class FFTAttention(nn.Module):
    """Self-attention in the Fourier domain over non-overlapping ``patch_size`` patches: the product
    of the patches' FFTs of q and k (a circular correlation) gates v after a LayerNorm."""

    def __init__(self, dim: int, patch_size: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.q = nn.Conv2d(dim, dim, kernel_size=1, bias=False)
        self.q_dwconv = nn.Conv2d(dim, dim, kernel_size=3, padding=1, groups=dim)
        self.kv = nn.Conv2d(dim, dim * 2, kernel_size=1, bias=False)
        self.kv_dwconv = nn.Conv2d(dim * 2, dim * 2, kernel_size=7, padding=3, groups=dim * 2)
        self.norm = LayerNorm(dim, "WithBias")
        self.proj_out = nn.Conv2d(dim, dim, kernel_size=1)

    def _to_patches(self, x: torch.Tensor) -> torch.Tensor:
        """``b c (h p1) (w p2) -> b c h w p1 p2`` after zero-padding H, W up to the patch size."""
        p = self.patch_size
        x = F.pad(x, (0, (-x.shape[-1]) % p, 0, (-x.shape[-2]) % p))
        b, c, h, w = x.shape
        return x.reshape(b, c, h // p, p, w // p, p).permute(0, 1, 2, 4, 3, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        p = self.patch_size
        q = self.q_dwconv(self.q(x))
        k, v = self.kv_dwconv(self.kv(x)).chunk(2, dim=1)
        # the FFT runs in float32 (as in the official code) so it is safe under autocast
        prod = torch.fft.rfft2(self._to_patches(q).float()) * torch.fft.rfft2(self._to_patches(k).float())
        out = torch.fft.irfft2(prod, s=(p, p))
        b, c, nh, nw = out.shape[:4]
        out = out.permute(0, 1, 2, 4, 3, 5).reshape(b, c, nh * p, nw * p)[:, :, :h, :w]
        return self.proj_out(self.norm(out) * v)


class ModExpert(nn.Module):
    """One complexity expert: a residual low-rank (``rank``) FFT attention, modulated by the shared
    branch through a SiLU gate."""

    def __init__(self, dim: int, rank: int, patch_size: int) -> None:
        super().__init__()
        self.proj = nn.ModuleList(
            [
                nn.Conv2d(dim, rank, kernel_size=1, bias=False),
                nn.Conv2d(dim, rank, kernel_size=1, bias=False),
                nn.Conv2d(rank, dim, kernel_size=1, bias=False),
            ]
        )
        self.body = FFTAttention(rank, patch_size=patch_size)

    def forward(self, x: torch.Tensor, shared: torch.Tensor) -> torch.Tensor:
        y = self.body(self.proj[0](x)) * F.silu(self.proj[1](shared))
        return x + self.proj[2](y)


class ExpertSequential(nn.Sequential):
    """``nn.Sequential`` whose layers take ``(x, shared)`` (the official ``MySequential``; it keeps the
    ``experts.<i>.0.`` key prefix)."""

    def forward(self, x: torch.Tensor, shared: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, shared)
        return x


def expert_ranks(rank_type: str, dim: int, rank: int, num_experts: int) -> list[int]:
    """Bottleneck width of each expert, from the least to the most complex (official AdapterLayer)."""
    if rank_type == "spread":
        return [dim // 2**i for i in range(num_experts)][::-1]
    growth = {
        "constant": lambda i: rank,
        "lin": lambda i: rank + i,
        "double": lambda i: rank + 2 * i,
        "exp": lambda i: rank ** (i + 1),
        "fact": lambda i: math.factorial(rank + i),
    }
    if rank_type not in growth:
        raise ValueError(f"unknown MoCE-IR rank_type {rank_type!r}; known: spread, {', '.join(growth)}")
    return [growth[rank_type](i) for i in range(num_experts)]


class RoutingFunction(nn.Module):
    """Noisy top-k gating from pooled features plus the frequency embedding, with the official
    auxiliary loss ``0.5 * importance + 0.5 * load`` (squared coefficients of variation); the
    importance term is weighted by expert complexity when ``use_complexity_bias``."""

    def __init__(
        self,
        dim: int,
        freq_dim: int,
        num_experts: int,
        k: int,
        complexity: torch.Tensor,
        use_complexity_bias: bool = True,
        complexity_scale: str = "max",
        noise_at_eval: bool = False,
    ) -> None:
        super().__init__()
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(dim, num_experts, bias=False)
        )
        self.freq_gate = nn.Linear(freq_dim, num_experts, bias=False)
        if complexity_scale == "min":
            complexity = complexity / complexity.min()
        elif complexity_scale == "max":
            complexity = complexity / complexity.max()
        self.register_buffer("complexity", complexity)
        self.k = k
        self.num_experts = num_experts
        self.noise_std = 1.0 / num_experts
        self.use_complexity_bias = use_complexity_bias
        self.noise_at_eval = noise_at_eval

    def forward(self, x: torch.Tensor, freq_emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(gates, aux_loss)``: ``gates`` is ``(B, num_experts)`` with the top-k softmax scores and
        zeros elsewhere; ``aux_loss`` is None outside training."""
        logits = self.gate(x) + self.freq_gate(freq_emb)
        noisy = logits
        if self.training or self.noise_at_eval:
            noisy = logits + torch.randn_like(logits) * self.noise_std
        top_values, top_indices = torch.topk(noisy.softmax(dim=-1), self.k, dim=-1)
        gates = torch.zeros_like(logits).scatter(1, top_indices, top_values)
        aux_loss = None
        if self.training:
            importance = self.importance_loss(logits.softmax(dim=-1))
            aux_loss = 0.5 * importance + 0.5 * self.load_loss(logits, noisy)
        return gates, aux_loss

    def importance_loss(self, scores: torch.Tensor) -> torch.Tensor:
        importance = scores.sum(dim=0)
        if self.use_complexity_bias:
            importance = importance * self.complexity
        return (importance.std() / (importance.mean() + 1e-8)) ** 2

    def load_loss(self, logits: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:
        """Squared CV of each expert's probability of staying in the top-k under fresh noise."""
        kth = torch.topk(noisy, self.k, dim=-1).indices[:, -1:]
        threshold = noisy.gather(1, kth)
        p_win = torch.special.ndtr((logits - threshold) / self.noise_std)  # = 1 - Phi(required noise)
        p_mean = p_win.mean(dim=0)
        return (p_mean.std() / (p_mean.mean() + 1e-8)) ** 2


class AdapterLayer(nn.Module):
    """Mixture of ``num_experts`` complexity experts (patch sizes 4, 8, 16, ...; widths from
    :func:`expert_ranks`), routed per sample; ``loss`` holds the router's auxiliary loss of the last
    forward (None outside training)."""

    def __init__(
        self,
        dim: int,
        rank: int,
        num_experts: int = 4,
        top_k: int = 1,
        rank_type: str = "spread",
        freq_dim: int = 128,
        with_complexity: bool = False,
        complexity_scale: str = "max",
        noise_at_eval: bool = False,
    ) -> None:
        super().__init__()
        ranks = expert_ranks(rank_type, dim, rank, num_experts)
        self.experts = nn.ModuleList(
            [ExpertSequential(ModExpert(dim, r, patch_size=2 ** (i + 2))) for i, r in enumerate(ranks)]
        )
        self.proj_out = nn.Conv2d(dim, dim, kernel_size=1, bias=False)
        complexity = torch.tensor([sum(p.numel() for p in e.parameters()) for e in self.experts])
        self.routing = RoutingFunction(
            dim, freq_dim, num_experts, top_k, complexity, with_complexity, complexity_scale, noise_at_eval
        )
        self.loss: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, freq_emb: torch.Tensor, shared: torch.Tensor) -> torch.Tensor:
        gates, self.loss = self.routing(x, freq_emb)
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            idx = torch.nonzero(gates[:, e] > 0).squeeze(1)
            if idx.numel() == 0:
                continue
            y = expert(x[idx], shared[idx]) * gates[idx, e, None, None, None]
            out = out.index_add(0, idx, y.to(out.dtype))
        return self.proj_out(out)
