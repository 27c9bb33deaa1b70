"""Exact vocabularies of the categorical features fitted on the training split (`fit: {min_count}`), outside the
graph. Torch-free: the exporter, the ONNX scorer and the parity check read it.

A fitted feature's value is encoded as its 64-bit key (features.value_key: FNV-1a of field + value, a signed
int64) wherever inputs are built in Python (training sets, the parity check); the vocabulary is the sorted keys
of the values seen at least min_count times in the training split, and a value's row is 1 + the index of its key
(0: missing or out of vocabulary). The PyTorch model maps keys to rows first thing (layers/embedding.py); the
exported graph takes the rows, so whoever feeds it maps first: OnnxScorer with the artifact's `vocabulary.json`,
the scorer with a value -> row table built once per model (apps/scorer/src/model/vocabularies.ts).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .schema import CANDIDATE, USER, ModelSchema

VOCABULARY_FILE = "vocabulary.json"
FORMAT = "mmctr-vocabulary-1"


def vocabulary_inputs(schema: ModelSchema, features: set[str] | None = None) -> dict[str, list[tuple[str, int]]]:
    """(input, column) of every categorical slot of each fitted feature (`features`, default: those with `fit`):
    the user and candidate slots and every sequence's slots of the same feature."""
    groups = [(USER, schema.user), (CANDIDATE, schema.candidate), *((s["name"], s) for s in schema.sequences)]
    out: dict[str, list[tuple[str, int]]] = {}
    for prefix, group in groups:
        for i, s in enumerate(group["categorical"]):
            if (s["feature"] in features) if features is not None else ("fit" in s):
                out.setdefault(s["feature"], []).append((f"{prefix}_cat", i))
    return out


def key_rows(keys: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Rows of `ids` (value keys) in the sorted vocabulary `keys`: 1 + the key's index, 0 when absent (or 0)."""
    ids = np.asarray(ids, dtype=np.int64)
    if len(keys) == 0:
        return np.zeros_like(ids)
    at = np.searchsorted(keys, ids)
    hit = keys[np.minimum(at, len(keys) - 1)] == ids
    return np.where(hit & (ids != 0), at + 1, 0).astype(np.int64)


class Vocabularies:
    """The fitted vocabularies of a model: feature -> (sorted keys, field, [(input, column)])."""

    def __init__(self, features: Mapping[str, tuple[np.ndarray, str, list[tuple[str, int]]]]):
        self.features = dict(features)

    @staticmethod
    def of(schema: ModelSchema, keys: Mapping[str, np.ndarray]) -> Vocabularies:
        where = vocabulary_inputs(schema, set(keys))
        fields = {
            s["feature"]: s["field"] for g in (schema.user, schema.candidate) for s in g["categorical"] if "fit" in s
        }
        return Vocabularies({f: (np.asarray(k, dtype=np.int64), fields[f], where[f]) for f, k in keys.items()})

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "description": "Per fitted feature: its sorted value keys (fnv1a64(utf8(field + '\\x1f' + value)) as a "
            "signed int64, in decimal); a value's row is 1 + its key's index, 0 when absent or missing. `inputs`: the "
            "graph inputs and columns that take the row.",
            "features": {
                f: {
                    "field": field,
                    "inputs": [{"input": n, "column": c} for n, c in where],
                    "keys": [str(int(k)) for k in keys],
                }
                for f, (keys, field, where) in self.features.items()
            },
        }

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> Vocabularies:
        if doc.get("format") != FORMAT:
            raise ValueError(f"vocabulary format {doc.get('format')!r}, expected {FORMAT!r}")
        return Vocabularies(
            {
                f: (
                    np.asarray([int(k) for k in v["keys"]], dtype=np.int64),
                    v["field"],
                    [(i["input"], int(i["column"])) for i in v["inputs"]],
                )
                for f, v in doc["features"].items()
            }
        )

    def write(self, folder: str | Path) -> Path:
        path = Path(folder) / VOCABULARY_FILE
        path.write_text(json.dumps(self.to_json()) + "\n", encoding="utf-8")
        return path

    @staticmethod
    def beside(graph: str | Path) -> Vocabularies | None:
        """The vocabulary.json in a graph's folder (None without one: the model has no fitted vocabulary)."""
        path = Path(graph).parent / VOCABULARY_FILE
        return Vocabularies.from_json(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else None

    def rows(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The inputs with every fitted column's keys replaced by rows (copies of the inputs it changes)."""
        out = dict(inputs)
        for keys, _field, where in self.features.values():
            for name, col in where:
                if name not in out:
                    continue
                if out[name] is inputs[name]:
                    out[name] = np.array(inputs[name], dtype=np.int64)
                out[name][..., col] = key_rows(keys, out[name][..., col])
        return out
