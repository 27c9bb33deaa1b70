"""Target attention over the behaviour sequence: QIN's sparse target attention, DIN's attention MLP and the
multimodal-vector similarity QIN can add to its scores. Both attentions compute the history's per-slot terms
at the user batch Bu (1 in serving) and only the candidate-dependent terms at batch B."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from .sequence import slot_users


def _unit(x: Tensor) -> Tensor:
    """x scaled to unit length along the last dim; a zero vector stays zero."""
    return x / x.norm(dim=-1, keepdim=True).clamp(min=1e-6)


def vector_similarity(cand_mm: Tensor, hist_mm: Tensor) -> Tensor:
    """Cosine of each candidate's raw vector with each history vector: [B, D], [Bu, L, D] -> [B, 1, L]; 0 where
    either vector is zero (absent, or the --no-mm ablation)."""
    return torch.matmul(_unit(cand_mm).unsqueeze(1), _unit(hist_mm).transpose(1, 2))


def vector_similarity_all(cand_mm: Tensor, hist_mm: Tensor) -> Tensor:
    """vector_similarity against every user's history at once: [B, D], [N, L, D] -> [B, N * L] (the batch graph)."""
    return torch.matmul(_unit(cand_mm), _unit(hist_mm).flatten(0, 1).t())


class SparseTargetAttention(nn.Module):
    """QIN's adaptive sparse target attention (one head, no softmax, no top-k):
    q = W_q t, K = S W_k^T, V = S W_v^T, a = ReLU((q K^T / sqrt(A)) * mask), o = W_o (a V) + t."""

    def __init__(self, item_dim: int, attn_dim: int):
        super().__init__()
        self.wq = nn.Linear(item_dim, attn_dim, bias=False)
        self.wk = nn.Linear(item_dim, attn_dim, bias=False)
        self.wv = nn.Linear(item_dim, attn_dim, bias=False)
        self.wo = nn.Linear(attn_dim, item_dim, bias=False)
        self.scale = 1.0 / math.sqrt(attn_dim)

    def forward(
        self, t: Tensor, hist: Tensor, mask: Tensor, bias: Tensor | None = None, rows: Tensor | None = None
    ) -> Tensor:
        """t [B, I], hist [Bu, L, I], mask [Bu, L] (0/1, or a weight per slot such as an age gate), bias [B, 1, L]
        added to the scores -> [B, I]; K/V are computed at batch Bu. With rows [B] (the batch graph: hist holds
        N users, rows names each candidate's), bias is [B, N * L] and each candidate attends over its user's slots."""
        k = self.wk(hist)  # [Bu, L, A]
        v = self.wv(hist)
        if rows is not None:
            return self.wo(self._own_history(self.wq(t), k, v, mask, bias, rows)) + t
        q = self.wq(t).unsqueeze(1)  # [B, 1, A]
        scores = torch.matmul(q, k.transpose(1, 2)) * self.scale  # [B, 1, L] (broadcast over Bu = 1)
        if bias is not None:
            scores = scores + bias
        a = torch.relu(scores * mask.to(scores.dtype).unsqueeze(1))
        return self.wo(torch.matmul(a, v).squeeze(1)) + t

    def _own_history(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor, bias: Tensor | None, rows: Tensor) -> Tensor:
        """Every candidate against all N users' keys, then only its own user's slots kept: N times the (small)
        score and value matmuls, but K/V stay per user and nothing [B, L, A]-sized is gathered."""
        scores = torch.matmul(q, k.flatten(0, 1).t()) * self.scale  # [B, N * L]
        if bias is not None:
            scores = scores + bias
        own = (slot_users(mask).unsqueeze(0) == rows.unsqueeze(1)).to(scores.dtype)  # [B, N * L]
        a = torch.relu(scores * (mask.flatten().to(scores.dtype).unsqueeze(0) * own))
        return torch.matmul(a, v.flatten(0, 1))  # [B, A]


class DINAttention(nn.Module):
    """DIN's attention unit: an MLP (PReLU) over [h, t, h - t, h * t] scores each history item for the target
    (no softmax); the history sum weighted by those scores (times the mask / age gate) is the user's interest."""

    def __init__(self, item_dim: int, hidden: list[int]):
        super().__init__()
        layers: list[nn.Module] = []
        d = 4 * item_dim
        for h in hidden:
            layers += [nn.Linear(d, h), nn.PReLU()]
            d = h
        layers.append(nn.Linear(d, 1))
        self.net = nn.Sequential(*layers)

    def forward(
        self, t: Tensor, hist: Tensor, s: Tensor, weights: Tensor, to_candidates: Callable[[Tensor], Tensor]
    ) -> Tensor:
        """t [B, I]; hist [Bu, L, I] and s = to_candidates(hist) [B, L, I]; weights [B, L] -> pooled [B, I]."""
        # The first layer on [s, t, s - t, s * t] is W_s s + W_t t + W_d (s - t) + W_p (s * t)
        # = (W_s + W_d) s + (W_t - W_d) t + W_p (s * t): the history term once per user and the target term
        # once per candidate; only s * t is [B, L]-sized. No [B, L, 4I] concat (the graph's slowest op).
        first = self.net[0]
        assert isinstance(first, nn.Linear)
        w_s, w_t, w_d, w_p = first.weight.split(t.shape[-1], dim=1)
        a = (
            to_candidates(torch.matmul(hist, (w_s + w_d).t()))
            + (torch.matmul(t, (w_t - w_d).t()) + first.bias).unsqueeze(1)
            + torch.matmul(s * t.unsqueeze(1), w_p.t())
        )  # [B, L, H1]
        w = self.net[1:](a).squeeze(-1) * weights  # [B, L]
        return torch.matmul(w.unsqueeze(1), s).squeeze(1)  # [B, I]
