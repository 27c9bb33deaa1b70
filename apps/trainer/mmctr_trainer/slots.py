"""The encoding of each layout slot, the Python twin of the scorer's: every path that builds model inputs (the
training-set builder, the parity check, the golden vectors) encodes a value with these functions.

- categorical hash: bucket(field, value, size) (0 for missing / empty); ints hash as their decimal string, bools as
  'true' / 'false'; `clip` then hash; `derive` hour_of_day_utc / day_of_week_utc (0 = Monday) from the time.
- categorical vocabulary: 1 + index of the value in `vocabulary`, 0 = missing or unknown.
- bucketize: missing -> 0; else clip, then 1 + count of boundaries <= value.
- numeric: missing -> the attribute's default; clip, then none / clip / log1p(max(v, 0)) / (v - mean) / std; float32.
  A standardize without stats (fitted by the trainer) stays the clipped value: the exported graph standardizes.
- categorical hash with `fit`: the value's 64-bit key (features.value_key), not a bucket: training sets hold keys, and
  the model (vocabulary.py) maps each key to its row of the exact vocabulary fitted on the training split.
- multi_categorical: the non-empty values, the first max_length of them hashed with `field`, zero-padded.
- vector: truncated or zero-padded to `width`; zeros when absent.
- sequence entries: newest first; the age bucket is 1 + count of boundaries <= age (0 = empty slot or no time).

`encode_request` encodes a whole request given as raw records (the golden vectors' input format):

    {"ts_ms": int, "user": record, "context": {attr: value}, "joined": {entity: {key: record}},
     "sequences": {name: [record + "ts_ms"]}, "candidates": [record + "context"],
     "aggregates": {"user": {"<aggregation>@<window>": raw}, "candidates": {"<aggregation>@<window>": [raw]}}}

where a record is {"row": {attribute: value}, "vectors": {embedding: [float]}}. An aggregate slot (source
`aggregate.<aggregation>`, with its `window`) reads the raw window value and encodes it as a numeric (or bucketize)
slot reads an attribute; `aggregates` is the score log's field of that name.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .features import age_bucket, cached_bucket, cached_key, fit_vector
from .schema import ModelSchema

Slot = Mapping[str, Any]
Record = Mapping[str, Any]
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


def text_of(value: Any) -> str:
    """The string a categorical value is hashed / looked up as ('' when missing)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _clip(slot: Slot, v: float) -> float:
    if "clip" not in slot:
        return v
    lo, hi = slot["clip"]
    return min(max(v, lo), hi)


