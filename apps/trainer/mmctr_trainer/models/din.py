"""DIN-style target attention: an attention MLP over [h, t, h - t, h * t] weights the history (no softmax),
then an MLP over [user fields; position; t; weighted history] gives the logit."""

from __future__ import annotations

import torch
from torch import Tensor

from ..config import DINParams
from ..layers import MLP, DINAttention, ModelSchema
from .base import CTRModel, embeddings_for


class DIN(CTRModel):
    model_type = "din"
    params_type = DINParams

    def __init__(self, schema: ModelSchema, params: DINParams):
        super().__init__(schema, params)
        e = params.embedding_dim
        self.emb = embeddings_for(schema, params)
        i = self.emb.item_dim
        self.attention = DINAttention(i, list(params.attention_hidden))
        in_dim = (self.n_user_fields + 1) * e + 2 * i
        self.mlp = MLP(in_dim, list(params.hidden), params.dropout, params.batch_norm)

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
        t = self.emb.candidate(cand_fields, cand_tags, cand_mm)  # [B, I]
        h = self.emb.history(hist_ids, hist_tags, hist_cat, hist_mm)  # [Bu, L, I]
        s = self.per_candidate(h, b)  # [B, L, I]
        weights = self.per_candidate(self.history_weights(hist_ids, hist_age, s.dtype), b)  # mask x age gate
        pooled = self.attention(t, h, s, weights, lambda x: self.per_candidate(x, b))  # [B, I]
        user = self.per_candidate(self.emb.user_fields(user_fields, self.first_user_field).flatten(1), b)
        x = torch.cat([user, self.emb.pos(cand_fields), t, pooled], -1)
        return self.mlp(x).squeeze(-1)
