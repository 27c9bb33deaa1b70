"""Layers shared by the models.

Every model takes the serving tensors (see features.SERVING_INPUTS): user-level tensors
(user_fields, hist_*) have batch Bu in {1, B} and are broadcast over the B candidates inside the
graph, so with Bu = 1 the history's keys / values are computed once per request.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

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
    age_buckets: int = 2  # history-age table size (spec.age_buckets; 2 = no ages, only "unknown")

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
            age_buckets=spec.age_buckets,
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def masked_mean(x: Tensor, mask: Tensor, weights: Tensor | None = None) -> Tensor:
    """Mean of x [..., N, E] over N where mask [..., N] is true; zeros when nothing is. With weights [..., N]
    (zero outside the mask), the weighted sum over the same count, so that the weights' scale is kept."""
    m = mask.to(x.dtype).unsqueeze(-1)
    w = m if weights is None else weights.unsqueeze(-1)
    return (x * w).sum(-2) / m.sum(-2).clamp(min=1.0)


def vector_similarity(cand_mm: Tensor, hist_mm: Tensor) -> Tensor:
    """Cosine of each candidate's raw vector with each history vector: [B, D], [Bu, L, D] -> [B, 1, L]; 0 where
    either vector is zero (absent, or the --no-mm ablation)."""
    return torch.matmul(_unit(cand_mm).unsqueeze(1), _unit(hist_mm).transpose(1, 2))


def vector_similarity_all(cand_mm: Tensor, hist_mm: Tensor) -> Tensor:
    """vector_similarity against every user's history at once: [B, D], [N, L, D] -> [B, N * L] (the batch graph)."""
    return torch.matmul(_unit(cand_mm), _unit(hist_mm).flatten(0, 1).t())


def _unit(x: Tensor) -> Tensor:
    """x scaled to unit length along the last dim; a zero vector stays zero."""
    return x / x.norm(dim=-1, keepdim=True).clamp(min=1e-6)


def slot_users(hist_ids: Tensor) -> Tensor:
    """[N, L] -> [N * L]: the user row of each flattened history slot (shape-only ops: exports with dynamic N, L)."""
    return (torch.ones_like(hist_ids).cumsum(0) - 1).flatten()


def expand_batch(x: Tensor, batch: int) -> Tensor:
    """[Bu, ...] -> [batch, ...] for Bu in {1, batch} (an ONNX Expand, free when Bu == batch)."""
    return x.expand(batch, *x.shape[1:])


def embeddings_from_params(schema: ModelSchema, dim: int, params: dict[str, Any]) -> "Embeddings":
    return Embeddings(schema, dim, mm_norm=str(params.get("mm_norm", "none")),
                      item_id_dropout=float(params.get("item_id_dropout", 0.0)))


class Embeddings(nn.Module):
    """Embedding tables for every field; item representation t = [id; category; mean(tags); W_mm mm]."""

    def __init__(self, schema: ModelSchema, dim: int, mm_norm: str = "none", item_id_dropout: float = 0.0):
        super().__init__()
        if mm_norm not in ("none", "layer"):
            raise ValueError(f"mm_norm must be 'none' or 'layer', not {mm_norm!r}")
        self.dim = dim
        # mm_norm "layer": LayerNorm (no affine) on W_mm mm, so the projected vector has unit scale per item
        # whatever the PCA components' scale; a zero vector (absent / --no-mm) stays exactly zero.
        self.mm_norm = mm_norm
        # item_id_dropout: in training, zero the item-id embedding of this share of items (the untrained id of
        # a cold-start item is ~0 too), so the model learns to score from category / tags / vector without it.
        self.item_id_dropout = float(item_id_dropout)
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

    def user_fields(self, user_fields: Tensor, start: int = 0) -> Tensor:
        """[Bu, U] -> [Bu, U - start, E] (start = 1 leaves out user_id, the first field)"""
        return torch.stack([self._look(t, user_fields[:, i]) for i, t in enumerate(self.user) if i >= start], dim=1)

    def tags(self, tags: Tensor) -> Tensor:
        # Row 0 (padding) of the tag table is zero and gets no gradient, so the plain sum over the slots is
        # the masked sum: the same mean without a [B, 5, E] multiply in the serving graph.
        e = self._look(self.tag, tags)
        return e.sum(-2) / (tags > 0).to(e.dtype).sum(-1, keepdim=True).clamp(min=1.0)

    def item_repr(self, ids: Tensor, cat: Tensor, tags: Tensor, mm: Tensor) -> Tensor:
        """ids/cat [...], tags [..., 5], mm [..., D] -> [..., 4E]"""
        return torch.cat([self.item_id(ids), self._look(self.category, cat), self.tags(tags), self.vector(mm)], -1)

    def item_id(self, ids: Tensor) -> Tensor:
        """Item-id embeddings [..., E], with item-id dropout in training."""
        e = self._look(self.item, ids)
        if self.training and self.item_id_dropout > 0:
            e = e * (torch.rand(ids.shape, device=e.device) >= self.item_id_dropout).to(e.dtype).unsqueeze(-1)
        return e

    def vector(self, mm: Tensor) -> Tensor:
        """Projected multimodal vector W_mm mm [..., E] (LayerNorm-ed with mm_norm "layer")."""
        v = self.mm(mm)
        return nn.functional.layer_norm(v, (self.dim,)) if self.mm_norm == "layer" else v

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


