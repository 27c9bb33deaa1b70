"""Builds a point-in-time training set: user hash-buckets fetched one at a time (store.py), assembled
(assembly.py) and appended to per-split raw column files, plus meta.json and the item-version table. Aggregate
slots are row columns too (row_<feature>@<window>): each impression's raw window values as of its time
(aggregate_values; each aggregation's events read once for all buckets), encoded like numeric features."""

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
from .aggregate_slots import AggregateSlots
from .assembly import bucket_columns
from .entities import EntityTable, EntityTables
from .rows import RowSlots
from .splits import SPLITS, compute_boundaries

# The candidate's table keeps the name it had when it was the only one; other entities' tables are
# entity_<name>.npz.
CANDIDATE_TABLE = "items.npz"
# 2: a fitted categorical holds its values' 64-bit keys (exact vocabularies), not hash buckets.
TRAINSET_FORMAT = "mmctr-trainset-2"


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


def _columns(tables: EntityTables, row_slots: RowSlots, aggregates: AggregateSlots) -> dict[str, tuple[list[int], str]]:
    """Shape (after the row axis) and dtype of every column file."""
    cols = {f"row_{f}": c for f, c in {**row_slots.columns(), **aggregates.columns()}.items()}
    user, cand, *seqs = tables.plans
    for plan, shape in ((cand, []), (user, []), *((s, [s.group["length"]]) for s in seqs)):
        if plan.rows_column is not None:
            cols.update({plan.column(e): (shape, "int32") for e in (plan.entity, *plan.joins)})
        if "age" in plan.group:
            cols[f"{plan.prefix}_age"] = (shape, "uint8")
    return {**cols, "label": ([], "uint8"), "ts_ms": ([], "int64"), "cold": ([], "uint8")}


def table_files(tables: EntityTables) -> dict[str, str]:
    """The file of each entity table in a training set."""
    cand = tables.schema.layout["candidate_entity"]
    return {e: CANDIDATE_TABLE if e == cand else f"entity_{e}.npz" for e in tables.tables}


def _vectors(t: EntityTable) -> str:
    return f", {len(t.mm) - 1} vectors (projection '{t.projection_version}')" if t.vectors else ""


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
    src = store.EventSource.of(repo)
    window = int(attribution_window_ms if attribution_window_ms is not None else repo.label["attribution_window_ms"])
    bounds, n_imp = compute_boundaries(ch, src, train_end_ms, val_end_ms, from_ms, to_ms)
    log(f"[build] {n_imp} impressions; split train < {bounds.train_end_ms} <= val < {bounds.val_end_ms} <= test")
    tables = EntityTables(repo, schema, log)
    row_slots = RowSlots.of(schema, tables.key_source, src.columns)
    tables.load(ch, projection_version)
    aggregates = AggregateSlots(schema)
    reader = aggregates.reader(ch, repo) if aggregates else None
    items = tables.candidate
    for e, t in tables.tables.items():
        log(f"[build] {e}: {len(t.index)} keys, {len(t.keys)} versions" + _vectors(t))
    first_imp = {row["key"]: int(row["t"]) for row in store.first_impressions(ch, src)}
    writers = {s: _ColumnWriter(out / s, _columns(tables, row_slots, aggregates)) for s in SPLITS}
    n_buckets = max(1, math.ceil(n_imp / max(1, chunk_rows)))
    for k in range(n_buckets):
        imps = store.bucket_impressions(ch, src, n_buckets, k, window, bounds.from_ms, bounds.to_ms)
        if not imps:
            continue
        events = {
            p.prefix: store.bucket_sequence_events(
                ch, src, n_buckets, k, bounds.to_ms, p.group["event_types"], tables.tables[p.entity].key
            )
            for p in tables.plans[2:]
        }
        cols = bucket_columns(tables, row_slots, src, first_imp, bounds, imps, events)
        if reader is not None:
            anchors = {
                "ts_ms": cols["ts_ms"],
                **{k: [r[k] for r in imps] for k in (src.requester_key, src.candidate_key)},
            }
            encoded = aggregates.encode(aggregates.raw(reader, anchors))
            cols.update({f"row_{k}": v for k, v in encoded.items()})
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
    files = table_files(tables)
    for e, a in tables.arrays().items():
        np.savez(out / files[e], **a)
    meta = {
        "format": TRAINSET_FORMAT,
        "database": ch.database,
        "feature_repo": repo_document(repo),
        "repository": schema.layout["repository"],
        "boundaries": bounds.__dict__,
        "attribution_window_ms": window,
        "projection_version": items.projection_version,
        "vectors_resized": items.vector_mismatch,
        "items": len(items.index),
        "item_rows": len(items.mm_row),
        "tables": files,
        "splits": split_meta,
        "built_at_ms": int(time.time() * 1000),
        "build_seconds": round(time.time() - t0, 3),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    log("[build] done: " + ", ".join(f"{s} {m['rows']} rows ({m['positives']} clicks)" for s, m in split_meta.items()))
    return BuildResult(out, meta)
