"""DIN-style target attention: for each sequence an attention MLP over [h, t, h - t, h * t] weights the entries
(no softmax), then an MLP over [user slots; other candidate slots; t; weighted entries] gives the logit."""

from __future__ import annotations

from torch import Tensor, nn

from ..config import DINParams
from ..layers import MLP, DINAttention
from ..layers.embedding import Inputs
from ..schema import ModelSchema
from .base import TargetAttentionModel


class DIN(TargetAttentionModel[DINParams]):
    model_type = "din"
    params_type = DINParams

    def __init__(self, schema: ModelSchema, params: DINParams):
        super().__init__(schema, params)
        self.mlp = MLP(self.x0_dim, list(params.hidden), params.dropout, params.batch_norm)

    def attention_layer(self, item_dim: int) -> nn.Module:
        return DINAttention(item_dim, list(self.params.attention_hidden))

    def attend(self, seq: dict, x: Inputs, t: Tensor, h: Tensor, batch: int) -> Tensor:
        s = self.per_candidate(h, batch)  # [B, L, I]
        weights = self.per_candidate(self.history_weights(seq, x, s.dtype), batch)  # mask x age gate
        return self.attention[seq["name"]](t, h, s, weights, lambda v: self.per_candidate(v, batch))  # [B, I]

    def head(self, x0: Tensor) -> Tensor:
        return self.mlp(x0).squeeze(-1)
