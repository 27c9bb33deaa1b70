"""Rebuilding the serving tensors of a logged request: the logged row, the item features as of the request
time (ItemLookup over the training-set builder's ItemTable) and the encoding the scorer's FeatureAssembler
does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..dataset import TS_BITS, ItemTable
from ..features import FeatureSpec, age_buckets, cached_bucket, encode_user_fields, position_value, user_tensors


class ItemLookup:
    """Item rows of an `ItemTable` as of given times, plus the diagnostics that explain a mismatch."""

    def __init__(self, items: ItemTable):
        self.items = items
        self.arr = items.arrays()
        self.item_buckets = items.spec.item_buckets
        n_items = len(items.index)
        self.latest = np.zeros(n_items, dtype=np.int32)
        if len(items.keys):
            owner = items.keys >> TS_BITS
            last = np.r_[owner[1:] != owner[:-1], True]
            self.latest[owner[last]] = items.rows[last]

    def rows(self, ids: Sequence[str], ts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Version row per (id, t) (0 = unknown item), hashed id, and whether the catalogue changed the
        item's features after t (the scorer may then have served a newer version)."""
        idx = np.fromiter((self.items.index.get(i, -1) for i in ids), dtype=np.int64, count=len(ids))
        known = idx >= 0
        rows = np.zeros(len(ids), dtype=np.int32)
        changed = np.zeros(len(ids), dtype=bool)
        if known.any():
            r = self.items.as_of(idx[known], ts[known])
            rows[known] = r
            latest = self.latest[idx[known]]
            a = self.arr
            changed[known] = (
                (a["cat"][r] != a["cat"][latest])
                | (a["mm_row"][r] != a["mm_row"][latest])
                | (a["tags"][r] != a["tags"][latest]).any(axis=1)
            )
        hid = self.arr["hash_id"][rows].copy()
        for j in np.flatnonzero(~known):
            hid[j] = cached_bucket("item_id", ids[j], self.item_buckets)
        return rows, hid, changed


@dataclass
class LoggedRow:
    request_id: str
    ts_ms: int
    user_id: str
    device: str
    placement: str
    country: str
    history_item_ids: list[str]
    item_ids: list[str]
    positions: list[int]
    ctrs: list[float]
    degraded: bool
    feature_spec_version: str = ""
    model_version: str = ""
    history_ts_ms: list[int] = field(default_factory=list)  # click times (fs-2); empty from an older scorer

    @staticmethod
    def from_json(r: dict[str, Any]) -> LoggedRow:
        return LoggedRow(
            request_id=str(r["request_id"]),
            ts_ms=int(r["ts_ms"]),
            user_id=str(r["user_id"]),
            device=str(r.get("device") or ""),
            placement=str(r.get("placement") or ""),
            country=str(r.get("country") or ""),
            history_item_ids=[str(x) for x in r.get("history_item_ids") or []],
            item_ids=[str(x) for x in r.get("item_ids") or []],
            positions=[int(x) for x in r.get("positions") or []],
            ctrs=[float(x) for x in r.get("ctrs") or []],
            degraded=bool(int(r.get("degraded") or 0)),
            feature_spec_version=str(r.get("feature_spec_version") or ""),
            model_version=str(r.get("model_version") or ""),
            history_ts_ms=[int(x) for x in r.get("history_ts_ms") or []],
        )


def encode_logged(
    spec: FeatureSpec,
    lookup: ItemLookup,
    row: LoggedRow,
    hist: tuple[np.ndarray, np.ndarray],
    cand: tuple[np.ndarray, np.ndarray],
) -> dict[str, np.ndarray]:
    """The serving tensors of one logged request (user inputs batch 1, candidates batch B), from its item
    version rows / hashed ids (ItemLookup.rows) — the same layout the scorer's FeatureAssembler writes."""
    L, D = spec.history_length, spec.mm_dim
    a = lookup.arr
    user_fields = np.array(
        [encode_user_fields(spec, row.user_id, row.device, row.placement, row.country, row.ts_ms)], dtype=np.int64
    )
    u = user_tensors(spec, user_fields)
    h_rows, h_hid = hist
    n = min(L, len(h_rows))
    if n:
        hr = h_rows[:n]
        u["hist_ids"][0, :n] = h_hid[:n]
        u["hist_cat"][0, :n] = a["cat"][hr]
        u["hist_tags"][0, :n] = a["tags"][hr]
        u["hist_mm"][0, :n] = _vectors(a, hr, D)
    k = min(n, len(row.history_ts_ms))
    if k and spec.age_boundaries_ms:
        u["hist_age"][0, :k] = age_buckets(
            row.ts_ms - np.asarray(row.history_ts_ms[:k], dtype=np.int64), spec.age_boundaries_ms
        )
    c_rows, c_hid = cand
    pos_f = spec.candidate_field("position")
    pos = np.fromiter(
        (cached_bucket(pos_f.name, position_value(p, pos_f.clip), pos_f.buckets) for p in row.positions),
        dtype=np.int64,
        count=len(row.positions),
    )
    return {
        **u,
        "cand_fields": np.ascontiguousarray(np.stack([c_hid.astype(np.int64), a["cat"][c_rows], pos], axis=1)),
        "cand_tags": np.ascontiguousarray(a["tags"][c_rows]),
        "cand_mm": _vectors(a, c_rows, D),
    }


def _vectors(a: dict[str, np.ndarray], rows: np.ndarray, D: int) -> np.ndarray:
    mm = a["mm"][a["mm_row"][rows]]
    if mm.shape[1] != D:  # the table is already fitted to the spec's D; kept for a foreign table
        out = np.zeros((len(rows), D), dtype=np.float32)
        k = min(D, mm.shape[1])
        out[:, :k] = mm[:, :k]
        return out
    return np.ascontiguousarray(mm, dtype=np.float32)
