"""ONNX export with the serving signature, int8 dynamic quantisation and onnxruntime scoring.

Inputs: user_fields [Bu, U], hist_ids [Bu, L], hist_tags [Bu, L, 5], hist_cat [Bu, L], hist_mm [Bu, L, D],
hist_age [Bu, L] (serving passes Bu = 1: one user, broadcast over the candidates inside the graph) and
cand_fields [B, 3], cand_tags [B, 5], cand_mm [B, D]; output ctr [B]. Bu may also equal B (offline evaluation,
one user per row). The micro-batching variant (`export_batch_onnx`) takes N users and adds cand_user [B].
QIN's quadratic rows are folded into one matrix per layer; BatchNorm / dropout in eval mode.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .features import HISTORY_INPUTS, INPUT_NAMES, USER_INPUTS, feature_repo_record
from .layers import ModelSchema, replace_prelu_for_serving
from .models import CTRModel
from .onnx_scorer import OnnxScorer  # noqa: F401  (re-exported: evaluate, pipeline, tests)

OPSET = 17


def example_inputs(schema: ModelSchema, batch: int = 4, user_batch: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs within the schema's ranges (parity tests, export tracing)."""
    r = np.random.default_rng(seed)
    L, D, U = schema.history_length, schema.mm_dim, len(schema.user_buckets)
    hist_len = r.integers(0, L + 1, size=user_batch)
    live = np.arange(L)[None, :] < hist_len[:, None]
    hist_ids = np.where(live, r.integers(1, schema.item_buckets, size=(user_batch, L)), 0)
    hist_tags = r.integers(0, schema.tag_buckets, size=(user_batch, L, 5)) * live[:, :, None]
    return {
        "user_fields": np.stack([r.integers(0, b, size=user_batch) for b in schema.user_buckets], 1)
        .astype(np.int64)
        .reshape(user_batch, U),
        "hist_ids": hist_ids.astype(np.int64),
        "hist_tags": hist_tags.astype(np.int64),
        "hist_cat": (r.integers(0, schema.category_buckets, size=(user_batch, L)) * live).astype(np.int64),
        "hist_mm": (r.standard_normal((user_batch, L, D)) * live[:, :, None]).astype(np.float32),
        "hist_age": (r.integers(0, schema.age_buckets, size=(user_batch, L)) * live).astype(np.int64),
        "cand_fields": np.stack(
            [
                r.integers(0, schema.item_buckets, size=batch),
                r.integers(0, schema.category_buckets, size=batch),
                r.integers(0, schema.position_buckets, size=batch),
            ],
            1,
        ).astype(np.int64),
        "cand_tags": r.integers(0, schema.tag_buckets, size=(batch, 5)).astype(np.int64),
        "cand_mm": r.standard_normal((batch, D)).astype(np.float32),
    }


def serving_copy(model: CTRModel) -> CTRModel:
    m = copy.deepcopy(model).cpu().eval()
    return replace_prelu_for_serving(m.prepare_for_export())


def _export(
    module: torch.nn.Module,
    args: tuple[torch.Tensor, ...],
    names: list[str],
    dyn: dict[str, dict[int, str]],
    path: Path,
    opset: int,
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
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
    import onnx

    onnx.checker.check_model(str(path))
    return path


def _dynamic_axes() -> dict[str, dict[int, str]]:
    dyn: dict[str, dict[int, str]] = {n: {0: "Bu"} for n in USER_INPUTS}
    for n in HISTORY_INPUTS:
        dyn[n][1] = "L"
    for n in INPUT_NAMES:
        dyn.setdefault(n, {0: "B"})
    dyn["ctr"] = {0: "B"}
    return dyn


def export_onnx(model: CTRModel, path: str | Path, opset: int = OPSET) -> Path:
    m = serving_copy(model)
    ex = example_inputs(m.schema, batch=3, user_batch=1)
    args = tuple(torch.from_numpy(ex[n]) for n in INPUT_NAMES)
    return _export(m, args, INPUT_NAMES, _dynamic_axes(), Path(path), opset)


class CandidateUsers(torch.nn.Module):
    """The micro-batching graph: user inputs hold the users of several requests ([N, ...]) and cand_user [B]
    names each candidate's user row. The model computes its user-level tensors (history embeddings, QIN's
    keys and values) once per user and picks each candidate's rows where they meet (CTRModel.per_candidate;
    QIN's attention scores every candidate against all N histories and keeps its own user's slots)."""

    def __init__(self, model: CTRModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        user_fields: torch.Tensor,
        hist_ids: torch.Tensor,
        hist_tags: torch.Tensor,
        hist_cat: torch.Tensor,
        hist_mm: torch.Tensor,
        hist_age: torch.Tensor,
        cand_fields: torch.Tensor,
        cand_tags: torch.Tensor,
        cand_mm: torch.Tensor,
        cand_user: torch.Tensor,
    ) -> torch.Tensor:
        self.model.user_rows = cand_user
        try:
            return self.model(
                user_fields, hist_ids, hist_tags, hist_cat, hist_mm, hist_age, cand_fields, cand_tags, cand_mm
            )
        finally:
            self.model.user_rows = None


def batch_graph_name(graph_file: str) -> str:
    """model.onnx -> model.batch.onnx, model.int8.onnx -> model.int8.batch.onnx (the scorer derives it the same way)."""
    return graph_file[: -len(".onnx")] + ".batch.onnx"


def export_batch_onnx(model: CTRModel, path: str | Path, opset: int = OPSET) -> Path:
    m = CandidateUsers(serving_copy(model))
    ex = example_inputs(m.model.schema, batch=5, user_batch=2)
    args = tuple(torch.from_numpy(ex[n]) for n in INPUT_NAMES) + (torch.tensor([0, 1, 1, 0, 1]),)
    dyn = _dynamic_axes()
    dyn["cand_user"] = {0: "B"}
    return _export(m, args, INPUT_NAMES + ["cand_user"], dyn, Path(path), opset)


# Only the embedding tables (Gather) are quantised. Dynamic int8 MatMuls quantise activations per
# tensor, and QIN's quadratic layers multiply those errors: at embedding 64 / 128 the test AUC fell by
# 0.08 / 0.18 (0.0003 at 8), while int8 Gathers alone lost nothing. The tables are most of the bytes,
# and int8 MatMuls were no faster on CPUs without VNNI (docs/model-quality.md).
INT8_OP_TYPES = ["Gather"]


def quantize_int8(src: str | Path, dst: str | Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, op_types_to_quantize=INT8_OP_TYPES)
    return Path(dst)


def artifact_feature_spec(spec_json: dict[str, Any], signature: dict[str, Any]) -> dict[str, Any]:
    """The artifact's feature_spec.json: the spec, its serving signature and the feature repository the model was
    trained with (a tabular import reads CSV columns, not a repository, and records none)."""
    doc = {**spec_json, "serving_signature": signature}
    if spec_json.get("kind") != "tabular":
        doc["feature_repo"] = feature_repo_record()
    return doc


def model_card(model: CTRModel, spec_json: dict[str, Any] | None, signature: dict[str, Any]) -> dict[str, Any]:
    return {
        "model_type": model.model_type,
        "params": model.params.to_json(),
        "schema": model.schema.to_json(),
        "opset": OPSET,
        "signature": signature,
        "feature_spec_version": (spec_json or {}).get("version"),
        "feature_repo": (spec_json or {}).get("feature_repo"),
        "folded_quadratic_rows": model.model_type == "qin",
    }
