"""Slot embeddings built from the layout: a table per categorical slot, a pooled table per multi-categorical slot,
a projection per numeric and per vector slot. Tables are keyed by feature name (schema.slot_key: with the window
for an aggregate feature's slots), so a sequence's side features share the candidate's tables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ..schema import SUFFIX, ModelSchema, slot_key
from ..vocabulary import vocabulary_inputs

Inputs = dict[str, Tensor]


def _groups(schema: ModelSchema) -> list[Mapping[str, Any]]:
    return [schema.user, schema.candidate, *schema.sequences]


class Embeddings(nn.Module):
    """Every slot of the layout embedded to `dim` (E). Inputs of a group (user, cand or a sequence) ->
    {slot key: [..., E]} in layout order (categorical, numeric, multi-categorical, vector)."""

    def __init__(self, schema: ModelSchema, dim: int, mm_norm: str = "none", item_id_dropout: float = 0.0):
        super().__init__()
        if mm_norm not in ("none", "layer"):
            raise ValueError(f"mm_norm must be 'none' or 'layer', not {mm_norm!r}")
        self.dim = dim
        # mm_norm "layer": LayerNorm (no affine) on each projected vector, so it has unit scale per entity
        # whatever the embedder's scale; a zero vector (absent / --no-mm) stays exactly zero.
        self.mm_norm = mm_norm
        # item_id_dropout: in training, zero the candidate-key embedding (item id) of this share of lookups (the
        # untrained id of a cold-start item is ~0 too), so the model learns to score from its other features.
        self.item_id_dropout = float(item_id_dropout)
        self.dropped = schema.candidate_key
        # Creation order (categorical tables, multi tables, numeric then vector projections) fixes the random
        # initialisation a seed gives.
        self.tables = nn.ModuleDict()
        for kind in ("categorical", "multi_categorical"):
            for g in _groups(schema):
                for s in g[kind]:
                    if slot_key(s) not in self.tables:
                        self.tables[slot_key(s)] = nn.Embedding(schema.table_size(s), dim, padding_idx=0)
        self.projections = nn.ModuleDict()
        for kind in ("numeric", "vector"):
            for g in _groups(schema):
                for s in g[kind]:
                    if slot_key(s) not in self.projections:
                        self.projections[slot_key(s)] = nn.Linear(s.get("width", 1), dim, bias=False)
        for e in self.tables.values():
            nn.init.normal_(e.weight, std=1e-2 if dim > 1 else 1e-3)
            with torch.no_grad():
                e.weight[0].zero_()
        self._reg: list[Tensor] = []
        self._fitted(schema)

    def _fitted(self, schema: ModelSchema) -> None:
        """The encoders fitted on the training split (fitting.py): the sorted value keys of each fitted vocabulary, an
        int64 buffer (zeros when the schema came from JSON: load_state_dict fills it), and (mean, std) per fitted
        standardize."""
        self.vocabularies: set[str] = set()
        self.stats: dict[str, tuple[float, float]] = {}
        for feature, fit in schema.fitted.items():
            if fit["encoder"] == "vocabulary":
                keys = schema.vocab_keys.get(feature)
                table = (
                    torch.zeros(fit["vocabulary_size"], dtype=torch.int64) if keys is None else torch.as_tensor(keys)
                )
                self.register_buffer(f"keys_{feature}", table.to(torch.int64))
                self.vocabularies.add(feature)
            else:
                self.stats[feature] = (float(fit["mean"]), float(fit["std"]))
        self.vocabulary_inputs = vocabulary_inputs(schema, self.vocabularies)
        # True: the inputs hold the fitted features' value keys (training sets, the parity check), mapped to rows
        # first thing; the serving copy (export.serving_copy) sets False: the exported graph takes the rows.
        self.keys_input = True

    def vocabulary_keys(self) -> dict[str, Tensor]:
        return {f: getattr(self, f"keys_{f}") for f in sorted(self.vocabularies)}

    def rows_of_keys(self, x: Inputs) -> Inputs:
        """The inputs with each fitted feature's value keys replaced by its rows (unchanged with keys_input off)."""
        if not self.keys_input or not self.vocabularies:
            return x
        out = dict(x)
        for feature, where in self.vocabulary_inputs.items():
            keys = getattr(self, f"keys_{feature}")
            for name, col in where:
                if name in out:
                    ids = out[name].clone()
                    ids[..., col] = key_rows(keys, ids[..., col])
                    out[name] = ids
        return out

    def lookup(self, feature: str, ids: Tensor) -> Tensor:
        e = self.tables[feature](ids)
        if self.training:
            self._reg.append(e)
        if feature == self.dropped and self.training and self.item_id_dropout > 0:
            e = e * (torch.rand(ids.shape, device=e.device) >= self.item_id_dropout).to(e.dtype).unsqueeze(-1)
        return e

    def pooled(self, slot: Mapping[str, Any], ids: Tensor) -> Tensor:
        """A multi-categorical slot's ids [..., n] -> [..., E]. Row 0 (padding) of the table is zero and gets no
        gradient, so the plain sum is the masked sum: the mean without a [..., n, E] multiply in the graph."""
        e = self.lookup(slot["feature"], ids)
        if slot["pooling"] == "sum":
            return e.sum(-2)
        if slot["pooling"] == "max":
            live = (ids > 0).unsqueeze(-1)
            top = e.masked_fill(~live, float("-inf")).amax(-2)
            return torch.where(live.any(-2), top, torch.zeros_like(top))
        return e.sum(-2) / (ids > 0).to(e.dtype).sum(-1, keepdim=True).clamp(min=1.0)

    def standardized(self, feature: str, v: Tensor) -> Tensor:
        """A numeric slot's value, standardized with the stats fitted on the training split when it has them."""
        if feature not in self.stats:
            return v
        mean, std = self.stats[feature]
        return (v - mean) / std

    def vector(self, feature: str, v: Tensor) -> Tensor:
        """A projected vector W v [..., E] (LayerNorm-ed with mm_norm "layer")."""
        p = self.projections[feature](v)
        return nn.functional.layer_norm(p, (self.dim,)) if self.mm_norm == "layer" else p

    def group(self, group: Mapping[str, Any], prefix: str, x: Inputs) -> dict[str, Tensor]:
        """{slot key: embedding [..., E]} of one group's slots, read from its inputs <prefix>_<kind>."""
        out: dict[str, Tensor] = {}
        for i, s in enumerate(group["categorical"]):
            out[slot_key(s)] = self.lookup(slot_key(s), x[f"{prefix}_cat"][..., i])
        for i, s in enumerate(group["numeric"]):
            out[slot_key(s)] = self.projections[slot_key(s)](
                self.standardized(slot_key(s), x[f"{prefix}_num"][..., i : i + 1])
            )
        for s in group["multi_categorical"]:
            out[s["feature"]] = self.pooled(s, x[f"{prefix}_multi"][..., s["offset"] : s["offset"] + s["max_length"]])
        for s in group["vector"]:
            out[s["feature"]] = self.vector(s["feature"], _span(x[f"{prefix}_vec"], s))
        return out

    def take_l2(self) -> Tensor | None:
        """Sum of squares of the embeddings looked up since the last call, over the batch size."""
        if not self._reg:
            return None
        b = max(int(self._reg[0].shape[0]), 1)
        total = self._reg[0].pow(2).sum()
        for e in self._reg[1:]:
            total = total + e.pow(2).sum()
        self._reg = []
        return total / b


def key_rows(keys: Tensor, ids: Tensor) -> Tensor:
    """Rows of `ids` (value keys) in the sorted vocabulary `keys`: 1 + the key's index, 0 when absent (vocabulary.py's
    key_rows on tensors)."""
    if keys.numel() == 0:
        return torch.zeros_like(ids)
    at = torch.searchsorted(keys, ids.contiguous())
    hit = (keys[at.clamp(max=keys.numel() - 1)] == ids) & (ids != 0)
    return torch.where(hit, at + 1, torch.zeros_like(at))


def _span(v: Tensor, slot: Mapping[str, Any]) -> Tensor:
    """A vector slot's part of a *_vec input (the whole input when the slot is all of it)."""
    if slot["offset"] == 0 and slot["width"] == v.shape[-1]:
        return v
    return v[..., slot["offset"] : slot["offset"] + slot["width"]]


def vector_span(x: Inputs, prefix: str, slot: Mapping[str, Any]) -> Tensor:
    return _span(x[f"{prefix}_{SUFFIX['vector']}"], slot)
