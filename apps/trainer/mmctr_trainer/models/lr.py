"""Logistic regression: a bias plus one weight per categorical value (multi-categorical values pooled), a linear
term per numeric and vector slot, and the mean weight of each sequence's entries."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import LRParams
from ..layers import Embeddings, masked_mean
from ..layers.embedding import Inputs
from ..schema import ModelSchema
from .base import CTRModel


class LR(CTRModel):
    model_type = "lr"
    params_type = LRParams

    def __init__(self, schema: ModelSchema, params: LRParams):
        super().__init__(schema, params)
        self.emb = Embeddings(schema, 1)
        self.bias = nn.Parameter(torch.zeros(1))

    def score(self, x: Inputs) -> Tensor:
        b = x[self.batch_input].shape[0]
        cand = self.emb.group(self.schema.candidate, "cand", x)
        out = self.bias + sum(e.squeeze(-1) for e in cand.values())  # [B]
        user = [e.squeeze(-1) for e in self.emb.group(self.schema.user, "user", x).values()]  # [Bu] each
        for s in self.schema.sequences:
            h = self.sequence_embeddings(s, x)  # [Bu, L, k]
            user.append(masked_mean(h, self.sequence_mask(s, x)).sum(-1))  # mean weight of the entries
        return out + self.per_candidate(sum(user), b) if user else out
