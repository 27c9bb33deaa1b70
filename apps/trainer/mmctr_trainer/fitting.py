"""Encoders fitted on the training split, carried by the model (and so by its exported graph).

A repository may leave two encoders to the trainer (docs/features.md):

- numeric `standardize` without `stats`: the inputs hold the clipped raw value; the trainer fits mean / std on the
  training split and the model computes (x - mean) / std first (graph constants).
- categorical `hash` with `fit: {min_count}`: the inputs hold each value's 64-bit key (features.value_key); the
  values seen at least min_count times in the training split get the rows 1..V of the slot's embedding table
  (V + 1 rows) in key order, every other value row 0 (out of vocabulary, like missing). The vocabulary is exact
  (one row per value) and lives outside the graph, which takes rows (vocabulary.py).

Only the train split's rows are read, never validation or test: a value first seen there is out of vocabulary, as it
would be for a model serving new traffic. Counts are taken on the user and candidate slots (a sequence side feature
shares the candidate's table and mapping). Torch-free: the model (layers/embedding.py) turns the result into
buffers and constants.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from .data_source import DataSource
from .schema import CANDIDATE, SUFFIX, USER, ModelSchema

FIT_BATCH = 65_536
Column = tuple[Mapping[str, Any], str, int]  # (slot, input name, column index)


def _columns(schema: ModelSchema) -> tuple[dict[str, Column], dict[str, Column]]:
    """The slots to fit, by feature: (fitted vocabularies, standardize without stats), read from the user and
    candidate inputs."""
    vocab: dict[str, Column] = {}
    stats: dict[str, Column] = {}
    for prefix, group in ((USER, schema.user), (CANDIDATE, schema.candidate)):
        for i, s in enumerate(group["categorical"]):
            if "fit" in s:
                vocab[s["feature"]] = (s, f"{prefix}_{SUFFIX['categorical']}", i)
        for i, s in enumerate(group["numeric"]):
            if s["transform"] == "standardize" and "stats" not in s:
                stats[s["feature"]] = (s, f"{prefix}_{SUFFIX['numeric']}", i)
    return vocab, stats


def vocabulary_keys(keys: np.ndarray, counts: np.ndarray, min_count: int) -> np.ndarray:
    """The vocabulary [V] int64, sorted: the distinct value keys (sorted, as np.unique gives them) counted at least
    min_count times, without 0 (missing). A value's row is 1 + its key's index."""
    return keys[(counts >= min_count) & (keys != 0)]


class _Counts:
    """Count of each distinct key of a stream of batches (np.unique per batch, merged every few batches)."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, v: np.ndarray) -> None:
        self.parts.append(np.unique(v.astype(np.int64).ravel(), return_counts=True))
        if len(self.parts) >= 16:
            self.parts = [self.total()]

    def total(self) -> tuple[np.ndarray, np.ndarray]:
        """(sorted distinct keys, their counts)."""
        if not self.parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        keys, inverse = np.unique(np.concatenate([k for k, _c in self.parts]), return_inverse=True)
        counts = np.bincount(inverse, weights=np.concatenate([c for _k, c in self.parts]), minlength=len(keys))
        return keys, counts.astype(np.int64)


class _Moments:
    """Count, mean and M2 of a stream of batches (Chan et al.'s pairwise update, float64)."""

    def __init__(self) -> None:
        self.n, self.mean, self.m2 = 0, 0.0, 0.0

    def add(self, v: np.ndarray) -> None:
        v = v.astype(np.float64).ravel()
        if not v.size:
            return
        n, mean = v.size, float(v.mean())
        m2 = float(((v - mean) ** 2).sum())
        total = self.n + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.n * n / total
        self.n = total

    def summary(self) -> dict[str, Any]:
        std = (self.m2 / self.n) ** 0.5 if self.n else 0.0
        # A constant (or absent) value standardizes to 0: std 1 keeps the division defined.
        return {
            "encoder": "standardize",
            "mean": float(np.float32(self.mean)),
            "std": float(np.float32(std)) if std > 0 else 1.0,
            "train_rows": self.n,
        }


def fit_encoders(
    schema: ModelSchema, data: DataSource, batch_size: int = FIT_BATCH, log: Callable[[str], None] | None = None
) -> ModelSchema:
    """The schema with the encoders its layout leaves to the trainer fitted on `data`'s train split (the schema
    itself when there are none)."""
    vocab, stats = _columns(schema)
    if not vocab and not stats:
        return schema
    counts = {f: _Counts() for f in vocab}
    moments = {f: _Moments() for f in stats}
    for batch in data.batches("train", batch_size):
        for f, (_s, name, i) in vocab.items():
            counts[f].add(batch[name][..., i])
        for f, (_s, name, i) in stats.items():
            moments[f].add(batch[name][..., i])
    fitted: dict[str, dict[str, Any]] = {f: m.summary() for f, m in moments.items()}
    keys: dict[str, np.ndarray] = {}
    for f, (s, _n, _i) in vocab.items():
        distinct, n = counts[f].total()
        keys[f] = vocabulary_keys(distinct, n, int(s["fit"]["min_count"]))
        fitted[f] = {
            "encoder": "vocabulary",
            "min_count": int(s["fit"]["min_count"]),
            "train_values": int((distinct != 0).sum()),  # distinct values in the train split
            "vocabulary_size": len(keys[f]),
            "rows": len(keys[f]) + 1,
        }
    if log:
        log(f"[fit] on {data.rows('train')} train rows: {fitted}")
    return replace(schema, fitted={**schema.fitted, **fitted}, vocab_keys={**schema.vocab_keys, **keys})
