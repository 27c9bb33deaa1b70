"""Builds a point-in-time training set: user hash-buckets fetched one at a time (store.py), assembled
(assembly.py) and appended to per-split raw column files, plus meta.json and the item-version table."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import store
from ..ch import ClickHouse
from ..feature_repo import FeatureRepo
from ..schema import ModelSchema, repo_document
from .assembly import bucket_columns
from .items import ItemTable
from .rows import RowSlots
from .splits import SPLITS, compute_boundaries


class _ColumnWriter:
    def __init__(self, folder: Path, columns: dict[str, tuple[list[int], str]]):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.n = 0
        self.positives = 0
        self.cold = 0
        self.columns = columns
        self.files = {k: open(folder / f"{k}.bin", "wb") for k in columns}

    def write(self, cols: dict[str, np.ndarray]) -> None:
        for k, fh in self.files.items():
            np.ascontiguousarray(cols[k], dtype=self.columns[k][1]).tofile(fh)
        self.n += len(cols["label"])
        self.positives += int(cols["label"].sum())
        self.cold += int(cols["cold"].sum())

    def close(self) -> dict[str, Any]:
        for fh in self.files.values():
            fh.close()
        return {
            "rows": self.n,
            "positives": self.positives,
            "cold_rows": self.cold,
            "columns": {k: {"dtype": d, "shape": s} for k, (s, d) in self.columns.items()},
        }


def _columns(schema: ModelSchema, row_slots: RowSlots) -> dict[str, tuple[list[int], str]]:
    """Shape (after the row axis) and dtype of every column file."""
    cols = {f"row_{f}": c for f, c in row_slots.columns().items()}
    cols["cand_row"] = ([], "int32")
    for s in schema.sequences:
        cols[f"{s['name']}_rows"] = ([s["length"]], "int32")
        if "age" in s:
            cols[f"{s['name']}_age"] = ([s["length"]], "uint8")
    return {**cols, "label": ([], "uint8"), "ts_ms": ([], "int64"), "cold": ([], "uint8")}


@dataclass
class BuildResult:
    out_dir: Path
    meta: dict[str, Any] = field(default_factory=dict)


def build_training_set(
    ch: ClickHouse,
    repo: FeatureRepo,
    out_dir: str | Path,
    *,
    train_end_ms: int | None = None,
    val_end_ms: int | None = None,
    from_ms: int | None = None,
    to_ms: int | None = None,
    chunk_rows: int = 200_000,
    attribution_window_ms: int | None = None,
    projection_version: str | None = None,
    log: Callable[[str], None] = print,
) -> BuildResult:
    t0 = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    schema = ModelSchema.from_repo(repo)
    window = int(attribution_window_ms if attribution_window_ms is not None else repo.label["attribution_window_ms"])
    bounds, n_imp = compute_boundaries(ch, train_end_ms, val_end_ms, from_ms, to_ms)
    log(f"[build] {n_imp} impressions; split train < {bounds.train_end_ms} <= val < {bounds.val_end_ms} <= test")
    items = ItemTable(schema)
    row_slots = RowSlots.of(schema, items.slots, store.IMPRESSION_COLUMNS)
    items.load(ch, projection_version)
    log(
        f"[build] {len(items.index)} catalogue items, {len(items.keys)} versions, {len(items.mm) - 1} vectors "
        f"(projection '{items.projection_version}')"
    )
    first_imp: dict[str, int] = {}
    for row in store.first_impressions(ch):
        first_imp[row["item_id"]] = int(row["t"])
    writers = {s: _ColumnWriter(out / s, _columns(schema, row_slots)) for s in SPLITS}
    n_buckets = max(1, math.ceil(n_imp / max(1, chunk_rows)))
    for k in range(n_buckets):
        imps = store.bucket_impressions(ch, n_buckets, k, window, bounds.from_ms, bounds.to_ms)
        if not imps:
            continue
        events = {
            s["name"]: store.bucket_sequence_events(ch, n_buckets, k, bounds.to_ms, s["event_types"])
            for s in schema.sequences
        }
        cols = bucket_columns(items, row_slots, first_imp, bounds, imps, events)
        split = bounds.split_of(cols["ts_ms"])
        for s_i, s in enumerate(SPLITS):
            m = split == s_i
            if m.any():
                writers[s].write({c: v[m] for c, v in cols.items()})
        log(
            f"[build] bucket {k + 1}/{n_buckets}: {len(imps)} impressions, "
            f"{sum(len(e) for e in events.values())} sequence events "
            f"({time.time() - t0:.1f}s)"
        )
    split_meta = {s: w.close() for s, w in writers.items()}
    np.savez(out / "items.npz", **items.arrays())
    meta = {
        "format": "mmctr-trainset-1",
        "database": ch.database,
        "feature_repo": repo_document(repo),
        "repository": schema.layout["repository"],
        "boundaries": bounds.__dict__,
        "attribution_window_ms": window,
        "projection_version": items.projection_version,
        "vectors_resized": items.vector_mismatch,
        "items": len(items.index),
        "item_rows": len(items.mm_row),
        "splits": split_meta,
        "built_at_ms": int(time.time() * 1000),
        "build_seconds": round(time.time() - t0, 3),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    log("[build] done: " + ", ".join(f"{s} {m['rows']} rows ({m['positives']} clicks)" for s, m in split_meta.items()))
    return BuildResult(out, meta)
