"""DIN-style target attention: an attention MLP over [h, t, h - t, h * t] weights the history (no softmax),
then an MLP over [user fields; position; t; weighted history] gives the logit."""

from __future__ import annotations

from torch import Tensor

from ..config import DINParams
from ..layers import MLP, DINAttention, ModelSchema
from .base import ServingInputs, TargetAttentionModel


class DIN(TargetAttentionModel):
    model_type = "din"
    params_type = DINParams

    def __init__(self, schema: ModelSchema, params: DINParams):
        super().__init__(schema, params)
        self.attention = DINAttention(self.emb.item_dim, list(params.attention_hidden))
        self.mlp = MLP(self.x0_dim, list(params.hidden), params.dropout, params.batch_norm)

    def attend(self, x: ServingInputs, t: Tensor, h: Tensor, batch: int) -> Tensor:
        s = self.per_candidate(h, batch)  # [B, L, I]
        weights = self.per_candidate(self.history_weights(x, s.dtype), batch)  # mask x age gate
        return self.attention(t, h, s, weights, lambda v: self.per_candidate(v, batch))  # [B, I]

    def head(self, x0: Tensor) -> Tensor:
        return self.mlp(x0).squeeze(-1)