class ServingPReLU(nn.Module):
    """nn.PReLU rewritten for export, with the same weights and bit-identical outputs. onnxruntime's CPU
    PRelu kernel broadcasts the per-channel slope element by element: on QIN's [500, 104] layers it took
    longer than the layer's Gemm (340 vs 285 us), a fifth of the default QIN's run. max(x, a*x) is PReLU
    exactly when every slope a <= 1 (two fast elementwise ops); otherwise relu(x) + a*min(x, 0)."""

    def __init__(self, prelu: nn.PReLU):
        super().__init__()
        self.weight = nn.Parameter(prelu.weight.detach().clone(), requires_grad=False)
        self.max_form = bool((self.weight <= 1).all())

    def forward(self, x: Tensor) -> Tensor:
        # nn.PReLU's slopes run along dim 1 (the channel); one slope broadcasts everywhere
        w = self.weight if self.weight.numel() == 1 else self.weight.view(1, -1, *([1] * (x.dim() - 2)))
        if self.max_form:
            return torch.maximum(x, x * w)
        return torch.relu(x) + w * torch.clamp(x, max=0.0)


ModuleT = TypeVar("ModuleT", bound=nn.Module)


def replace_prelu_for_serving(module: ModuleT) -> ModuleT:
    """Swaps every nn.PReLU below `module` for a ServingPReLU (in place; for the serving copy)."""
    for name, child in module.named_children():
        if isinstance(child, nn.PReLU):
            setattr(module, name, ServingPReLU(child))
        else:
            replace_prelu_for_serving(child)
    return module


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

    def forward(self, t: Tensor, hist: Tensor, mask: Tensor, bias: Tensor | None = None,
                rows: Tensor | None = None) -> Tensor:
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


class HistoryGate(nn.Module):
    """A learned weight per history-age bucket (and, with `rank`, per slot: the newest click, the one before, ...),
    multiplied into each history item's attention weight: interest in a click fades with its age, which the
    newest-first order alone does not tell. exp(0) = 1 at the start, so the gate begins as a no-op."""

    def __init__(self, age_buckets: int, rank_slots: int = 0):
        super().__init__()
        self.log_age = nn.Embedding(max(2, age_buckets), 1)
        nn.init.zeros_(self.log_age.weight)
        self.log_rank = nn.Parameter(torch.zeros(rank_slots)) if rank_slots > 0 else None

    def forward(self, hist_age: Tensor) -> Tensor:
        """[Bu, L] age buckets -> [Bu, L] weights"""
        w = self.log_age(hist_age).squeeze(-1)
        if self.log_rank is not None:
            w = w + self.log_rank[: hist_age.shape[1]]
        return torch.exp(w)


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
        # user_id false: leave the user-id embedding (the first user field) out of the model's input; on data with
        # ~2 train clicks per user it mostly memorises noise (docs/model-quality.md).
        self.first_user_field = 0 if bool(params.get("user_id", True)) else 1
        self.n_user_fields = len(schema.user_buckets) - self.first_user_field
        # history_age: weight each history item by its click age (HistoryGate), used by the attention / pooling
        self.history_gate = (HistoryGate(schema.age_buckets, (self.max_history or schema.history_length)
                                         if bool(params.get("history_rank", False)) else 0)
                             if bool(params.get("history_age", False)) else None)

    def cut_history(self, hist_ids: Tensor, hist_tags: Tensor, hist_cat: Tensor, hist_mm: Tensor, hist_age: Tensor
                    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        k = self.max_history
        if k <= 0 or k >= self.schema.history_length:
            return hist_ids, hist_tags, hist_cat, hist_mm, hist_age
        return hist_ids[:, :k], hist_tags[:, :k], hist_cat[:, :k], hist_mm[:, :k], hist_age[:, :k]

    # The batch graph's cand_user [B] while export_batch_onnx traces the model (user-level inputs then hold N
    # requests' users); None otherwise. Set by CandidateUsers only.
    user_rows: Tensor | None = None

    def per_candidate(self, x: Tensor, batch: int) -> Tensor:
        """A user-level tensor [Bu, ...] -> [batch, ...]: a broadcast, or each candidate's user row in the batch graph."""
        return expand_batch(x, batch) if self.user_rows is None else x.index_select(0, self.user_rows)

    def history_weights(self, hist_ids: Tensor, hist_age: Tensor, dtype: torch.dtype) -> Tensor:
        """[Bu, L]: 1 for a clicked item (times its age gate when the model has one), 0 for an empty slot."""
        mask = (hist_ids > 0).to(dtype)
        return mask * self.history_gate(hist_age) if self.history_gate is not None else mask

    def logits(self, user_fields: Tensor, hist_ids: Tensor, hist_tags: Tensor, hist_cat: Tensor, hist_mm: Tensor,
               hist_age: Tensor, cand_fields: Tensor, cand_tags: Tensor, cand_mm: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, user_fields: Tensor, hist_ids: Tensor, hist_tags: Tensor, hist_cat: Tensor, hist_mm: Tensor,
                hist_age: Tensor, cand_fields: Tensor, cand_tags: Tensor, cand_mm: Tensor) -> Tensor:
        return torch.sigmoid(self.logits(user_fields, hist_ids, hist_tags, hist_cat, hist_mm, hist_age, cand_fields,
                                         cand_tags, cand_mm))

    def reg_loss(self) -> Tensor | None:
        emb = getattr(self, "emb", None)
        return emb.take_l2() if isinstance(emb, Embeddings) else None

    def prepare_for_export(self) -> "CTRModel":
        """Inference-time rewrites (exact); the default has none."""
        return self
