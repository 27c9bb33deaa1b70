"""AutoInt+: stacked multi-head self-attention over the field embeddings plus a parallel DNN.

Fields: the user fields, the history's masked means (age-weighted with history_age) of item id, category, tags
and projected vector, and the candidate's id, category, position, mean tags and projected vector."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import AutoIntParams
from ..layers import MLP, InteractingLayer, ModelSchema, masked_mean
from .base import CTRModel, ServingInputs, embeddings_for


class AutoIntPlus(CTRModel):
    model_type = "autoint"
    params_type = AutoIntParams

    def __init__(self, schema: ModelSchema, params: AutoIntParams):
        super().__init__(schema, params)
        e = params.embedding_dim
        self.emb = embeddings_for(schema, params)
        self.n_fields = self.n_user_fields + 9
        att_dim = params.attention_dim or e
        layers = []
        d = e
        for _ in range(params.attention_layers):
            layers.append(InteractingLayer(d, att_dim, params.heads))
            d = att_dim
        self.interacting = nn.ModuleList(layers)
        self.att_out = nn.Linear(self.n_fields * d, 1)
        self.dnn = MLP(self.n_fields * e, list(params.hidden), params.dropout, params.batch_norm)

    def score(self, x: ServingInputs) -> Tensor:
        b = x.cand_fields.shape[0]
        em = self.emb
        hist = em.history(x.hist_ids, x.hist_tags, x.hist_cat, x.hist_mm)  # [Bu, L, 4E]: id, category, tags, vector
        weights = self.history_weights(x, hist.dtype)  # mask x age gate
        pooled = masked_mean(hist, x.hist_ids > 0, weights).reshape(hist.shape[0], 4, em.dim)
        user = torch.cat([em.user_fields(x.user_fields, self.first_user_field), pooled], 1)  # [Bu, U + 4, E]
        cand = torch.stack(
            [
                em.item_id(x.cand_fields[:, 0]),
                em.category_of(x.cand_fields[:, 1]),
                em.pos(x.cand_fields),
                em.tags(x.cand_tags),
                em.vector(x.cand_mm),
            ],
            1,
        )  # [B, 5, E]
        f = torch.cat([self.per_candidate(user, b), cand], 1)  # [B, F, E]
        h = f
        for layer in self.interacting:
            h = layer(h)
        return (self.att_out(h.flatten(1)) + self.dnn(f.flatten(1))).squeeze(-1)
