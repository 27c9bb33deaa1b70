"""Layers shared by the models.

Every model takes the serving tensors (see features.SERVING_INPUTS): user-level tensors
(user_fields, hist_*) have batch Bu in {1, B} and are broadcast over the B candidates inside the
graph, so with Bu = 1 the history's keys / values are computed once per request.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .features import FeatureSpec


@dataclass
class ModelSchema:
    """Table sizes and tensor shapes a model is built for (from a feature spec or a CSV import)."""

    user_buckets: list[int]
    item_buckets: int
    category_buckets: int
    position_buckets: int
    tag_buckets: int
    history_length: int
    mm_dim: int

    @staticmethod
    def from_spec(spec: FeatureSpec) -> "ModelSchema":
        return ModelSchema(
            user_buckets=[f.buckets for f in spec.user_fields],
            item_buckets=spec.item_buckets,
            category_buckets=spec.category_buckets,
            position_buckets=spec.candidate_field("position").buckets,
            tag_buckets=spec.tag_buckets,
            history_length=spec.history_length,
            mm_dim=spec.mm_dim,
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of x [..., N, E] over N where mask [..., N] is true; zeros when nothing is."""
    m = mask.to(x.dtype).unsqueeze(-1)
    return (x * m).sum(-2) / m.sum(-2).clamp(min=1.0)


def expand_batch(x: Tensor, batch: int) -> Tensor:
    """[Bu, ...] -> [batch, ...] for Bu in {1, batch} (an ONNX Expand, free when Bu == batch)."""
    return x.expand(batch, *x.shape[1:])


class Embeddings(nn.Module):
    """Embedding tables for every field; item representation t = [id; category; mean(tags); W_mm mm]."""

    def __init__(self, schema: ModelSchema, dim: int):
        super().__init__()
        self.dim = dim
        self.user = nn.ModuleList([nn.Embedding(b, dim, padding_idx=0) for b in schema.user_buckets])
        self.item = nn.Embedding(schema.item_buckets, dim, padding_idx=0)
        self.category = nn.Embedding(schema.category_buckets, dim, padding_idx=0)
        self.position = nn.Embedding(schema.position_buckets, dim, padding_idx=0)
        self.tag = nn.Embedding(schema.tag_buckets, dim, padding_idx=0)
        self.mm = nn.Linear(schema.mm_dim, dim, bias=False)
        for e in [*self.user, self.item, self.category, self.position, self.tag]:
            nn.init.normal_(e.weight, std=1e-2 if dim > 1 else 1e-3)
            with torch.no_grad():
                e.weight[0].zero_()
        self._reg: list[Tensor] = []

    @property
    def item_dim(self) -> int:
        return 4 * self.dim

    def _look(self, table: nn.Embedding, ids: Tensor) -> Tensor:
        e = table(ids)
        if self.training:
            self._reg.append(e)
        return e

    def user_fields(self, user_fields: Tensor) -> Tensor:
        """[Bu, U] -> [Bu, U, E]"""
        return torch.stack([self._look(t, user_fields[:, i]) for i, t in enumerate(self.user)], dim=1)

    def tags(self, tags: Tensor) -> Tensor:
        return masked_mean(self._look(self.tag, tags), tags > 0)

    def item_repr(self, ids: Tensor, cat: Tensor, tags: Tensor, mm: Tensor) -> Tensor:
        """ids/cat [...], tags [..., 5], mm [..., D] -> [..., 4E]"""
        return torch.cat([self._look(self.item, ids), self._look(self.category, cat), self.tags(tags), self.mm(mm)], -1)

    def candidate(self, cand_fields: Tensor, cand_tags: Tensor, cand_mm: Tensor) -> Tensor:
        return self.item_repr(cand_fields[:, 0], cand_fields[:, 1], cand_tags, cand_mm)

    def history(self, hist_ids: Tensor, hist_tags: Tensor, hist_cat: Tensor, hist_mm: Tensor) -> Tensor:
        return self.item_repr(hist_ids, hist_cat, hist_tags, hist_mm)

    def pos(self, cand_fields: Tensor) -> Tensor:
        return self._look(self.position, cand_fields[:, 2])

    def take_l2(self) -> Tensor | None:
        """Sum of squares of the embeddings looked up since the last call, over the batch size."""
        if not self._reg:
            return None
        b = max(int(self._reg[0].shape[0]), 1)
        total = self._reg[0].pow(2).sum()
        for e in self._reg[1:]:
            total = total + e.pow(2).sum()
        self._reg = []
        return total / b


