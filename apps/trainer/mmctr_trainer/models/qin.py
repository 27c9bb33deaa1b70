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
from .base import ServingInputs, TargetAttentionModel


class QIN(TargetAttentionModel):
    model_type = "qin"
    params_type = QINParams

    def __init__(self, schema: ModelSchema, params: QINParams):
        super().__init__(schema, params)
        i = self.emb.item_dim
        self.attention = SparseTargetAttention(i, params.attention_factor * i)
        # mm_similarity: add w * cos(candidate vector, history vector) to the attention scores (w learned, from 0)
        self.sim_weight = nn.Parameter(torch.zeros(1)) if params.mm_similarity else None
        self.qnn = nn.ModuleList(
            [QuadraticLayer(self.x0_dim, params.rows, params.dropout, params.batch_norm) for _ in range(params.layers)]
        )
        self.out = nn.Linear(self.x0_dim, 1)

    def attend(self, x: ServingInputs, t: Tensor, h: Tensor, batch: int) -> Tensor:
        rows = self.user_rows
        similarity = vector_similarity if rows is None else vector_similarity_all
        bias = self.sim_weight * similarity(x.cand_mm, x.hist_mm) if self.sim_weight is not None else None
        return self.attention(t, h, self.history_weights(x, h.dtype), bias, rows)  # K/V at batch Bu

    def head(self, x0: Tensor) -> Tensor:
        for layer in self.qnn:
            x0 = layer(x0)
        return self.out(x0).squeeze(-1)

    def prepare_for_export(self) -> QIN:
        for layer in self.qnn:
            layer.fold()  # type: ignore[operator]
        return self
