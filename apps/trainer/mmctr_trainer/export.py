"""ONNX export with the layout's signature, int8 dynamic quantisation and onnxruntime scoring.

Inputs: exactly the layout's inputs (ModelSchema.inputs: names, dtypes and shapes, in order); per-request inputs
(user_*, <seq>_*) have batch Bu (serving passes 1: one user, broadcast over the candidates inside the graph; Bu may
also equal B: offline evaluation, one user per row), candidate inputs (cand_*) batch B; output ctr [B]. An input the
model does not read stays in the signature (unused). The micro-batching variant (`export_batch_onnx`) takes N
users and adds cand_user [B]. QIN's quadratic rows are folded into one matrix per layer; BatchNorm / dropout in
eval mode.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .layers import Embeddings, replace_prelu_for_serving
from .models import CTRModel
from .onnx_scorer import OnnxScorer  # noqa: F401  (re-exported: evaluate, pipeline, tests)
from .schema import KINDS, SUFFIX, ModelSchema
from .vocabulary import Vocabularies

OPSET = 17


def _categorical(r: np.random.Generator, schema: ModelSchema, s: dict[str, Any], low: int, lead: tuple[int, ...]):
    """Random ids of a categorical slot; a fitted feature's are value keys: its vocabulary's (when the schema holds
    it) or small integers (out of vocabulary)."""
    keys = schema.vocab_keys.get(s["feature"]) if "fit" in s else None
    if keys is None or not len(keys):
        return r.integers(low, s["size"], size=lead)
    pool = np.concatenate([np.asarray(keys, dtype=np.int64), np.arange(max(low, 1), 4, dtype=np.int64)])
    return pool[r.integers(0, len(pool), size=lead)]


def _random_group(
    r: np.random.Generator,
    schema: ModelSchema,
    group: dict[str, Any],
    lead: tuple[int, ...],
    live: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """Random values of one group's inputs [*lead, n]; with `live` [*lead], the dead rows are zero (empty slots)
    and the live ones have no missing ids."""
    low = 0 if live is None else 1
    out: dict[str, np.ndarray] = {}
    for kind in KINDS:
        slots = group[kind]
        if not slots:
            continue
        if kind == "categorical":
            v = np.stack([_categorical(r, schema, s, low, lead) for s in slots], -1)
        elif kind == "multi_categorical":
            v = np.concatenate([r.integers(0, s["size"], size=(*lead, s["max_length"])) for s in slots], -1)
        else:
            width = len(slots) if kind == "numeric" else sum(s["width"] for s in slots)
            v = r.standard_normal((*lead, width)).astype(np.float32)
        out[SUFFIX[kind]] = v if live is None else v * live[..., None].astype(v.dtype)
    return out


def example_inputs(schema: ModelSchema, batch: int = 4, user_batch: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs within the layout's ranges (parity tests, export tracing); sequences hold a random number of
    entries, newest first."""
    r = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for k, v in _random_group(r, schema, schema.user, (user_batch,), None).items():
        out[f"user_{k}"] = v
    for s in schema.sequences:
        L = s["length"]
        live = np.arange(L)[None, :] < r.integers(0, L + 1, size=user_batch)[:, None]
        for k, v in _random_group(r, schema, s, (user_batch, L), live).items():
            out[f"{s['name']}_{k}"] = v
        if "age" in s:
            out[f"{s['name']}_age"] = r.integers(0, len(s["age"]["boundaries_ms"]) + 2, size=(user_batch, L)) * live
    for k, v in _random_group(r, schema, schema.candidate, (batch,), None).items():
        out[f"cand_{k}"] = v
    dtypes = {i["name"]: i["dtype"] for i in schema.inputs}
    return {n: out[n].astype(dtypes[n]) for n in schema.input_names}


def serving_copy(model: CTRModel) -> CTRModel:
    """The exported model: eval mode, on the CPU, and taking the fitted features' vocabulary rows, not their keys
    (vocabulary.py)."""
    m = copy.deepcopy(model).cpu().eval()
    for e in m.modules():
        if isinstance(e, Embeddings):
            e.keys_input = False
    return replace_prelu_for_serving(m.prepare_for_export())


def _embeddings(model: torch.nn.Module) -> Embeddings | None:
    return next((e for e in model.modules() if isinstance(e, Embeddings)), None)


def model_vocabularies(model: torch.nn.Module) -> Vocabularies | None:
    """The model's fitted vocabularies (None without any)."""
    emb = _embeddings(model)
    if emb is None or not emb.vocabularies:
        return None
    keys = {f: t.detach().cpu().numpy() for f, t in emb.vocabulary_keys().items()}
    return Vocabularies.of(model.schema, keys)