class MLP(nn.Module):
    def __init__(self, in_dim: int, hidden: list[int], dropout: float = 0.0, batch_norm: bool = False, out_dim: int | None = 1):
        super().__init__()
        layers: list[nn.Module] = []
        d = in_dim
        for h in hidden:
            layers.append(nn.Linear(d, h))
            if batch_norm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            d = h
        if out_dim is not None:
            layers.append(nn.Linear(d, out_dim))
        self.net = nn.Sequential(*layers)
        self.out_dim = out_dim if out_dim is not None else d

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


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

    def forward(self, t: Tensor, hist: Tensor, mask: Tensor) -> Tensor:
        """t [B, I], hist [Bu, L, I], mask [Bu, L] -> [B, I]; K/V are computed at batch Bu."""
        k = self.wk(hist)  # [Bu, L, A]
        v = self.wv(hist)
        q = self.wq(t).unsqueeze(1)  # [B, 1, A]
        scores = torch.matmul(q, k.transpose(1, 2)) * self.scale  # [B, 1, L] (broadcast over Bu = 1)
        a = torch.relu(scores * mask.to(scores.dtype).unsqueeze(1))
        return self.wo(torch.matmul(a, v).squeeze(1)) + t


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


class InteractingLayer(nn.Module):
    """AutoInt's multi-head self-attention over field embeddings with a residual projection."""

    def __init__(self, in_dim: int, att_dim: int, heads: int):
        super().__init__()
        assert att_dim % heads == 0
        self.heads, self.head_dim = heads, att_dim // heads
        self.q = nn.Linear(in_dim, att_dim, bias=False)
        self.k = nn.Linear(in_dim, att_dim, bias=False)
        self.v = nn.Linear(in_dim, att_dim, bias=False)
        self.res = nn.Linear(in_dim, att_dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        b, f, _ = x.shape
        def split(t: Tensor) -> Tensor:
            return t.reshape(b, f, self.heads, self.head_dim).transpose(1, 2)  # [B, H, F, d]
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        att = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim), dim=-1)
        o = torch.matmul(att, v).transpose(1, 2).reshape(b, f, self.heads * self.head_dim)
        return torch.relu(o + self.res(x))


class CTRModel(nn.Module):
    """Base: forward(...) -> ctr [B]; logits(...) -> [B]."""

    model_type = "base"

    def __init__(self, schema: ModelSchema, params: dict[str, Any]):
        super().__init__()
        self.schema = schema
        self.params = dict(params)
        # Optional cap on the behaviour sequence the model reads: the newest `history_length` clicks (the
        # serving tensors keep L slots; the graph slices them, so training and serving see the same thing).
        self.max_history = int(params.get("history_length", 0) or 0)

    def cut_history(self, hist_ids: Tensor, hist_tags: Tensor, hist_cat: Tensor, hist_mm: Tensor
                    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        k = self.max_history
        if k <= 0 or k >= self.schema.history_length:
            return hist_ids, hist_tags, hist_cat, hist_mm
        return hist_ids[:, :k], hist_tags[:, :k], hist_cat[:, :k], hist_mm[:, :k]

    def logits(self, user_fields: Tensor, hist_ids: Tensor, hist_tags: Tensor, hist_cat: Tensor, hist_mm: Tensor,
               cand_fields: Tensor, cand_tags: Tensor, cand_mm: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, user_fields: Tensor, hist_ids: Tensor, hist_tags: Tensor, hist_cat: Tensor, hist_mm: Tensor,
                cand_fields: Tensor, cand_tags: Tensor, cand_mm: Tensor) -> Tensor:
        return torch.sigmoid(self.logits(user_fields, hist_ids, hist_tags, hist_cat, hist_mm, cand_fields, cand_tags, cand_mm))

    def reg_loss(self) -> Tensor | None:
        emb = getattr(self, "emb", None)
        return emb.take_l2() if isinstance(emb, Embeddings) else None

    def prepare_for_export(self) -> "CTRModel":
        """Inference-time rewrites (exact); the default has none."""
        return self
