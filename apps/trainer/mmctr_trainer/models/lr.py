"""Logistic regression: a bias plus one weight per hashed value (tags averaged), a linear term on the vector,
and the mean weight of the history's items."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import LRParams
from ..layers import Embeddings, ModelSchema, masked_mean
from .base import CTRModel


class LR(CTRModel):
    model_type = "lr"
    params_type = LRParams

    def __init__(self, schema: ModelSchema, params: LRParams):
        super().__init__(schema, params)
        self.emb = Embeddings(schema, 1)
        self.bias = nn.Parameter(torch.zeros(1))

    def logits(
        self,
        user_fields: Tensor,
        hist_ids: Tensor,
        hist_tags: Tensor,
        hist_cat: Tensor,
        hist_mm: Tensor,
        hist_age: Tensor,
        cand_fields: Tensor,
        cand_tags: Tensor,
        cand_mm: Tensor,
    ) -> Tensor:
        hist_ids, hist_tags, hist_cat, hist_mm, hist_age = self.cut_history(
            hist_ids, hist_tags, hist_cat, hist_mm, hist_age
        )
        b = cand_fields.shape[0]
        user = self.emb.user_fields(user_fields).sum(dim=(1, 2))  # [Bu]
        item = self.emb.candidate(cand_fields, cand_tags, cand_mm).sum(-1)  # [B]
        hist = self.emb.history(hist_ids, hist_tags, hist_cat, hist_mm)  # [Bu, L, 4]
        user = user + masked_mean(hist, hist_ids > 0).sum(-1)  # mean weight of the clicked items
        return self.bias + item + self.emb.pos(cand_fields).squeeze(-1) + self.per_candidate(user, b)
