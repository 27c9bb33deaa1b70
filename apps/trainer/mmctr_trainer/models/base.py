"""The base model: serving inputs in, CTR out, with the behaviour-sequence options every model shares.

Every model takes the serving tensors (see features.SERVING_INPUTS): user-level tensors (user_fields,
hist_*) have batch Bu in {1, B} and are broadcast over the B candidates inside the graph."""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from ..config import EmbeddingModelParams, ModelParams
from ..layers import Embeddings, HistoryGate, ModelSchema, expand_batch


class ServingInputs(NamedTuple):
    """The serving tensors in the graph's input order (features.INPUT_NAMES)."""

    user_fields: Tensor
    hist_ids: Tensor
    hist_tags: Tensor
    hist_cat: Tensor
    hist_mm: Tensor
    hist_age: Tensor
    cand_fields: Tensor
    cand_tags: Tensor
    cand_mm: Tensor


class CTRModel(nn.Module):
    """Base: forward(*inputs) -> ctr [B]; logits(*inputs) -> [B]; a model implements score(ServingInputs)."""

    model_type: ClassVar[str] = "base"
    params_type: ClassVar[type[ModelParams]] = ModelParams

    def __init__(self, schema: ModelSchema, params: ModelParams):
        super().__init__()
        if not isinstance(params, self.params_type):
            raise TypeError(f"{type(self).__name__} takes {self.params_type.__name__}, not {type(params).__name__}")
        self.schema = schema
        self.params = params
        # Optional cap on the behaviour sequence the model reads: the newest `history_length` clicks (the
        # serving tensors keep L slots; the graph slices them, so training and serving see the same thing).
        self.max_history = params.history_length
        emb = params if isinstance(params, EmbeddingModelParams) else None
        # user_id false: leave the user-id embedding (the first user field) out of the model's input; on data with
        # ~2 train clicks per user it mostly memorises noise (docs/model-quality.md).
        self.first_user_field = 0 if emb is None or emb.user_id else 1
        self.n_user_fields = len(schema.user_buckets) - self.first_user_field
        # history_age: weight each history item by its click age (HistoryGate), used by the attention / pooling
        rank_slots = (self.max_history or schema.history_length) if emb is not None and emb.history_rank else 0
        self.history_gate = HistoryGate(schema.age_buckets, rank_slots) if emb is not None and emb.history_age else None

    def cut_history(self, x: ServingInputs) -> ServingInputs:
        """The inputs with the history cut to the newest `max_history` slots (unchanged without a cap)."""
        k = self.max_history
        if k <= 0 or k >= self.schema.history_length:
            return x
        return x._replace(
            hist_ids=x.hist_ids[:, :k],
            hist_tags=x.hist_tags[:, :k],
            hist_cat=x.hist_cat[:, :k],
            hist_mm=x.hist_mm[:, :k],
            hist_age=x.hist_age[:, :k],
        )

    # The batch graph's cand_user [B] while export_batch_onnx traces the model (user-level inputs then hold N
    # requests' users); None otherwise. Set by CandidateUsers only.
    user_rows: Tensor | None = None

    def per_candidate(self, x: Tensor, batch: int) -> Tensor:
        """A user-level tensor [Bu, ...] -> [batch, ...]: a broadcast, or each candidate's user row in the batch
        graph."""
        return expand_batch(x, batch) if self.user_rows is None else x.index_select(0, self.user_rows)

    def history_weights(self, x: ServingInputs, dtype: torch.dtype) -> Tensor:
        """[Bu, L]: 1 for a clicked item (times its age gate when the model has one), 0 for an empty slot."""
        mask = (x.hist_ids > 0).to(dtype)
        return mask * self.history_gate(x.hist_age) if self.history_gate is not None else mask

    def logits(self, *inputs: Tensor) -> Tensor:
        """The serving tensors (forward's order) -> logits [B]: `score` on the inputs with the history cut."""
        return self.score(self.cut_history(ServingInputs(*inputs)))

    def score(self, x: ServingInputs) -> Tensor:
        """The model's logits [B] from the serving tensors (the history already cut to `max_history`)."""
        raise NotImplementedError

    def forward(self, *inputs: Tensor) -> Tensor:
        """The serving tensors in ServingInputs' order -> ctr [B]."""
        return torch.sigmoid(self.logits(*inputs))

    def reg_loss(self) -> Tensor | None:
        emb = getattr(self, "emb", None)
        return emb.take_l2() if isinstance(emb, Embeddings) else None

    def prepare_for_export(self) -> CTRModel:
        """Inference-time rewrites (exact); the default has none."""
        return self


def embeddings_for(schema: ModelSchema, params: EmbeddingModelParams) -> Embeddings:
    return Embeddings(schema, params.embedding_dim, mm_norm=params.mm_norm, item_id_dropout=params.item_id_dropout)


class TargetAttentionModel(CTRModel):
    """The candidate item t = [id; category; mean(tags); projected vector] attends over the history items; a head
    maps x0 = [user field embeddings; position; t; attended history] to the logit (DIN, QIN)."""

    def __init__(self, schema: ModelSchema, params: EmbeddingModelParams):
        super().__init__(schema, params)
        self.emb = embeddings_for(schema, params)
        # width of x0: the user fields and the position (E each), t and the attended history (I each)
        self.x0_dim = (self.n_user_fields + 1) * params.embedding_dim + 2 * self.emb.item_dim

    def attend(self, x: ServingInputs, t: Tensor, h: Tensor, batch: int) -> Tensor:
        """The history items h [Bu, L, I] pooled for each candidate t [B, I] -> [B, I]."""
        raise NotImplementedError

    def head(self, x0: Tensor) -> Tensor:
        """x0 [B, x0_dim] -> logits [B]."""
        raise NotImplementedError

    def score(self, x: ServingInputs) -> Tensor:
        b = x.cand_fields.shape[0]
        t = self.emb.candidate(x.cand_fields, x.cand_tags, x.cand_mm)  # [B, I]
        h = self.emb.history(x.hist_ids, x.hist_tags, x.hist_cat, x.hist_mm)  # [Bu, L, I]
        pooled = self.attend(x, t, h, b)
        user = self.per_candidate(self.emb.user_fields(x.user_fields, self.first_user_field).flatten(1), b)
        return self.head(torch.cat([user, self.emb.pos(x.cand_fields), t, pooled], -1))
