"""AutoInt+: stacked multi-head self-attention over the slot embeddings plus a parallel DNN.

Fields: the user slots, each sequence's masked means (age-weighted with history_age) of its side features, and the
candidate's slots (demo: id, category, position, mean tags and projected vector)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import AutoIntParams
from ..layers import MLP, InteractingLayer, masked_mean
from ..layers.embedding import Inputs
from ..schema import ModelSchema, slot_key, slots_of
from .base import CTRModel, embeddings_for


class AutoIntPlus(CTRModel):
    model_type = "autoint"
    params_type = AutoIntParams

    def __init__(self, schema: ModelSchema, params: AutoIntParams):
        super().__init__(schema, params)
        e = params.embedding_dim
        self.emb = embeddings_for(schema, params)
        n_user = sum(1 for slot in slots_of(schema.user) if slot_key(slot) not in self.left_out)
        self.n_fields = n_user + sum(len(slots_of(s)) for s in schema.sequences) + len(slots_of(schema.candidate))
        att_dim = params.attention_dim or e
        layers = []
        d = e
        for _ in range(params.attention_layers):
            layers.append(InteractingLayer(d, att_dim, params.heads))
            d = att_dim
        self.interacting = nn.ModuleList(layers)
        self.att_out = nn.Linear(self.n_fields * d, 1)
        self.dnn = MLP(self.n_fields * e, list(params.hidden), params.dropout, params.batch_norm)

    def score(self, x: Inputs) -> Tensor:
        b = x[self.batch_input].shape[0]
        e = self.emb.dim
        pooled = []
        for s in self.schema.sequences:
            h = self.sequence_embeddings(s, x)  # [Bu, L, k E]
            weights = self.history_weights(s, x, h.dtype)  # mask x age gate
            pooled.append(masked_mean(h, self.sequence_mask(s, x), weights).reshape(h.shape[0], -1, e))
        user = [torch.stack(u, 1)] if (u := self.user_embeddings(x)) else []
        fields = []
        if user or pooled:
            fields.append(self.per_candidate(torch.cat(user + pooled, 1), b))  # [B, U + sum k, E]
        cand = self.emb.group(self.schema.candidate, "cand", x)
        if cand:
            fields.append(torch.stack(list(cand.values()), 1))  # [B, C, E]
        f = torch.cat(fields, 1)  # [B, F, E]
        h = f
        for layer in self.interacting:
            h = layer(h)
        return (self.att_out(h.flatten(1)) + self.dnn(f.flatten(1))).squeeze(-1)
