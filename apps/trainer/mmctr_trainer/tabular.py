"""Training on a user's own tabular CTR file (CSV): every listed column is a hashed categorical slot of the
candidate (one row = one candidate); the layout has no sequence, no user and no vector inputs, only cand_cat."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .data_source import DataSource
from .features import cached_bucket
from .schema import ModelSchema

SPLITS = ("train", "val", "test")
# The values a split column may hold (case and surrounding blanks ignored).
SPLIT_VALUES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def _time_key(v: str) -> float | str:
    try:
        return float(v)
    except ValueError:
        return v  # ISO-8601 strings sort lexicographically


def _is_click(y: str) -> bool:
    y = y.strip().lower()
    return y in ("1", "true", "yes", "click", "clicked") or (y.replace(".", "", 1).isdigit() and float(y) > 0)


def _read_csv(
    path: str | Path, label: str, fields: list[str], buckets: int, extra: list[str]
) -> tuple[list[list[int]], list[float], dict[str, list[str]]]:
    """The hashed fields, labels and the raw `extra` columns (time, split) of a CSV's rows."""
    ids: list[list[int]] = []
    labels: list[float] = []
    extras: dict[str, list[str]] = {c: [] for c in extra}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in [label, *fields, *extra] if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: no column(s) {missing}; columns are {reader.fieldnames}")
        for row in reader:
            ids.append([cached_bucket(f, row[f] or "", buckets) for f in fields])
            labels.append(1.0 if _is_click(row[label]) else 0.0)
            for c in extra:
                extras[c].append(row[c])
    return ids, labels, extras


def _column_split(values: list[str], column: str) -> dict[str, np.ndarray]:
    """Row indices per split from a split column's values (train / val / valid / validation / test)."""
    named = [SPLIT_VALUES.get(v.strip().lower()) for v in values]
    bad = sorted({v for v, n in zip(values, named, strict=True) if n is None})
    if bad:
        raise ValueError(
            f"split column {column!r} holds {bad[:5]} ({sum(n is None for n in named)} rows); "
            f"allowed: {', '.join(SPLIT_VALUES)}"
        )
    return {s: np.asarray([i for i, n in enumerate(named) if n == s], dtype=np.int64) for s in SPLITS}


class TabularSet(DataSource):
    """`path` is one CSV split by `split` (random | time on `time_col` | column on `split_col`), or a mapping
    {"train": csv, "val": csv, "test": csv} of predefined splits (files with the same columns)."""

    def __init__(
        self,
        path: str | Path | Mapping[str, str | Path],
        label: str,
        fields: list[str],
        buckets: int = 65536,
        split: str = "random",
        time_col: str | None = None,
        fractions: tuple[float, float] = (0.8, 0.9),
        seed: int = 42,
        split_col: str | None = None,
    ):
        self.fields, self.buckets = fields, buckets
        if isinstance(path, Mapping):
            split, source = "files", self._read_files(path, label, fields, buckets)
        else:
            source = self._read_one(path, label, fields, buckets, split, time_col, split_col, fractions, seed)
        empty = [s for s in SPLITS if not len(self.index[s])]
        if empty:
            raise ValueError(f"{source}: no rows in the {', '.join(empty)} split(s)")
        self.meta: dict[str, Any] = {
            "source": source,
            "rows": int(len(self.label)),
            "fields": fields,
            "label": label,
            "split": split,
            "time_col": time_col,
            "split_col": split_col,
            "buckets": buckets,
            "splits": {
                s: {"rows": int(len(self.index[s])), "positives": int(self.label[self.index[s]].sum())} for s in SPLITS
            },
        }
        self.schema = ModelSchema(tabular_layout(fields, buckets))

    def _keep(self, ids: list[list[int]], labels: list[float]) -> None:
        self.cand_cat = np.asarray(ids, dtype=np.int64).reshape(len(labels), len(self.fields))
        self.label = np.asarray(labels, dtype=np.float32)

    def _read_files(self, paths: Mapping[str, str | Path], label: str, fields: list[str], buckets: int) -> Any:
        missing = [s for s in SPLITS if s not in paths]
        if missing:
            raise ValueError(f"predefined splits need a file for each of {SPLITS}; missing {missing}")
        ids: list[list[int]] = []
        labels: list[float] = []
        self.index = {}
        for s in SPLITS:
            part_ids, part_labels, _ = _read_csv(paths[s], label, fields, buckets, [])
            self.index[s] = np.arange(len(labels), len(labels) + len(part_labels), dtype=np.int64)
            ids += part_ids
            labels += part_labels
        self._keep(ids, labels)
        return {s: str(paths[s]) for s in SPLITS}

    def _read_one(
        self,
        path: str | Path,
        label: str,
        fields: list[str],
        buckets: int,
        split: str,
        time_col: str | None,
        split_col: str | None,
        fractions: tuple[float, float],
        seed: int,
    ) -> str:
        if split not in ("random", "time", "column"):
            raise ValueError(f"unknown split {split!r}; one of random, time, column")
        if split == "time" and not time_col:
            raise ValueError("--split time needs --time-col")
        if split == "column" and not split_col:
            raise ValueError("--split column needs --split-col")
        extra = [c for c in (time_col if split == "time" else None, split_col if split == "column" else None) if c]
        ids, labels, extras = _read_csv(path, label, fields, buckets, extra)
        n = len(labels)
        if n < 3:
            raise ValueError(f"{path}: needs at least 3 rows, got {n}")
        self._keep(ids, labels)
        if split == "column":
            self.index = _column_split(extras[str(split_col)], str(split_col))
            return str(path)
        if split == "time":
            times = [_time_key(v) for v in extras[str(time_col)]]
            order = np.asarray(sorted(range(n), key=lambda i: times[i]))
        else:
            order = np.random.default_rng(seed).permutation(n)
        a, b = int(n * fractions[0]), int(n * fractions[1])
        self.index = {"train": order[:a], "val": order[a:b], "test": order[b:]}
        return str(path)

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
