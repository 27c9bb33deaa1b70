"""Feature-interaction layers: AutoInt's multi-head self-attention over field embeddings and QIN's quadratic
layer."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class InteractingLayer(nn.Module):
    """AutoInt's multi-head self-attention over field embeddings with a residual projection."""

    def __init__(self, in_dim: int, att_dim: int, heads: int):
        super().__init__()
        if att_dim % heads:
            raise ValueError(f"attention_dim {att_dim} is not a multiple of heads {heads}")
        self.heads, self.head_dim = heads, att_dim // heads
        self.q = nn.Linear(in_dim, att_dim, bias=False)
        self.k = nn.Linear(in_dim, att_dim, bias=False)
        self.v = nn.Linear(in_dim, att_dim, bias=False)
        self.res = nn.Linear(in_dim, att_dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        # One head at a time, with K^T computed as W_k,h x^T from a single transpose of x: the usual
        # [B, F, H, d] -> [B, H, d, F] transposes were a third of the AutoInt+ graph's time in
        # onnxruntime (the whole graph: 0.78x in Python onnxruntime 1.32, 0.81x in onnxruntime-node 1.30).
        xt = x.transpose(1, 2)  # [B, E, F]
        heads = []
        for h in range(self.heads):
            rows = slice(h * self.head_dim, (h + 1) * self.head_dim)
            q = torch.matmul(x, self.q.weight[rows].t())  # [B, F, d]
            kt = torch.matmul(self.k.weight[rows], xt)  # [B, d, F]
            v = torch.matmul(x, self.v.weight[rows].t())  # [B, F, d]
            att = torch.softmax(torch.matmul(q, kt) / math.sqrt(self.head_dim), dim=-1)
            heads.append(torch.matmul(att, v))
        return torch.relu(torch.cat(heads, -1) + self.res(x))


class QuadraticLayer(nn.Module):
    """x <- x + Dropout(PReLU(BatchNorm(x * sum_r (W_r x + b_r)))); the R rows fold exactly into one matrix."""

    def __init__(self, dim: int, rows: int, dropout: float = 0.1, batch_norm: bool = True):
        super().__init__()
        self.dim, self.rows = dim, rows
        self.weight = nn.Parameter(torch.empty(rows, dim, dim))
        self.bias = nn.Parameter(torch.zeros(rows, dim))
        bound = 1.0 / math.sqrt(dim)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)
        self.norm = nn.BatchNorm1d(dim) if batch_norm else nn.Identity()
        self.act = nn.PReLU(dim)
        self.drop = nn.Dropout(dropout)
        self.folded: tuple[Tensor, Tensor] | None = None

    def fold(self) -> None:
        """Sum the R rows into one D x D matrix and one bias (inference only)."""
        with torch.no_grad():
            self.folded = (self.weight.sum(0).clone(), self.bias.sum(0).clone())

    def forward(self, x: Tensor) -> Tensor:
        if self.folded is not None:
            h = nn.functional.linear(x, self.folded[0], self.folded[1])
        else:
            b = x.shape[0]
            h = torch.matmul(x, self.weight.reshape(self.rows * self.dim, self.dim).t())
            h = h.reshape(b, self.rows, self.dim).sum(1) + self.bias.sum(0)
        return x + self.drop(self.act(self.norm(x * h)))
