"""A built training set as CSV files for a peer CTR library (bench/quality/README.md, "CSV column format"):
train.csv, valid.csv and test.csv with the rows of the set's splits in their order, so the peer trains and is
scored on exactly the rows the trainer sees.

A cell holds the slot's value as the trainer's models read it (a categorical slot's hash bucket, a fitted
feature's 64-bit value key, a vocabulary index or age band as a token, a numeric slot after its transform): the peer
builds its own vocabularies and standardisation over them, and both sides see the same information, hash
collisions included. Vector slots
have no CSV form and are left out."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .dataset.reader import TrainSet
from .schema import slot_key

FILES = {"train": "train.csv", "val": "valid.csv", "test": "test.csv"}
PREFIX = {"categorical": "c", "numeric": "n", "multi_categorical": "m"}
SUFFIX = {"categorical": "cat", "numeric": "num", "multi_categorical": "multi"}
SEP = "^"  # joins the values of an m_ or s_ cell


@dataclass(frozen=True)
class Column:
    """One CSV column: its name, the layout input it reads and where in that input's last axis."""

    name: str
    input: str
    start: int
    width: int  # > 1 or a sequence: a list cell
    kind: str  # categorical | numeric | multi_categorical | sequence


def _side_columns(group: Mapping[str, Any], prefix: str) -> list[Column]:
    cols: list[Column] = []
    for kind, letter in PREFIX.items():
        offset = 0
        for slot in group[kind]:
            width = int(slot.get("max_length", 1)) if kind == "multi_categorical" else 1
            cols.append(Column(f"{letter}_{slot_key(slot)}", f"{prefix}_{SUFFIX[kind]}", offset, width, kind))
            offset += width
    return cols


def _sequence_columns(sequences: Sequence[Mapping[str, Any]], targets: set[str]) -> list[Column]:
    """s_<feature> for each categorical side feature of a sequence that the candidate also has (DIN's pair)."""
    cols: dict[str, Column] = {}
    for seq in sequences:
        for i, slot in enumerate(seq["categorical"]):
            name = f"s_{slot['feature']}"
            if slot["feature"] not in targets:
                continue
            if name in cols:
                raise ValueError(f"{name}: sequences {cols[name].input[:-4]!r} and {seq['name']!r} both hold it")
            cols[name] = Column(name, f"{seq['name']}_cat", i, 1, "sequence")
    return list(cols.values())


def columns(ts: TrainSet) -> list[Column]:
    """The CSV columns of a training set's layout, label first."""
    user, cand = ts.schema.user, ts.schema.candidate
    cand_cats = {s["feature"] for s in cand["categorical"]}
    cols = [*_side_columns(user, "user"), *_side_columns(cand, "cand")]
    return [Column("label", "label", 0, 1, "label"), *cols, *_sequence_columns(ts.schema.sequences, cand_cats)]


def _number(v: float) -> str:
    return f"{float(v):.7g}"


def _cells(col: Column, batch: Mapping[str, np.ndarray]) -> list[str]:
    """One column's cells for a batch."""
    a = np.asarray(batch[col.input])
    if col.kind == "label":
        return [str(int(v)) for v in a]
    if col.kind == "sequence":
        ids = a[:, :, col.start]  # [n, L], newest first, 0 = empty slot
        return [SEP.join(str(int(v)) for v in row[row != 0]) for row in ids]
    part = a[:, col.start : col.start + col.width]
    if col.kind == "numeric":
        return [_number(v) for v in part[:, 0]]
    if col.kind == "multi_categorical":
        return [SEP.join(str(int(v)) for v in row[row != 0]) for row in part]
    return [str(int(v)) for v in part[:, 0]]


def _batches(ts: TrainSet, split: str, batch_rows: int) -> Iterator[dict[str, np.ndarray]]:
    n = ts.rows(split)
    for start in range(0, n, batch_rows):
        yield ts.gather(split, np.arange(start, min(n, start + batch_rows)))


def export_csv(trainset: str | Path, out: str | Path, batch_rows: int = 10_000) -> dict[str, Any]:
    """Writes the three CSV files under `out`; returns {columns, rows per file, skipped vector features}."""
    ts = TrainSet(trainset, trim_history=False)  # full-length sequences: every batch has the same columns
    cols = columns(ts)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, int] = {}
    for split, name in FILES.items():
        with open(out / name, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow([c.name for c in cols])
            for batch in _batches(ts, split, batch_rows):
                w.writerows(zip(*(_cells(c, batch) for c in cols), strict=True))
        rows[name] = ts.rows(split)
    vectors = [s["feature"] for g in (ts.schema.user, ts.schema.candidate) for s in g["vector"]]
    return {"out": str(out), "columns": [c.name for c in cols], "rows": rows, "skipped_vectors": vectors}
