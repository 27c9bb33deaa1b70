"""Point-in-time assembly of one user bucket's rows from its impressions and sequence events (numpy, no SQL)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..features import age_buckets
from ..store import EventSource
from .entities import TS_BITS, TS_MASK, EntityTable, EntityTables, SidePlan
from .rows import RowSlots
from .splits import Boundaries


@dataclass
class Impressions:
    """One bucket's impressions as arrays: requester index (bucket-local), time, candidate index in its table."""

    user: np.ndarray
    ts: np.ndarray
    cand: np.ndarray
    users: dict[str, int]


def sequence_rows(
    seq: Mapping[str, Any],
    table: EntityTable,
    imp: Impressions,
    user_key: str,
    events: Sequence[Mapping[str, Any]],
) -> tuple[np.ndarray, np.ndarray | None]:
    """[n, L] version rows of `table` (the target, as of each impression), newest first, of the requester's
    events strictly before each impression, and when the sequence has ages, each entry's age bucket then."""
    L, n, m = seq["length"], len(imp.ts), len(events)
    e_user = np.empty(m, dtype=np.int64)
    e_ts = np.empty(m, dtype=np.int64)
    e_target = np.empty(m, dtype=np.int64)
    for j, r in enumerate(events):
        e_user[j] = imp.users.get(r[user_key], -1)
        e_ts[j] = int(r["ts_ms"])
        e_target[j] = table.idx(r[table.key])
    keep = e_user >= 0
    e_user, e_ts, e_target = e_user[keep], e_ts[keep], e_target[keep]
    e_key = (e_user << TS_BITS) | np.minimum(e_ts, TS_MASK)
    order = np.argsort(e_key, kind="stable")
    e_key, e_target, e_ts = e_key[order], e_target[order], e_ts[order]
    start = np.searchsorted(e_key, imp.user << TS_BITS, side="left")
    end = np.searchsorted(e_key, (imp.user << TS_BITS) | np.minimum(imp.ts, TS_MASK), side="left")  # strictly before
    idx = end[:, None] - 1 - np.arange(L)[None, :]  # newest first
    valid = idx >= start[:, None]
    rows = np.zeros((n, L), dtype=np.int32)
    age = np.zeros((n, L), dtype=np.uint8) if "age" in seq else None
    if valid.any():
        vi = np.nonzero(valid)
        rows[vi] = table.as_of(e_target[idx[vi]], imp.ts[vi[0]])
        if age is not None:
            age[vi] = age_buckets(imp.ts[vi[0]] - e_ts[idx[vi]], seq["age"]["boundaries_ms"])
    return rows, age


def side_columns(tables: EntityTables, plan: SidePlan, rows: np.ndarray, ts: np.ndarray) -> dict[str, np.ndarray]:
    """A side's stored columns: its own version rows and the rows of every entity it joins, as of ts."""
    return {plan.column(e): r for e, r in tables.side_rows(plan, rows, ts).items()}


def _impressions(
    tables: EntityTables, src: EventSource, first_imp: dict[str, int], bounds: Boundaries, imps: list[dict[str, Any]]
) -> tuple[Impressions, np.ndarray, np.ndarray]:
    n = len(imps)
    imp = Impressions(np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64), {})
    label = np.empty(n, dtype=np.uint8)
    cold = np.empty(n, dtype=np.uint8)
    cand = tables.candidate
    for i, r in enumerate(imps):
        imp.user[i] = imp.users.setdefault(r[src.requester_key], len(imp.users))
        ts = int(r["ts_ms"])
        imp.ts[i] = ts
        imp.cand[i] = cand.idx(r[src.candidate_key])
        label[i] = 1 if int(r["label"]) else 0
        cold[i] = 1 if first_imp.get(r[src.candidate_key], ts) >= bounds.val_end_ms else 0
    return imp, label, cold


def bucket_columns(
    tables: EntityTables,
    row_slots: RowSlots,
    src: EventSource,
    first_imp: dict[str, int],
    bounds: Boundaries,
    imps: list[dict[str, Any]],
    events: Mapping[str, list[dict[str, Any]]],
) -> dict[str, np.ndarray]:
    """The training rows of one user bucket: the row slots' values (row_<feature>: the requester's key and the
    context), every side's entity rows as of the impression (the candidate's, the requester's when read, each
    sequence's and the joined ones), label and cold flag (`events` holds each sequence's events)."""
    imp, label, cold = _impressions(tables, src, first_imp, bounds, imps)
    user, cand, *seqs = tables.plans
    out = {f"row_{f}": v for f, v in row_slots.encode(imps).items()}
    out.update(side_columns(tables, cand, tables.candidate.as_of(imp.cand, imp.ts), imp.ts))
    requester = tables.requester
    if requester is not None:
        keys = [r[src.requester_key] for r in imps]
        out.update(side_columns(tables, user, requester.as_of(requester.idx_of(keys), imp.ts), imp.ts))
    for plan in seqs:
        target = tables.tables[plan.entity]
        rows, age = sequence_rows(plan.group, target, imp, src.requester_key, events[plan.prefix])
        out.update(side_columns(tables, plan, rows, imp.ts))
        if age is not None:
            out[f"{plan.prefix}_age"] = age
    return {**out, "label": label, "ts_ms": imp.ts, "cold": cold}
