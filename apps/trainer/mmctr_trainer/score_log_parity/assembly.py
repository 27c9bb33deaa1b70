"""Rebuilding the model inputs of a logged request: the logged row, the item features as of the request time
(ItemLookup over the training-set builder's ItemTable) and the slot encodings the scorer's assembler does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..dataset import TS_BITS, ItemTable
from ..dataset.items import group_inputs
from ..dataset.rows import RowSlots
from ..features import age_buckets
from ..schema import ModelSchema, group_slots


class ItemLookup:
    """Item rows of an `ItemTable` as of given times, plus the diagnostics that explain a mismatch."""

    def __init__(self, items: ItemTable):
        self.items = items
        self.arr = items.arrays()
        self.n_catalogue = n_items = len(items.index)  # items added later are unknown to the catalogue
        self.latest = np.zeros(n_items, dtype=np.int32)
        if len(items.keys):
            owner = items.keys >> TS_BITS
            last = np.r_[owner[1:] != owner[:-1], True]
            self.latest[owner[last]] = items.rows[last]

    def rows(self, ids: Sequence[str], ts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Version row per (id, t) (an item unknown to the catalogue gets a row with its key only, as the scorer
        encodes it), whether it is unknown, and whether the catalogue changed the item's features after t (the
        scorer may then have served a newer version)."""
        idx = np.fromiter((self.items.item_idx(i) for i in ids), dtype=np.int64, count=len(ids))
        known = idx < self.n_catalogue
        if len(self.items.mm_row) != len(self.arr["mm_row"]):
            self.arr = self.items.arrays()  # unknown items added their rows
        rows = self.items.as_of(idx, ts)
        changed = np.zeros(len(ids), dtype=bool)
        if known.any():
            r, latest = rows[known], self.latest[idx[known]]
            for name, a in self.arr.items():
                if name != "mm":  # per-row columns: each slot's value and the vector's row
                    changed[known] |= (a[r] != a[latest]).reshape(len(r), -1).any(axis=1)
        return rows, ~known, changed


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


# The columns of a logged request that features may read (the requester's key and the request context), and of
# each logged candidate (its context).
REQUEST_COLUMNS = ("user_id", "ts_ms", "device", "placement", "country")
CANDIDATE_COLUMNS = ("position",)


class LoggedEncoder:
    """The layout's inputs of logged requests (user inputs batch 1, candidates batch B) — what the scorer's
    assembler fed: request slots from the logged row, item slots from the catalogue as of the request, the
    candidates' positions."""

    def __init__(self, schema: ModelSchema, lookup: ItemLookup):
        if len(schema.sequences) > 1:
            raise ValueError(f"score_log records one history; the layout has {len(schema.sequences)} sequences")
        self.schema, self.lookup = schema, lookup
        item = lookup.items.slots
        self.user = RowSlots(schema, list(group_slots(schema.user)), REQUEST_COLUMNS)
        cand = [(k, s) for k, s in group_slots(schema.candidate) if s["feature"] not in item]
        self.cand = RowSlots(schema, cand, CANDIDATE_COLUMNS)

    def encode(self, row: LoggedRow, hist_rows: np.ndarray, cand_rows: np.ndarray) -> dict[str, np.ndarray]:
        a = self.lookup.arr
        request = {c: getattr(row, c) for c in REQUEST_COLUMNS}
        out = group_inputs(self.schema.user, "user", a, np.zeros(1, np.int32), self.user.encode([request]))
        positions = [{"position": p} for p in row.positions]
        out.update(group_inputs(self.schema.candidate, "cand", a, cand_rows, self.cand.encode(positions)))
        for seq in self.schema.sequences:
            L = seq["length"]
            n = min(L, len(hist_rows))
            rows = np.zeros((1, L), dtype=np.int32)
            rows[0, :n] = hist_rows[:n]
            out.update(group_inputs(seq, seq["name"], a, rows, {}))
            if "age" in seq:
                age = np.zeros((1, L), dtype=np.int64)
                k = min(n, len(row.history_ts_ms))
                if k:
                    ages = row.ts_ms - np.asarray(row.history_ts_ms[:k], dtype=np.int64)
                    age[0, :k] = age_buckets(ages, seq["age"]["boundaries_ms"])
                out[f"{seq['name']}_age"] = age
        return {n: np.ascontiguousarray(out[n]) for n in self.schema.input_names}
