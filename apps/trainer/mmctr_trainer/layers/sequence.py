"""Behaviour-sequence helpers: masked pooling, the history-age gate and the user-to-candidate broadcast.

User-level tensors (user_*, and each sequence's <seq>_*) have batch Bu in {1, B} and are broadcast over the B candidates
inside the graph, so with Bu = 1 the history's keys / values are computed once per request."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def masked_mean(x: Tensor, mask: Tensor, weights: Tensor | None = None) -> Tensor:
    """Mean of x [..., N, E] over N where mask [..., N] is true; zeros when nothing is. With weights [..., N]
    (zero outside the mask), the weighted sum over the same count, so that the weights' scale is kept."""
    m = mask.to(x.dtype).unsqueeze(-1)
    w = m if weights is None else weights.unsqueeze(-1)
    return (x * w).sum(-2) / m.sum(-2).clamp(min=1.0)


def slot_users(mask: Tensor) -> Tensor:
    """[N, L] -> [N * L]: the user row of each flattened sequence slot (shape-only ops: exports with dynamic N, L)."""
    return (torch.ones_like(mask).cumsum(0) - 1).flatten()


def expand_batch(x: Tensor, batch: int) -> Tensor:
    """[Bu, ...] -> [batch, ...] for Bu in {1, batch} (an ONNX Expand, free when Bu == batch)."""
    return x.expand(batch, *x.shape[1:])


class HistoryGate(nn.Module):
    """A learned weight per history-age bucket (and, with `rank`, per slot: the newest click, the one before, ...),
    multiplied into each history item's attention weight: interest in a click fades with its age, which the
    newest-first order alone does not tell. exp(0) = 1 at the start, so the gate begins as a no-op."""

    def __init__(self, age_buckets: int, rank_slots: int = 0):
        super().__init__()
        self.log_age = nn.Embedding(max(2, age_buckets), 1)
        nn.init.zeros_(self.log_age.weight)
        self.log_rank = nn.Parameter(torch.zeros(rank_slots)) if rank_slots > 0 else None

    def forward(self, age: Tensor | None, mask: Tensor) -> Tensor:
        """[Bu, L] age buckets (None: a sequence without ages) and its [Bu, L] mask -> [Bu, L] weights"""
        w = self.log_age(age).squeeze(-1) if age is not None else torch.zeros_like(mask)
        if self.log_rank is not None:
            w = w + self.log_rank[: mask.shape[1]]
        return torch.exp(w)
