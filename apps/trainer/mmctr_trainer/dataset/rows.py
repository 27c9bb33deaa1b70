"""Slots whose values come with each row of a query (an impression, a logged request, a candidate's context),
not from an entity table: the requester's key and the request / candidate context. Columns of the row are read by
the slot's `source` attribute."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..schema import ModelSchema, group_slots, is_aggregate_slot
from ..slots import derive_value, encode_categorical, encode_multi, encode_numeric
from .entities import is_row_slot


def _encoder(schema: ModelSchema, kind: str, slot: Mapping[str, Any]) -> Callable[[Any], Any]:
    if kind == "numeric":
        default = schema.defaults.get(slot["feature"], 0.0)
        return lambda v: encode_numeric(slot, v, default)
    if kind == "multi_categorical":
        return lambda v: encode_multi(slot, v)
    # Categorical values repeat: each distinct one is encoded once (a time once per derived value).
    plain = {k: x for k, x in slot.items() if k != "derive"}
    memo: dict[Any, int] = {None: 0, "": 0}

    def categorical(v: Any) -> int:
        out = memo.get(v)
        if out is None:
            out = memo[v] = encode_categorical(plain, v)
        return out

    if "derive" in slot:
        derive = slot["derive"]
        return lambda v: 0 if v is None or v == "" else categorical(derive_value(derive, v))
    return categorical


class RowSlots:
    """Slots that read row columns; encode(rows) -> {feature: values [n] or [n, max_length]}."""

    def __init__(self, schema: ModelSchema, slots: Sequence[tuple[str, Mapping[str, Any]]], columns: Sequence[str]):
        self.slots: list[tuple[Mapping[str, Any], str, str, Callable[[Any], Any]]] = []
        for kind, slot in slots:
            attr = slot["source"].split(".", 1)[1] if kind != "vector" else None
            if attr is None or attr not in columns or "via" in slot:
                raise ValueError(
                    f"features.{slot['feature']}: each row holds {', '.join(columns)}; "
                    f"'{slot.get('source', slot.get('embedding'))}' is not one of them"
                )
            self.slots.append((slot, kind, attr, _encoder(schema, kind, slot)))

    @staticmethod
    def of(
        schema: ModelSchema, key_source: str, columns: Sequence[str], sides: Sequence[str] = ("user", "cand")
    ) -> RowSlots:
        """The slots of `sides` that read the row, not an entity table: the context and the requester's key
        (`key_source`); aggregate windows are valued apart (AggregateSlots)."""
        groups = {"user": schema.user, "cand": schema.candidate}
        slots = [
            (k, s)
            for p in sides
            for k, s in group_slots(groups[p])
            if is_row_slot(key_source, p, k, s) and not is_aggregate_slot(s)
        ]
        return RowSlots(schema, slots, columns)

    def encode(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
        out = {}
        for slot, kind, attr, enc in self.slots:
            values = np.asarray([enc(r[attr]) for r in rows], dtype=np.float32 if kind == "numeric" else np.int64)
            out[slot["feature"]] = values.reshape(len(rows), *self.shape(slot, kind))
        return out

    @staticmethod
    def shape(slot: Mapping[str, Any], kind: str) -> list[int]:
        return [slot["max_length"]] if kind == "multi_categorical" else []

    def columns(self) -> dict[str, tuple[list[int], str]]:
        """Shape (after the row axis) and dtype of each slot's column."""
        return {
            slot["feature"]: (self.shape(slot, kind), "float32" if kind == "numeric" else "int64")
            for slot, kind, _a, _e in self.slots
        }