def derive_value(name: str, ts_ms: int) -> int:
    if name == "hour_of_day_utc":
        return (int(ts_ms) // HOUR_MS) % 24
    if name == "day_of_week_utc":
        return (int(ts_ms) // DAY_MS + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday (Python's weekday())
    raise ValueError(f"unknown derive '{name}'")


def encode_categorical(slot: Slot, value: Any) -> int:
    if value is None or value == "":
        return 0
    if "derive" in slot:
        value = derive_value(slot["derive"], value)
    if slot["encoding"] == "bucketize":
        return 1 + bisect_right(slot["boundaries"], _clip(slot, float(value)))
    if "clip" in slot:
        value = int(_clip(slot, int(value)))
    text = text_of(value)
    if slot["encoding"] == "hash":
        return cached_key(slot["field"], text) if "fit" in slot else cached_bucket(slot["field"], text, slot["size"])
    vocabulary = slot["vocabulary"]
    return 1 + vocabulary.index(text) if text in vocabulary else 0


def encode_numeric(slot: Slot, value: Any, default: float) -> float:
    v = _clip(slot, default if value is None else float(value))
    transform = slot["transform"]
    if transform == "log1p":
        v = math.log1p(max(v, 0.0))
    elif transform == "standardize" and "stats" in slot:  # without stats: fitted, the graph standardizes
        v = (v - slot["stats"]["mean"]) / slot["stats"]["std"]
    return float(np.float32(v))


def encode_multi(slot: Slot, values: Sequence[Any] | None) -> list[int]:
    texts = [t for t in (text_of(v) for v in values or ()) if t]
    out = [cached_bucket(slot["field"], t, slot["size"]) for t in texts[: slot["max_length"]]]
    return out + [0] * (slot["max_length"] - len(out))


def width_of(group: Mapping[str, Any], kind: str) -> int:
    """Width of a group's input of one kind: slots, or summed lengths / widths for multi / vector."""
    if kind == "multi_categorical":
        return sum(s["max_length"] for s in group[kind])
    if kind == "vector":
        return sum(s["width"] for s in group[kind])
    return len(group[kind])


def empty_inputs(schema: ModelSchema, lead: dict[str, int]) -> dict[str, np.ndarray]:
    """Zero-filled inputs of the layout, with `lead` giving Bu and B."""
    out = {}
    for i in schema.inputs:
        shape = [lead[d] if isinstance(d, str) else d for d in i["shape"]]
        out[i["name"]] = np.zeros(shape, dtype=np.float32 if i["dtype"] == "float32" else np.int64)
    return out


class _Scope:
    """Where a side's slots read their values: the side's own record, the request (or candidate) context and the
    records joined by key."""

    def __init__(
        self,
        own: Record,
        context: Mapping[str, Any],
        ts_ms: int,
        joined: Mapping[str, Any],
        aggregates: Mapping[str, Any] | None = None,
    ):
        self.own, self.context, self.ts_ms, self.joined = own, context, ts_ms, joined
        self.aggregates = aggregates or {}  # "<aggregation>@<window>" -> raw value

    def record(self, slot: Slot, entity: str) -> Record:
        if "via" not in slot:
            return self.own
        key = self.own.get("row", {}).get(slot["via"].split(".", 1)[1])
        return self.joined.get(entity, {}).get(text_of(key), {})

    def value(self, slot: Slot) -> Any:
        ns, attr = slot["source"].split(".", 1)
        if "window" in slot:  # an aggregate feature's window
            return self.aggregates.get(f"{attr}@{slot['window']}")
        if ns == "context":
            return self.ts_ms if attr == "ts_ms" else self.context.get(attr)
        return self.record(slot, ns).get("row", {}).get(attr)

    def vector(self, slot: Slot) -> Any:
        return self.record(slot, slot["entity"]).get("vectors", {}).get(slot["embedding"])


def encode_group(
    schema: ModelSchema, group: Mapping[str, Any], scope: _Scope, out: dict[str, np.ndarray], prefix: str, at: tuple
) -> None:
    """Writes one record's slots into out[<prefix>_<kind>][at]."""
    for i, slot in enumerate(group["categorical"]):
        out[f"{prefix}_cat"][(*at, i)] = encode_categorical(slot, scope.value(slot))
    for i, slot in enumerate(group["numeric"]):
        default = schema.defaults.get(slot["feature"], 0.0)
        out[f"{prefix}_num"][(*at, i)] = encode_numeric(slot, scope.value(slot), default)
    for slot in group["multi_categorical"]:
        span = slice(slot["offset"], slot["offset"] + slot["max_length"])
        out[f"{prefix}_multi"][(*at, span)] = encode_multi(slot, scope.value(slot))
    for slot in group["vector"]:
        span = slice(slot["offset"], slot["offset"] + slot["width"])
        out[f"{prefix}_vec"][(*at, span)] = fit_vector(scope.vector(slot), slot["width"])


def encode_request(schema: ModelSchema, request: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The inputs of one request (user inputs batch 1, candidates batch B) from raw records (module docstring)."""
    ts = int(request.get("ts_ms", 0))
    context = request.get("context", {})
    joined = request.get("joined", {})
    candidates = request.get("candidates", [])
    aggregates = request.get("aggregates", {})
    per_candidate = aggregates.get("candidates", {})
    out = empty_inputs(schema, {"Bu": 1, "B": len(candidates)})
    user = _Scope(request.get("user", {}), context, ts, joined, aggregates.get("user"))
    encode_group(schema, schema.user, user, out, "user", (0,))
    for seq in schema.sequences:
        entries = request.get("sequences", {}).get(seq["name"], [])[: seq["length"]]
        for k, entry in enumerate(entries):
            encode_group(schema, seq, _Scope(entry, context, ts, joined), out, seq["name"], (0, k))
            if "age" in seq and entry.get("ts_ms") is not None:
                out[f"{seq['name']}_age"][0, k] = age_bucket(ts - int(entry["ts_ms"]), seq["age"]["boundaries_ms"])
    for j, c in enumerate(candidates):
        values = {k: v[j] for k, v in per_candidate.items() if j < len(v)}
        encode_group(schema, schema.candidate, _Scope(c, c.get("context", {}), ts, joined, values), out, "cand", (j,))
    return out
