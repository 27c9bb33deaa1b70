"""The layout's aggregate slots (an aggregate feature's windows, docs/features.md): each reads the raw window
value of its aggregation as of the row's time (aggregate_values.AggregateReader offline, the score log's
`aggregates` at parity) and encodes it as the scorer does: a numeric slot clips then applies none / clip /
log1p(max(v, 0)) and rounds to float32 (slots.encode_numeric), a bucketize slot clips then takes
1 + the number of boundaries <= v (slots.encode_categorical). A missing value (NaN) reads as a numeric slot's
default (0) or the bucketize id 0, as the scalar encoders read None."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..ch import ClickHouse
from ..feature_repo import FeatureRepo
from ..schema import ModelSchema, group_slots, is_aggregate_slot, slot_key
from .aggregate_values import AggregateReader, Anchors


def value_key(slot: Mapping[str, Any]) -> str:
    """`<aggregation>@<window>`: how the score log names the raw value a slot reads."""
    return f"{slot['source'].split('.', 1)[1]}@{slot['window']}"


def encode_values(slot: Mapping[str, Any], kind: str, raw: np.ndarray, default: float = 0.0) -> np.ndarray:
    """A slot's encoding of raw window values [n] (float64): float32 for a numeric slot, int64 ids for bucketize."""
    v = np.asarray(raw, dtype=np.float64)
    missing = np.isnan(v)
    if kind == "numeric":
        v = np.where(missing, default, v)
    if "clip" in slot:
        v = np.clip(v, *slot["clip"])
    if kind == "categorical":  # bucketize
        ids = 1 + np.searchsorted(np.asarray(slot["boundaries"], dtype=np.float64), v, side="right")
        return np.where(missing, 0, ids).astype(np.int64)
    if slot["transform"] == "log1p":
        v = np.log1p(np.maximum(v, 0.0))
    return v.astype(np.float32)


class AggregateSlots:
    """The aggregate slots of some sides of a layout: the raw values they read and their encodings, keyed by
    schema.slot_key (`item_ctr@24h`) like the row slots' columns."""

    def __init__(self, schema: ModelSchema, sides: Sequence[str] = ("user", "cand")):
        groups = {"user": schema.user, "cand": schema.candidate}
        self.schema = schema
        self.slots = [(k, s) for p in sides for k, s in group_slots(groups[p]) if is_aggregate_slot(s)]

    def __bool__(self) -> bool:
        return bool(self.slots)

    def aggregations(self) -> list[str]:
        """The aggregations the slots read, in slot order."""
        return list(dict.fromkeys(s["source"].split(".", 1)[1] for _k, s in self.slots))

    def reader(self, ch: ClickHouse, repo: FeatureRepo) -> AggregateReader:
        return AggregateReader(ch, repo, self.aggregations())

    def raw(self, reader: AggregateReader, anchors: Anchors) -> dict[str, np.ndarray]:
        """{`<aggregation>@<window>`: float64 [n]} as of each anchor's ts_ms (its key columns as the events')."""
        out: dict[str, np.ndarray] = {}
        for name, values in reader.windows(anchors).items():
            for i, w in enumerate(reader.by_name[name]["windows"]):
                out[f"{name}@{w}"] = values[:, i]
        return {value_key(s): out[value_key(s)] for _k, s in self.slots}

    def encode(self, raw: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """{slot key: encoded [n]} from the raw values by `<aggregation>@<window>`."""
        return {
            slot_key(s): encode_values(s, k, raw[value_key(s)], self.schema.defaults.get(s["feature"], 0.0))
            for k, s in self.slots
        }

    def columns(self) -> dict[str, tuple[list[int], str]]:
        """Shape (after the row axis) and dtype of each slot's column."""
        return {slot_key(s): ([], "float32" if k == "numeric" else "int64") for k, s in self.slots}