def _traced_inputs(model: torch.nn.Module, ex: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Example inputs as the serving copy takes them: the fitted features' keys mapped to rows."""
    v = model_vocabularies(model)
    return v.rows(ex) if v is not None else ex


def _with_vocabularies(model: torch.nn.Module, path: Path) -> Path:
    """Writes the model's vocabulary.json beside its graph (the graph takes rows: whoever feeds it maps first)."""
    v = model_vocabularies(model)
    if v is not None:
        v.write(path.parent)
    return path


def _export(
    module: torch.nn.Module,
    args: tuple[torch.Tensor, ...],
    signature: list[dict[str, Any]],
    path: Path,
    opset: int,
) -> Path:
    """Exports `module` with `signature` ([{name, dtype, shape}]; "Bu" / "B" dims dynamic) as its inputs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    names = [i["name"] for i in signature]
    dyn = {i["name"]: {0: i["shape"][0]} for i in signature}
    dyn["ctr"] = {0: "B"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=names,
            output_names=["ctr"],
            dynamic_axes=dyn,
            opset_version=opset,
            dynamo=False,
            do_constant_folding=True,
        )
    _keep_signature(path, signature)
    return path


def _keep_signature(path: Path, signature: list[dict[str, Any]]) -> None:
    """The exporter drops inputs the graph does not read (LR has no age gate): put them back, unused, so that every
    graph of a layout has exactly its inputs, in order."""
    import onnx
    from onnx import TensorProto, helper

    m = onnx.load(str(path))
    have = {i.name: i for i in m.graph.input}
    types = {"int64": TensorProto.INT64, "float32": TensorProto.FLOAT}
    inputs = [
        have.get(i["name"]) or helper.make_tensor_value_info(i["name"], types[i["dtype"]], list(i["shape"]))
        for i in signature
    ]
    del m.graph.input[:]
    m.graph.input.extend(inputs)
    onnx.checker.check_model(m)
    onnx.save(m, str(path))


def export_onnx(model: CTRModel, path: str | Path, opset: int = OPSET) -> Path:
    m = serving_copy(model)
    ex = _traced_inputs(m, example_inputs(m.schema, batch=3, user_batch=1))
    args = tuple(torch.from_numpy(ex[n]) for n in m.schema.input_names)
    return _with_vocabularies(m, _export(m, args, m.schema.inputs, Path(path), opset))


class CandidateUsers(torch.nn.Module):
    """The micro-batching graph: user inputs hold the users of several requests ([N, ...]) and cand_user [B]
    names each candidate's user row. The model computes its user-level tensors (sequence embeddings, QIN's
    keys and values) once per user and picks each candidate's rows where they meet (CTRModel.per_candidate;
    QIN's attention scores every candidate against all N users' entries and keeps its own user's slots)."""

    def __init__(self, model: CTRModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """The layout's inputs, then cand_user [B]."""
        self.model.user_rows = inputs[-1]
        try:
            return self.model(*inputs[:-1])
        finally:
            self.model.user_rows = None


CAND_USER = {"name": "cand_user", "dtype": "int64", "shape": ["B"]}


def batch_graph_name(graph_file: str) -> str:
    """model.onnx -> model.batch.onnx, model.int8.onnx -> model.int8.batch.onnx (the scorer derives it the same way)."""
    return graph_file[: -len(".onnx")] + ".batch.onnx"


def export_batch_onnx(model: CTRModel, path: str | Path, opset: int = OPSET) -> Path:
    m = CandidateUsers(serving_copy(model))
    schema = m.model.schema
    ex = _traced_inputs(m.model, example_inputs(schema, batch=5, user_batch=2))
    args = tuple(torch.from_numpy(ex[n]) for n in schema.input_names) + (torch.tensor([0, 1, 1, 0, 1]),)
    return _with_vocabularies(m.model, _export(m, args, [*schema.inputs, CAND_USER], Path(path), opset))


# Only the embedding tables (Gather) are quantised. Dynamic int8 MatMuls quantise activations per
# tensor, and QIN's quadratic layers multiply those errors: at embedding 64 / 128 the test AUC fell by
# 0.08 / 0.18 (0.0003 at 8), while int8 Gathers alone lost nothing. The tables are most of the bytes,
# and int8 MatMuls were no faster on CPUs without VNNI (docs/model-quality.md).
INT8_OP_TYPES = ["Gather"]


def quantize_int8(src: str | Path, dst: str | Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, op_types_to_quantize=INT8_OP_TYPES)
    return Path(dst)


def model_card(model: CTRModel) -> dict[str, Any]:
    return {
        "model_type": model.model_type,
        "params": model.params.to_json(),
        "schema": model.schema.to_json(),
        "opset": OPSET,
        "signature": {"inputs": model.schema.inputs, "outputs": [{"name": "ctr", "dtype": "float32", "shape": ["B"]}]},
        "repository": model.schema.layout["repository"],
        "folded_quadratic_rows": model.model_type == "qin",
    }
