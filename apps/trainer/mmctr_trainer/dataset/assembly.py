"""Point-in-time assembly of one user bucket's rows from its impressions and sequence events (numpy, no SQL)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..features import age_buckets
from .items import TS_BITS, TS_MASK, ItemTable
from .rows import RowSlots
from .splits import Boundaries


def sequence_columns(
    seq: Mapping[str, Any],
    items: ItemTable,
    imp_user: np.ndarray,
    imp_ts: np.ndarray,
    users: dict[str, int],
    events: Sequence[Mapping[str, Any]],
) -> dict[str, np.ndarray]:
    """<seq>_rows [n, L] (item-version rows, newest first, of the user's events strictly before each impression)
    and, when the sequence has ages, <seq>_age [n, L] (each entry's age bucket at the impression time)."""
    L, n, m = seq["length"], len(imp_ts), len(events)
    e_user = np.empty(m, dtype=np.int64)
    e_ts = np.empty(m, dtype=np.int64)
    e_item = np.empty(m, dtype=np.int64)
    for j, r in enumerate(events):
        u = users.get(r["user_id"])
        e_user[j] = -1 if u is None else u
        e_ts[j] = int(r["ts_ms"])
        e_item[j] = items.item_idx(r["item_id"])
    keep = e_user >= 0
    e_user, e_ts, e_item = e_user[keep], e_ts[keep], e_item[keep]
    e_key = (e_user << TS_BITS) | np.minimum(e_ts, TS_MASK)
    order = np.argsort(e_key, kind="stable")
    e_key, e_item, e_ts = e_key[order], e_item[order], e_ts[order]
    start = np.searchsorted(e_key, imp_user << TS_BITS, side="left")
    end = np.searchsorted(e_key, (imp_user << TS_BITS) | np.minimum(imp_ts, TS_MASK), side="left")  # strictly before
    idx = end[:, None] - 1 - np.arange(L)[None, :]  # newest first
    valid = idx >= start[:, None]
    rows = np.zeros((n, L), dtype=np.int32)
    age = np.zeros((n, L), dtype=np.uint8)
    if valid.any():
        vi = np.nonzero(valid)
        rows[vi] = items.as_of(e_item[idx[vi]], imp_ts[vi[0]])
        if "age" in seq:
            age[vi] = age_buckets(imp_ts[vi[0]] - e_ts[idx[vi]], seq["age"]["boundaries_ms"])
    name = seq["name"]
    return {f"{name}_rows": rows, **({f"{name}_age": age} if "age" in seq else {})}


def bucket_columns(
    items: ItemTable,
    row_slots: RowSlots,
    first_imp: dict[str, int],
    bounds: Boundaries,
    imps: list[dict[str, Any]],
    events: Mapping[str, list[dict[str, Any]]],
) -> dict[str, np.ndarray]:
    """The training rows of one user bucket: the row slots' values (row_<feature>: the requester's key and the
    context), the candidate's item-version row, label, cold flag and every sequence's rows (`events` holds each
    sequence's events)."""
    n = len(imps)
    users: dict[str, int] = {}
    imp_user = np.empty(n, dtype=np.int64)
    imp_ts = np.empty(n, dtype=np.int64)
    imp_item = np.empty(n, dtype=np.int64)
    label = np.empty(n, dtype=np.uint8)
    cold = np.empty(n, dtype=np.uint8)
    for i, r in enumerate(imps):
        imp_user[i] = users.setdefault(r["user_id"], len(users))
        ts = int(r["ts_ms"])
        imp_ts[i] = ts
        imp_item[i] = items.item_idx(r["item_id"])
        label[i] = 1 if int(r["label"]) else 0
        cold[i] = 1 if first_imp.get(r["item_id"], ts) >= bounds.val_end_ms else 0
    out = {f"row_{f}": v for f, v in row_slots.encode(imps).items()}
    out["cand_row"] = items.as_of(imp_item, imp_ts)
    for seq in items.schema.sequences:
        out.update(sequence_columns(seq, items, imp_user, imp_ts, users, events[seq["name"]]))
    return {**out, "label": label, "ts_ms": imp_ts, "cold": cold}
