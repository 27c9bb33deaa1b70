"""The item catalogue as of any time: every version of every item (category, tags, fused vector of that
version's content_hash) in one table, found by (item, time) with numpy searchsorted. Shared by the
training-set builder and the parity check, so both see an item exactly as it was at a given time."""

from __future__ import annotations

import numpy as np

from .. import store
from ..ch import ClickHouse
from ..features import TAG_SLOTS, FeatureSpec, cached_bucket, encode_tags, fit_vector

TS_BITS = 42  # ts_ms < 2^42 (year 2109); item index in the high bits
TS_MASK = (1 << TS_BITS) - 1


class ItemTable:
    """Item versions as of any time, plus one 'no version yet' row per item (hashed id only)."""

    def __init__(self, spec: FeatureSpec):
        self.spec = spec
        self.index: dict[str, int] = {}
        self.first_imp_ms: list[int] = []
        # version rows; row 0 is padding (all zeros)
        self.hash_id: list[int] = [0]
        self.cat: list[int] = [0]
        self.tags: list[list[int]] = [[0] * TAG_SLOTS]
        self.mm_row: list[int] = [0]
        self.pseudo_row: list[int] = []
        self.mm: list[np.ndarray] = [np.zeros(spec.mm_dim, dtype=np.float32)]
        self.keys = np.zeros(0, dtype=np.int64)
        self.rows = np.zeros(0, dtype=np.int32)
        self.projection_version = ""
        self.vector_mismatch = 0

    def item_idx(self, item_id: str) -> int:
        i = self.index.get(item_id)
        if i is None:
            i = len(self.index)
            if i >= (1 << (63 - TS_BITS)):
                raise OverflowError("too many items for the version index")
            self.index[item_id] = i
            self.first_imp_ms.append(-1)
            self.pseudo_row.append(self._add_row(item_id, "", [], 0))
        return i

    def _add_row(self, item_id: str, category: str, tags: list[str], mm_row: int) -> int:
        self.hash_id.append(cached_bucket("item_id", item_id, self.spec.item_buckets))
        self.cat.append(cached_bucket("category", category or "", self.spec.category_buckets))
        self.tags.append(encode_tags(self.spec, tags))
        self.mm_row.append(mm_row)
        return len(self.hash_id) - 1

    def load(self, ch: ClickHouse, projection_version: str | None = None) -> ItemTable:
        pv = projection_version if projection_version is not None else self.spec.projection_version
        if not pv:
            pv = store.newest_projection_version(ch)
        self.projection_version = pv
        mm_by_content: dict[tuple[str, str], int] = {}
        for row in store.item_vectors(ch, pv):
            vec = row["v"]
            if len(vec) != self.spec.mm_dim:
                self.vector_mismatch += 1
            mm_by_content[(row["item_id"], row["content_hash"])] = len(self.mm)
            self.mm.append(fit_vector(vec, self.spec.mm_dim))
        keys: list[int] = []
        rows: list[int] = []
        for row in store.item_versions(ch):
            idx = self.item_idx(row["item_id"])
            ts = int(row["ts_ms"])
            mm_row = mm_by_content.get((row["item_id"], row["content_hash"]), 0)
            keys.append((idx << TS_BITS) | min(ts, TS_MASK))
            rows.append(self._add_row(row["item_id"], row["category"], row["tags"], mm_row))
        order = np.argsort(np.asarray(keys, dtype=np.int64), kind="stable")
        self.keys = np.asarray(keys, dtype=np.int64)[order]
        self.rows = np.asarray(rows, dtype=np.int32)[order]
        return self

    def as_of(self, item_idx: np.ndarray, ts_ms: np.ndarray) -> np.ndarray:
        """Version row of each item as of each time (newest ts_ms <= t), else its pseudo row."""
        item_idx = item_idx.astype(np.int64)
        q = (item_idx << TS_BITS) | np.minimum(ts_ms.astype(np.int64), TS_MASK)
        pos = np.searchsorted(self.keys, q, side="right") - 1
        pseudo = np.asarray(self.pseudo_row, dtype=np.int32)[item_idx]
        if len(self.keys) == 0:
            return pseudo
        posc = np.maximum(pos, 0)
        hit = (pos >= 0) & ((self.keys[posc] >> TS_BITS) == item_idx)
        return np.where(hit, self.rows[posc], pseudo).astype(np.int32)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "hash_id": np.asarray(self.hash_id, dtype=np.int64),
            "cat": np.asarray(self.cat, dtype=np.int64),
            "tags": np.asarray(self.tags, dtype=np.int64).reshape(-1, TAG_SLOTS),
            "mm_row": np.asarray(self.mm_row, dtype=np.int32),
            "mm": np.stack(self.mm).astype(np.float32),
        }
