"""Logistic regression: a bias plus one weight per hashed value (tags averaged), a linear term on the vector,
and the mean weight of the history's items."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import LRParams
from ..layers import Embeddings, ModelSchema, masked_mean
from .base import CTRModel, ServingInputs


class LR(CTRModel):
    model_type = "lr"
    params_type = LRParams

    def __init__(self, schema: ModelSchema, params: LRParams):
        super().__init__(schema, params)
        self.emb = Embeddings(schema, 1)
        self.bias = nn.Parameter(torch.zeros(1))

    def score(self, x: ServingInputs) -> Tensor:
        b = x.cand_fields.shape[0]
        user = self.emb.user_fields(x.user_fields).sum(dim=(1, 2))  # [Bu]
        item = self.emb.candidate(x.cand_fields, x.cand_tags, x.cand_mm).sum(-1)  # [B]
        hist = self.emb.history(x.hist_ids, x.hist_tags, x.hist_cat, x.hist_mm)  # [Bu, L, 4]
        user = user + masked_mean(hist, x.hist_ids > 0).sum(-1)  # mean weight of the clicked items
        return self.bias + item + self.emb.pos(x.cand_fields).squeeze(-1) + self.per_candidate(user, b)
