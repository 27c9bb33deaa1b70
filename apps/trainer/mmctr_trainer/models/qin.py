"""QIN (Quadratic Interest Network): adaptive sparse target attention over the behaviour sequence plus a
quadratic network, as in shared/notes/models.md.

Item representation t = [id; category; mean(tags); W_mm mm] (4E; the notes' MicroLens items had no
category, 3 x 128). Attention width A = 2 x 4E (the notes' 384 -> 768). x0 = [user field embeddings;
position; t; o], then `layers` quadratic layers with `rows` rows each (folded into one matrix per layer
for inference), y = sigmoid(w^T x + b). Options (docs/trainer.md): mm_norm, item_id_dropout and user_id from the
shared layers, mm_similarity (the vectors' cosine added to the attention scores) and history_age (a learned
weight per click-age bucket on the attention weights).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import QINParams
from ..layers import ModelSchema, QuadraticLayer, SparseTargetAttention, vector_similarity, vector_similarity_all
from .base import CTRModel, embeddings_for


class QIN(CTRModel):
    model_type = "qin"
    params_type = QINParams

    def __init__(self, schema: ModelSchema, params: QINParams):
        super().__init__(schema, params)
        e = params.embedding_dim
        self.emb = embeddings_for(schema, params)
        i = self.emb.item_dim
        self.attention = SparseTargetAttention(i, params.attention_factor * i)
        d = (self.n_user_fields + 1) * e + 2 * i
        # mm_similarity: add w * cos(candidate vector, history vector) to the attention scores (w learned, from 0)
        self.sim_weight = nn.Parameter(torch.zeros(1)) if params.mm_similarity else None
        self.qnn = nn.ModuleList(
            [QuadraticLayer(d, params.rows, params.dropout, params.batch_norm) for _ in range(params.layers)]
        )
        self.out = nn.Linear(d, 1)

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
        s = self.emb.history(hist_ids, hist_tags, hist_cat, hist_mm)  # [Bu, L, I]
        rows = self.user_rows
        similarity = vector_similarity if rows is None else vector_similarity_all
        bias = self.sim_weight * similarity(cand_mm, hist_mm) if self.sim_weight is not None else None
        o = self.attention(t, s, self.history_weights(hist_ids, hist_age, s.dtype), bias, rows)  # K/V at batch Bu
        user = self.per_candidate(self.emb.user_fields(user_fields, self.first_user_field).flatten(1), b)
        x = torch.cat([user, self.emb.pos(cand_fields), t, o], -1)
        for layer in self.qnn:
            x = layer(x)
        return self.out(x).squeeze(-1)

    def prepare_for_export(self) -> QIN:
        for layer in self.qnn:
            layer.fold()  # type: ignore[operator]
        return self
