"""The base model: the layout's inputs in, CTR out, with the behaviour-sequence options every model shares.

Every model takes the inputs of its schema's layout, in order (ModelSchema.input_names): per-request tensors
(user_*, <seq>_*) have batch Bu in {1, B} and are broadcast over the B candidates (cand_*) inside the graph."""

from __future__ import annotations

from typing import ClassVar, Generic, TypeVar

import torch
from torch import Tensor, nn

from ..config import EmbeddingModelParams, ModelParams
from ..layers import Embeddings, HistoryGate, expand_batch
from ..layers.embedding import Inputs
from ..schema import ModelSchema, slot_key, slots_of


class CTRModel(nn.Module):
    """Base: forward(*inputs) -> ctr [B]; logits(*inputs) -> [B]; a model implements score(inputs by name)."""

    model_type: ClassVar[str] = "base"
    params_type: ClassVar[type[ModelParams]] = ModelParams

    def __init__(self, schema: ModelSchema, params: ModelParams):
        super().__init__()
        if not isinstance(params, self.params_type):
            raise TypeError(f"{type(self).__name__} takes {self.params_type.__name__}, not {type(params).__name__}")
        self.schema = schema
        self.params = params
        self.input_names = schema.input_names
        # The input whose first dim is B: the candidates' (a layout without candidate inputs scores its user rows).
        self.batch_input = next((i["name"] for i in schema.inputs if i["shape"][0] == "B"), self.input_names[0])
        # Optional cap on each behaviour sequence the model reads: the newest `history_length` entries (the inputs
        # keep L slots; the graph slices them, so training and serving see the same thing).
        self.max_history = params.history_length
        emb = params if isinstance(params, EmbeddingModelParams) else None
        # user_id false: leave the requester-key embedding (user id) out of the model's input; on data with ~2 train
        # clicks per user it mostly memorises noise (docs/model-quality.md).
        self.left_out = {schema.request_key} if emb is not None and not emb.user_id else set()
        # history_age: weight each sequence entry by its age (HistoryGate), used by the attention / pooling
        self.history_gates = nn.ModuleDict()
        if emb is not None and emb.history_age:
            for s in schema.sequences:
                rank = (self.max_history or s["length"]) if emb.history_rank else 0
                buckets = len(s["age"]["boundaries_ms"]) + 2 if "age" in s else 2
                self.history_gates[s["name"]] = HistoryGate(buckets, rank)
        # The candidate slots that are no sequence's target representation go to the head (the demo's position).
        targets = {slot["feature"] for s in schema.sequences for slot in slots_of(s)}
        self.head_candidate = [slot_key(slot) for slot in slots_of(schema.candidate) if slot_key(slot) not in targets]
        missing = sorted(targets - {slot["feature"] for slot in slots_of(schema.candidate)})
        if missing:
            raise ValueError(f"sequence side features {missing} are not candidate features: no target to attend from")

    def cut_history(self, x: Inputs) -> Inputs:
        """The inputs with every sequence cut to its newest `max_history` slots (unchanged without a cap)."""
        k = self.max_history
        if k <= 0:
            return x
        cut = dict(x)
        for s in self.schema.sequences:
            if k < s["length"]:
                for n in self.schema.sequence_inputs():
                    if n.startswith(s["name"] + "_"):
                        cut[n] = x[n][:, :k]
        return cut

    # The batch graph's cand_user [B] while export_batch_onnx traces the model (user-level inputs then hold N
    # requests' users); None otherwise. Set by CandidateUsers only.
    user_rows: Tensor | None = None

    def per_candidate(self, x: Tensor, batch: int) -> Tensor:
        """A user-level tensor [Bu, ...] -> [batch, ...]: a broadcast, or each candidate's user row in the batch
        graph."""
        return expand_batch(x, batch) if self.user_rows is None else x.index_select(0, self.user_rows)

    def sequence_mask(self, seq: dict, x: Inputs) -> Tensor:
        """[Bu, L] bool: the slots that hold an entry (empty slots are all zero)."""
        name = seq["name"]
        for suffix in ("cat", "multi"):
            if f"{name}_{suffix}" in x:
                return x[f"{name}_{suffix}"].amax(-1) > 0
        return x[f"{name}_vec"].abs().amax(-1) > 0

    def history_weights(self, seq: dict, x: Inputs, dtype: torch.dtype) -> Tensor:
        """[Bu, L]: 1 for an entry (times its age gate when the model has one), 0 for an empty slot."""
        mask = self.sequence_mask(seq, x).to(dtype)
        gate = self.history_gates[seq["name"]] if seq["name"] in self.history_gates else None
        return mask * gate(x.get(f"{seq['name']}_age"), mask) if gate is not None else mask

    def user_embeddings(self, x: Inputs) -> list[Tensor]:
        """The user slots' embeddings [Bu, E] each (without the left-out user id)."""
        user = self.emb.group(self.schema.user, "user", x)
        return [e for f, e in user.items() if f not in self.left_out]

    def sequence_embeddings(self, seq: dict, x: Inputs) -> Tensor:
        """The entries of a sequence [Bu, L, k E]: each slot's embedding, in layout order."""
        return torch.cat(list(self.emb.group(seq, seq["name"], x).values()), -1)

    def target(self, seq: dict, cand: dict[str, Tensor]) -> Tensor:
        """The candidate as a sequence entry [B, k E]: its embeddings of the sequence's side features."""
        return torch.cat([cand[slot["feature"]] for slot in slots_of(seq)], -1)

    def logits(self, *inputs: Tensor) -> Tensor:
        """The inputs (forward's order) -> logits [B]: `score` on the inputs with the sequences cut."""
        x = dict(zip(self.input_names, inputs, strict=True))
        emb = getattr(self, "emb", None)
        if isinstance(emb, Embeddings):  # fitted features' value keys -> vocabulary rows (not in the exported graph)
            x = emb.rows_of_keys(x)
        return self.score(self.cut_history(x))

    def score(self, x: Inputs) -> Tensor:
        """The model's logits [B] from the inputs by name (the sequences already cut to `max_history`)."""
        raise NotImplementedError

    def forward(self, *inputs: Tensor) -> Tensor:
        """The inputs in the layout's order -> ctr [B]."""
        return torch.sigmoid(self.logits(*inputs))

    def reg_loss(self) -> Tensor | None:
        emb = getattr(self, "emb", None)
        return emb.take_l2() if isinstance(emb, Embeddings) else None

    def prepare_for_export(self) -> CTRModel:
        """Inference-time rewrites (exact); the default has none."""
        return self


