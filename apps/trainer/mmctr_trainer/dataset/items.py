"""The candidate entity's catalogue as of any time: every version of every item, with the encoded value of each
slot that reads the item (the candidate's and every sequence's side features, one column per feature: sequences
share the candidate's) and the row of its vector, found by (item, time) with numpy searchsorted. Shared by the
training-set builder and the parity check, so both see an item exactly as it was at a given time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import store
from ..ch import ClickHouse
from ..features import fit_vector
from ..schema import ModelSchema, group_slots
from ..slots import encode_categorical, encode_multi, encode_numeric

TS_BITS = 42  # ts_ms < 2^42 (year 2109); item index in the high bits
TS_MASK = (1 << TS_BITS) - 1


def item_slots(schema: ModelSchema) -> dict[str, tuple[str, Mapping[str, Any]]]:
    """{feature: (kind, slot)} of the slots that read the candidate entity (candidate side and sequences)."""
    entity = schema.layout["candidate_entity"]
    out: dict[str, tuple[str, Mapping[str, Any]]] = {}
    for s in schema.sequences:
        if s["target"] != entity:
            raise ValueError(f"features.{s['name']}: the training-set builder reads sequences of '{entity}' only")
    for group in (schema.candidate, *schema.sequences):
        for kind, slot in group_slots(group):
            reads = slot["entity"] == entity if kind == "vector" else slot["source"].startswith(entity + ".")
            if not reads:
                continue
            if "via" in slot:
                raise ValueError(f"features.{slot['feature']}: the training-set builder does not join '{slot['via']}'")
            if kind == "vector" and slot["embedding"] != store.ITEM_EMBEDDING:
                raise ValueError(
                    f"features.{slot['feature']}: the training-set builder reads the '{store.ITEM_EMBEDDING}' "
                    f"embedding only, not '{slot['embedding']}'"
                )
            if kind != "vector" and slot["source"].split(".", 1)[1] not in store.ITEM_ATTRIBUTES:
                raise ValueError(
                    f"features.{slot['feature']}: the training-set builder reads the items' "
                    f"{', '.join(store.ITEM_ATTRIBUTES)}; not '{slot['source']}'"
                )
            out[slot["feature"]] = (kind, slot)
    return out


class ItemTable:
    """Item versions as of any time, plus one 'no version yet' row per item (its key only)."""

    def __init__(self, schema: ModelSchema):
        self.schema = schema
        self.slots = item_slots(schema)
        widths = {slot["width"] for kind, slot in self.slots.values() if kind == "vector"}
        self.width = max(widths, default=0)
        self.index: dict[str, int] = {}
        # version rows; row 0 is padding (all zeros)
        self.values: dict[str, list[Any]] = {f: [self._zero(kind, slot)] for f, (kind, slot) in self.slots.items()}
        self.mm_row: list[int] = [0]
        self.pseudo_row: list[int] = []
        self.mm: list[np.ndarray] = [np.zeros(self.width, dtype=np.float32)]
        self.keys = np.zeros(0, dtype=np.int64)
        self.rows = np.zeros(0, dtype=np.int32)
        self.projection_version = ""
        self.vector_mismatch = 0

    @staticmethod
    def _zero(kind: str, slot: Mapping[str, Any]) -> Any:
        return [0] * slot["max_length"] if kind == "multi_categorical" else 0

    def item_idx(self, item_id: str) -> int:
        i = self.index.get(item_id)
        if i is None:
            i = len(self.index)
            if i >= (1 << (63 - TS_BITS)):
                raise OverflowError("too many items for the version index")
            self.index[item_id] = i
            self.pseudo_row.append(self._add_row({"item_id": item_id}, 0))
        return i

    def _add_row(self, row: Mapping[str, Any], mm_row: int) -> int:
        for f, (kind, slot) in self.slots.items():
            if kind == "vector":
                continue
            v = row.get(slot["source"].split(".", 1)[1])
            if kind == "categorical":
                self.values[f].append(encode_categorical(slot, v))
            elif kind == "numeric":
                self.values[f].append(encode_numeric(slot, v, self.schema.defaults.get(f, 0.0)))
            else:
                self.values[f].append(encode_multi(slot, v))
        self.mm_row.append(mm_row)
        return len(self.mm_row) - 1

    def load(self, ch: ClickHouse, projection_version: str | None = None) -> ItemTable:
        pv = projection_version or store.newest_projection_version(ch)
        self.projection_version = pv
        mm_by_content: dict[tuple[str, str], int] = {}
        if self.width:
            for row in store.item_vectors(ch, pv):
                vec = row["v"]
                if len(vec) != self.width:
                    self.vector_mismatch += 1
                mm_by_content[(row["item_id"], row["content_hash"])] = len(self.mm)
                self.mm.append(fit_vector(vec, self.width))
        keys: list[int] = []
        rows: list[int] = []
        for row in store.item_versions(ch):
            idx = self.item_idx(row["item_id"])
            ts = int(row["ts_ms"])
            mm_row = mm_by_content.get((row["item_id"], row["content_hash"]), 0)
            keys.append((idx << TS_BITS) | min(ts, TS_MASK))
            rows.append(self._add_row(row, mm_row))
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
        """f_<feature>: each slot's value per version row; mm_row: the row of its vector in mm."""
        out = {}
        for f, (kind, _slot) in self.slots.items():
            if kind != "vector":
                out[f"f_{f}"] = np.asarray(self.values[f], dtype=np.float32 if kind == "numeric" else np.int64)
        out["mm_row"] = np.asarray(self.mm_row, dtype=np.int32)
        out["mm"] = np.stack(self.mm).astype(np.float32)
        return out


def group_inputs(
    group: Mapping[str, Any],
    prefix: str,
    items: Mapping[str, np.ndarray],
    rows: np.ndarray,
    row_values: Mapping[str, np.ndarray],
    zero_vectors: bool = False,
) -> dict[str, np.ndarray]:
    """A group's inputs for item version rows `rows` ([n] or [n, L]): item slots from the item arrays
    (ItemTable.arrays), the others from `row_values` {feature: [n, ...]}. zero_vectors: vectors are zeros
    (the --no-mm ablation), without gathering them."""
    cols: dict[str, list[np.ndarray]] = {"cat": [], "num": [], "multi": [], "vec": []}

    def value(slot: Mapping[str, Any]) -> np.ndarray:
        key = f"f_{slot['feature']}"
        return items[key][rows] if key in items else np.asarray(row_values[slot["feature"]])

    for kind, suffix in (("categorical", "cat"), ("numeric", "num"), ("multi_categorical", "multi")):
        cols[suffix] = [value(s)[..., None] if kind != "multi_categorical" else value(s) for s in group[kind]]
    for s in group["vector"]:
        if zero_vectors:
            cols["vec"].append(np.zeros((*rows.shape, s["width"]), dtype=np.float32))
        else:
            cols["vec"].append(items["mm"][items["mm_row"][rows]][..., : s["width"]])
    return {f"{prefix}_{k}": np.concatenate(v, -1) if len(v) > 1 else v[0] for k, v in cols.items() if v}
