"""Training on a user's own tabular CTR file (CSV): every listed column is a hashed categorical slot of the
candidate (one row = one candidate); the layout has no sequence, no user and no vector inputs, only cand_cat."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from .data_source import DataSource
from .features import cached_bucket
from .schema import ModelSchema

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
        self.cand_cat = np.asarray(ids, dtype=np.int64).reshape(n, len(fields))
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
        self.schema = ModelSchema(tabular_layout(fields, buckets))

    def rows(self, split: str) -> int:
        return int(len(self.index[split]))

    def labels(self, split: str) -> np.ndarray:
        return self.label[self.index[split]]

    def cold(self, split: str) -> np.ndarray:
        return np.zeros(self.rows(split), dtype=np.uint8)

    def gather(self, split: str, idx: np.ndarray) -> dict[str, np.ndarray]:
        rows = self.index[split][idx]
        return {"cand_cat": self.cand_cat[rows], "label": self.label[rows]}


def tabular_layout(fields: list[str], buckets: int) -> dict[str, Any]:
    """The layout of an imported CSV: each column a hashed categorical slot of the candidate."""
    empty: dict[str, list[Any]] = {"numeric": [], "multi_categorical": [], "vector": []}
    cand = [{"feature": f, "source": f"row.{f}", "field": f, "encoding": "hash", "size": buckets} for f in fields]
    return {
        "repository": {"name": "tabular", "version": f"tabular-{len(fields)}x{buckets}"},
        "request_entity": "row",
        "candidate_entity": "row",
        "user": {"categorical": [], **empty},
        "sequences": [],
        "candidate": {"categorical": cand, **empty},
        "inputs": [{"name": "cand_cat", "dtype": "int64", "shape": ["B", len(fields)]}],
    }
