"""Point-in-time assembly of one user bucket's rows from its impressions and clicks (numpy, no SQL)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..features import FeatureSpec, age_buckets, cached_bucket, hour_of_day, position_value
from .items import TS_BITS, TS_MASK, ItemTable
from .splits import Boundaries


def bucket_columns(
    spec: FeatureSpec,
    items: ItemTable,
    first_imp: dict[str, int],
    bounds: Boundaries,
    imps: list[dict[str, Any]],
    clicks: list[dict[str, Any]],
    pos_clip: tuple[int, int] | None,
) -> dict[str, np.ndarray]:
    """The training rows of one user bucket: hashed user fields, the candidate's item-version row, its position,
    label, cold flag and the newest-first history (item-version rows and age buckets) of clicks strictly before
    each impression."""
    L = spec.history_length
    n = len(imps)
    users: dict[str, int] = {}
    imp_user = np.empty(n, dtype=np.int64)
    imp_ts = np.empty(n, dtype=np.int64)
    imp_item = np.empty(n, dtype=np.int64)
    user_fields = np.empty((n, len(spec.user_fields)), dtype=np.int64)
    cand_pos = np.empty(n, dtype=np.int64)
    label = np.empty(n, dtype=np.uint8)
    cold = np.empty(n, dtype=np.uint8)
    fb = [f.buckets for f in spec.user_fields]
    pos_b = spec.candidate_field("position").buckets
    for i, r in enumerate(imps):
        uid = r["user_id"]
        imp_user[i] = users.setdefault(uid, len(users))
        ts = int(r["ts_ms"])
        imp_ts[i] = ts
        imp_item[i] = items.item_idx(r["item_id"])
        user_fields[i, 0] = cached_bucket("user_id", uid, fb[0])
        user_fields[i, 1] = cached_bucket("device", r["device"], fb[1])
        user_fields[i, 2] = cached_bucket("placement", r["placement"], fb[2])
        user_fields[i, 3] = cached_bucket("country", r["country"], fb[3])
        user_fields[i, 4] = cached_bucket("hour_of_day", hour_of_day(ts), fb[4])
        cand_pos[i] = cached_bucket("position", position_value(int(r["position"]), pos_clip), pos_b)
        label[i] = 1 if int(r["label"]) else 0
        cold[i] = 1 if first_imp.get(r["item_id"], ts) >= bounds.val_end_ms else 0
    cand_row = items.as_of(imp_item, imp_ts)

    # histories: clicks sorted by (user, ts); for each impression the clicks of its user strictly before ts
    m = len(clicks)
    c_user = np.empty(m, dtype=np.int64)
    c_ts = np.empty(m, dtype=np.int64)
    c_item = np.empty(m, dtype=np.int64)
    for j, r in enumerate(clicks):
        u = users.get(r["user_id"])
        c_user[j] = -1 if u is None else u
        c_ts[j] = int(r["ts_ms"])
        c_item[j] = items.item_idx(r["item_id"])
    keep = c_user >= 0
    c_user, c_ts, c_item = c_user[keep], c_ts[keep], c_item[keep]
    c_key = (c_user << TS_BITS) | np.minimum(c_ts, TS_MASK)
    order = np.argsort(c_key, kind="stable")
    c_key, c_item, c_ts = c_key[order], c_item[order], c_ts[order]
    start = np.searchsorted(c_key, imp_user << TS_BITS, side="left")
    end = np.searchsorted(c_key, (imp_user << TS_BITS) | np.minimum(imp_ts, TS_MASK), side="left")  # strictly before
    idx = end[:, None] - 1 - np.arange(L)[None, :]  # newest first
    valid = idx >= start[:, None]
    hist_rows = np.zeros((n, L), dtype=np.int32)
    hist_age = np.zeros((n, L), dtype=np.uint8)
    if valid.any():
        vi = np.nonzero(valid)
        hist_rows[vi] = items.as_of(c_item[idx[vi]], imp_ts[vi[0]])
        if spec.age_boundaries_ms:
            hist_age[vi] = age_buckets(imp_ts[vi[0]] - c_ts[idx[vi]], spec.age_boundaries_ms)
    return {
        "user_fields": user_fields,
        "cand_row": cand_row,
        "cand_pos": cand_pos,
        "hist_rows": hist_rows,
        "hist_age": hist_age,
        "label": label,
        "ts_ms": imp_ts,
        "cold": cold,
    }
