"""QIN (Quadratic Interest Network): adaptive sparse target attention over each behaviour sequence plus a
quadratic network, as in shared/notes/models.md.

Target representation t = the candidate's embeddings of the sequence's side features (demo: [id; category;
mean(tags); W_mm mm], 4E; the notes' MicroLens items had no category, 3 x 128). Attention width A = 2 x I (the
notes' 384 -> 768). x0 = [user slot embeddings; other candidate slots (position); t; o per sequence], then
`layers` quadratic layers with `rows` rows each (folded into one matrix per layer for inference),
y = sigmoid(w^T x + b). Options (docs/trainer.md): mm_norm, item_id_dropout and user_id from the shared layers,
mm_similarity (the vectors' cosine added to the attention scores) and history_age (a learned weight per age
bucket on the attention weights).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import QINParams
from ..layers import QuadraticLayer, SparseTargetAttention, vector_similarity, vector_similarity_all
from ..layers.embedding import Inputs, vector_span
from ..schema import ModelSchema
from .base import TargetAttentionModel


class QIN(TargetAttentionModel[QINParams]):
    model_type = "qin"
    params_type = QINParams

    def __init__(self, schema: ModelSchema, params: QINParams):
        super().__init__(schema, params)
        # mm_similarity: add w * cos(candidate vectors, entry vectors) to the attention scores (w learned, from 0),
        # for each sequence whose entries have vectors
        self.sim_weight = nn.ParameterDict(
            {s["name"]: nn.Parameter(torch.zeros(1)) for s in schema.sequences if params.mm_similarity and s["vector"]}
        )
        self.qnn = nn.ModuleList(
            [QuadraticLayer(self.x0_dim, params.rows, params.dropout, params.batch_norm) for _ in range(params.layers)]
        )
        self.out = nn.Linear(self.x0_dim, 1)

    def attention_layer(self, item_dim: int) -> nn.Module:
        return SparseTargetAttention(item_dim, self.params.attention_factor * item_dim)

    def similarity(self, seq: dict, x: Inputs) -> Tensor:
        """Cosine of the candidates' and the entries' raw vectors (the side features' spans, concatenated)."""
        cand_slots = {slot["feature"]: slot for slot in self.schema.candidate["vector"]}
        c = torch.cat([vector_span(x, "cand", cand_slots[slot["feature"]]) for slot in seq["vector"]], -1)
        h = torch.cat([vector_span(x, seq["name"], slot) for slot in seq["vector"]], -1)
        return (vector_similarity if self.user_rows is None else vector_similarity_all)(c, h)

    def attend(self, seq: dict, x: Inputs, t: Tensor, h: Tensor, batch: int) -> Tensor:
        name = seq["name"]
        bias = self.sim_weight[name] * self.similarity(seq, x) if name in self.sim_weight else None
        weights = self.history_weights(seq, x, h.dtype)
        return self.attention[name](t, h, weights, bias, self.user_rows)  # K/V at batch Bu

    def head(self, x0: Tensor) -> Tensor:
        for layer in self.qnn:
            x0 = layer(x0)
        return self.out(x0).squeeze(-1)

    def prepare_for_export(self) -> QIN:
        for layer in self.qnn:
            layer.fold()  # type: ignore[operator]
        return self
