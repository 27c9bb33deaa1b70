"""DIN-style target attention: an attention MLP over [h, t, h - t, h * t] weights the history (no softmax),
then an MLP over [user fields; position; t; weighted history] gives the logit."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..layers import CTRModel, MLP, ModelSchema, embeddings_from_params


class DIN(CTRModel):
    model_type = "din"

    def __init__(self, schema: ModelSchema, params: dict[str, Any]):
        super().__init__(schema, params)
        e = int(params.get("embedding_dim", 64))
        self.emb = embeddings_from_params(schema, e, params)
        i = self.emb.item_dim
        att = list(params.get("attention_hidden", [80, 40]))
        layers: list[nn.Module] = []
        d = 4 * i
        for h in att:
            layers += [nn.Linear(d, h), nn.PReLU()]
            d = h
        layers.append(nn.Linear(d, 1))
        self.attention = nn.Sequential(*layers)
        in_dim = (self.n_user_fields + 1) * e + 2 * i
        self.mlp = MLP(in_dim, list(params.get("hidden", [200, 80])), float(params.get("dropout", 0.1)),
                       bool(params.get("batch_norm", True)))

    def logits(self, user_fields: Tensor, hist_ids: Tensor, hist_tags: Tensor, hist_cat: Tensor, hist_mm: Tensor,
               hist_age: Tensor, cand_fields: Tensor, cand_tags: Tensor, cand_mm: Tensor) -> Tensor:
        hist_ids, hist_tags, hist_cat, hist_mm, hist_age = self.cut_history(hist_ids, hist_tags, hist_cat, hist_mm, hist_age)
        b = cand_fields.shape[0]
        t = self.emb.candidate(cand_fields, cand_tags, cand_mm)  # [B, I]
        h = self.emb.history(hist_ids, hist_tags, hist_cat, hist_mm)  # [Bu, L, I]
        s = self.per_candidate(h, b)  # [B, L, I]
        weights = self.per_candidate(self.history_weights(hist_ids, hist_age, s.dtype), b)  # mask x age gate
        # The first attention layer on [s, t, s - t, s * t] is W_s s + W_t t + W_d (s - t) + W_p (s * t)
        # = (W_s + W_d) s + (W_t - W_d) t + W_p (s * t): the history term once per user and the target term
        # once per candidate; only s * t is [B, L]-sized. No [B, L, 4I] concat (the graph's slowest op).
        first = self.attention[0]
        assert isinstance(first, nn.Linear)
        w_s, w_t, w_d, w_p = first.weight.split(t.shape[-1], dim=1)
        a = (self.per_candidate(torch.matmul(h, (w_s + w_d).t()), b) + (torch.matmul(t, (w_t - w_d).t()) + first.bias).unsqueeze(1)
             + torch.matmul(s * t.unsqueeze(1), w_p.t()))  # [B, L, H1]
        w = self.attention[1:](a).squeeze(-1) * weights  # [B, L]
        pooled = torch.matmul(w.unsqueeze(1), s).squeeze(1)  # [B, I]
        user = self.per_candidate(self.emb.user_fields(user_fields, self.first_user_field).flatten(1), b)
        x = torch.cat([user, self.emb.pos(cand_fields), t, pooled], -1)
        return self.mlp(x).squeeze(-1)