def embeddings_for(schema: ModelSchema, params: EmbeddingModelParams) -> Embeddings:
    return Embeddings(schema, params.embedding_dim, mm_norm=params.mm_norm, item_id_dropout=params.item_id_dropout)


P = TypeVar("P", bound=EmbeddingModelParams)


class TargetAttentionModel(CTRModel, Generic[P]):
    """For each sequence the candidate's target representation t (demo: [id; category; mean(tags); projected
    vector]) attends over the entries; a head maps x0 = [user slot embeddings; the other candidate slots (demo:
    position); t and the attended entries per sequence] to the logit (DIN, QIN). `P`: the model's parameters."""

    params: P

    def __init__(self, schema: ModelSchema, params: P):
        super().__init__(schema, params)
        self.emb = embeddings_for(schema, params)
        e = params.embedding_dim
        n_user = sum(1 for slot in slots_of(schema.user) if slot_key(slot) not in self.left_out)
        # width of x0: the user and other candidate slots (E each), t and the attended entries per sequence
        self.x0_dim = (n_user + len(self.head_candidate)) * e + sum(2 * self.item_dim(s) for s in schema.sequences)
        self.attention = nn.ModuleDict({s["name"]: self.attention_layer(self.item_dim(s)) for s in schema.sequences})

    def item_dim(self, seq: dict) -> int:
        """Width I of a sequence's entries: E per side feature."""
        return len(slots_of(seq)) * self.emb.dim

    def attention_layer(self, item_dim: int) -> nn.Module:
        """The attention of one sequence whose entries are `item_dim` wide (self.attention[<sequence name>])."""
        raise NotImplementedError

    def attend(self, seq: dict, x: Inputs, t: Tensor, h: Tensor, batch: int) -> Tensor:
        """The entries h [Bu, L, I] pooled for each candidate t [B, I] -> [B, I]."""
        raise NotImplementedError

    def head(self, x0: Tensor) -> Tensor:
        """x0 [B, x0_dim] -> logits [B]."""
        raise NotImplementedError

    def score(self, x: Inputs) -> Tensor:
        b = x[self.batch_input].shape[0]
        cand = self.emb.group(self.schema.candidate, "cand", x)  # {feature: [B, E]}
        parts = [cand[f] for f in self.head_candidate]
        for s in self.schema.sequences:
            t = self.target(s, cand)  # [B, I]
            h = self.sequence_embeddings(s, x)  # [Bu, L, I]
            parts += [t, self.attend(s, x, t, h, b)]
        user = self.user_embeddings(x)
        if user:
            parts.insert(0, self.per_candidate(torch.cat(user, -1), b))
        return self.head(torch.cat(parts, -1))
