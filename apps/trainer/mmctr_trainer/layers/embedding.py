"""Field embeddings: the table sizes a model is built for (ModelSchema) and the tables themselves (Embeddings),
with the item representation t = [id; category; mean(tags); W_mm mm]."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..features import FeatureSpec


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
    def from_spec(spec: FeatureSpec) -> ModelSchema:
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
        return torch.cat([self.item_id(ids), self.category_of(cat), self.tags(tags), self.vector(mm)], -1)

    def item_id(self, ids: Tensor) -> Tensor:
        """Item-id embeddings [..., E], with item-id dropout in training."""
        e = self._look(self.item, ids)
        if self.training and self.item_id_dropout > 0:
            e = e * (torch.rand(ids.shape, device=e.device) >= self.item_id_dropout).to(e.dtype).unsqueeze(-1)
        return e

    def category_of(self, cat: Tensor) -> Tensor:
        return self._look(self.category, cat)

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
