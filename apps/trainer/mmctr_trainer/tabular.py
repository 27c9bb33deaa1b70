"""Training on a user's own tabular CTR file (CSV): every listed column is a hashed categorical field
(the model's user fields); there is no history and no multimodal vector (pads / zeros, L = 1, D = 1)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from .data_source import DataSource
from .features import cached_bucket
from .layers import ModelSchema

SPLITS = ("train", "val", "test")


def _time_key(v: str) -> float | str:
    try:
        return float(v)
    except ValueError:
        return v  # ISO-8601 strings sort lexicographically


class TabularSet(DataSource):
    def __init__(
        self,
        path: str | Path,
        label: str,
        fields: list[str],
        buckets: int = 65536,
        split: str = "random",
        time_col: str | None = None,
        fractions: tuple[float, float] = (0.8, 0.9),
        seed: int = 42,
    ):
        self.fields, self.buckets = fields, buckets
        ids, labels, times = [], [], []
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [
                c for c in [label, *fields, *([time_col] if time_col else [])] if c not in (reader.fieldnames or [])
            ]
            if missing:
                raise ValueError(f"{path}: no column(s) {missing}; columns are {reader.fieldnames}")
            for row in reader:
                ids.append([cached_bucket(f, row[f] or "", buckets) for f in fields])
                y = row[label].strip().lower()
                labels.append(
                    1.0
                    if y in ("1", "true", "yes", "click", "clicked")
                    or (y.replace(".", "", 1).isdigit() and float(y) > 0)
                    else 0.0
                )
                if time_col:
                    times.append(_time_key(row[time_col]))
        n = len(labels)
        if n < 3:
            raise ValueError(f"{path}: needs at least 3 rows, got {n}")
        self.user_fields = np.asarray(ids, dtype=np.int64).reshape(n, len(fields))
        self.label = np.asarray(labels, dtype=np.float32)
        if split == "time":
            if not time_col:
                raise ValueError("--split time needs --time-col")
            order = np.asarray(sorted(range(n), key=lambda i: times[i]))
        elif split == "random":
            order = np.random.default_rng(seed).permutation(n)
        else:
            raise ValueError(f"unknown split {split!r}")
        a, b = int(n * fractions[0]), int(n * fractions[1])
        self.index = {"train": order[:a], "val": order[a:b], "test": order[b:]}
        self.meta: dict[str, Any] = {
            "source": str(path),
            "rows": n,
            "fields": fields,
            "label": label,
            "split": split,
            "time_col": time_col,
            "buckets": buckets,
            "splits": {
                s: {"rows": int(len(self.index[s])), "positives": int(self.label[self.index[s]].sum())} for s in SPLITS
            },
        }

    def schema(self) -> ModelSchema:
        # Only the user fields carry values: the item, category, position and tag tables hold padding + one value.
        return ModelSchema([self.buckets] * len(self.fields), 2, 2, 2, 2, history_length=1, mm_dim=1)

    def feature_spec(self) -> dict[str, Any]:
        return {
            "version": f"tabular-{len(self.fields)}x{self.buckets}",
            "kind": "tabular",
            "hash": {"algorithm": "fnv1a64", "separator": "\u001f"},
            "user_fields": [{"name": f, "buckets": self.buckets} for f in self.fields],
            "candidate_fields": [
                {"name": "item_id", "buckets": 2},
                {"name": "category", "buckets": 2},
                {"name": "position", "buckets": 2},
            ],
            "tags": {"field": "tag", "max": 5, "buckets": 2},
            "history": {"length": 1},
            "multimodal": {"dim": 1},
            "notes": "imported CSV: user_fields carry the file's columns; candidate / history / vector inputs are "
            "zeros",
        }

    def rows(self, split: str) -> int:
        return int(len(self.index[split]))

    def labels(self, split: str) -> np.ndarray:
        return self.label[self.index[split]]

    def cold(self, split: str) -> np.ndarray:
        return np.zeros(self.rows(split), dtype=np.uint8)

    def gather(self, split: str, idx: np.ndarray) -> dict[str, np.ndarray]:
        rows = self.index[split][idx]
        n = len(rows)
        return {
            "user_fields": self.user_fields[rows],
            "hist_ids": np.zeros((n, 1), np.int64),
            "hist_tags": np.zeros((n, 1, 5), np.int64),
            "hist_cat": np.zeros((n, 1), np.int64),
            "hist_mm": np.zeros((n, 1, 1), np.float32),
            "hist_age": np.zeros((n, 1), np.int64),
            "cand_fields": np.zeros((n, 3), np.int64),
            "cand_tags": np.zeros((n, 5), np.int64),
            "cand_mm": np.zeros((n, 1), np.float32),
            "label": self.label[rows],
        }
