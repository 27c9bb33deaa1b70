"""Point-in-time values of a repository's aggregations (docs/features.md, "Aggregations"): for each anchor row
(ts_ms and entity keys), the value of every window of every aggregation as of the row's time, counting exactly
the events the online counters' closed buckets hold at that time: `c - W <= ts < c` with `c` the start of the
bucket holding t in the tier that serves the window. The bucket holding t never counts, nor do events at t and
after.

The window is one contiguous time range per key value, so the events are read once per count or sum
aggregation as totals per key value and millisecond (store.aggregate_event_totals; ClickHouse 18.16 has no
window functions and no ASOF JOIN), turned into prefix sums over (key value, ts_ms), and each window is the
difference of two searchsorted lookups (at c and c - W), so one read serves every tier and window.

A composite key (`["user", "item.category"]`) reads the other entity's attribute as of each event's time (the
newest version at or before it, as ingest reads the entity's hash when it counts the event) and, for an anchor,
as of the anchor's time; an entity without a version then reads the attribute's default (else its type's
zero), written as text like the online counter keys (strings as they are, ints and bools as JSON)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from .. import store
from ..aggregates import aggregation_op, duration_ms, tier_for
from ..ch import ClickHouse
from ..feature_repo import FeatureRepo
from ..schema import ModelSchema
from ..slots import text_of
from .entities import EntityTable

Anchors = Mapping[str, Sequence[Any] | np.ndarray]


@dataclass(frozen=True)
class KeyPart:
    """One element of an aggregation key: the event (and anchor) column holding an entity's key and, for the
    second element of a composite key, the attribute of that entity it reads (None: the key itself)."""

    column: str
    entity: str
    attribute: str | None = None
    fallback: str = ""


def key_parts(repo: FeatureRepo, a: Mapping[str, Any]) -> list[KeyPart]:
    """The parts of an aggregation's key, as ingest builds its counter keys (libs/aggregates counter-layout)."""
    parts = []
    for ref in a["key"]:
        entity_name, _, attribute = ref.partition(".")
        entity = next(e for e in repo.entities if e["name"] == entity_name)
        if not attribute or attribute == entity["key"]:
            parts.append(KeyPart(entity["key"], entity_name))
            continue
        declared = next((x for x in entity.get("attributes", ()) if x["name"] == attribute), {})
        zero = {"int": 0, "bool": False}.get(declared.get("type"), "")
        # text_of writes a value as the counter keys do: strings as they are, ints and bools as JSON
        parts.append(KeyPart(entity["key"], entity_name, attribute, text_of(declared.get("default", zero))))
    return parts


class _Attributes:
    """Entity attributes as of any time, from the entity-version tables (one table per entity and attribute)."""

    def __init__(self, ch: ClickHouse, repo: FeatureRepo):
        self.ch, self.entities = ch, {e["name"]: e for e in repo.entities}
        self.tables: dict[tuple[str, str], EntityTable] = {}

    def texts(self, part: KeyPart, keys: Sequence[Any], ts_ms: np.ndarray) -> list[str]:
        """The part's text for each entity key as of each time."""
        if part.attribute is None:
            return [str(k) for k in keys]
        table = self._table(part.entity, part.attribute)
        idx = table.idx_of([str(k) for k in keys])
        rows, pseudo = table.as_of(idx, ts_ms), np.asarray(table.pseudo_row, dtype=np.int32)[idx]
        values = table.link_keys[part.attribute]
        return [
            part.fallback if r == p else cast(str, values[r])
            for r, p in zip(rows.tolist(), pseudo.tolist(), strict=True)
        ]

    def _table(self, entity: str, attribute: str) -> EntityTable:
        table = self.tables.get((entity, attribute))
        if table is None:
            # No slots: the table only keeps the attribute's text per version (a "link"), the schema is unused.
            table = EntityTable(cast(ModelSchema, None), self.entities[entity], {}, [attribute]).load(self.ch)
            self.tables[(entity, attribute)] = table
        return table


def _key_ids(
    parts: Sequence[KeyPart], columns: Anchors, ts_ms: np.ndarray, attrs: _Attributes
) -> list[tuple[str, ...]]:
    """Each row's key value as a tuple of texts."""
    texts = [attrs.texts(p, columns[p.column], ts_ms) for p in parts]
    return list(zip(*texts, strict=True)) if texts else [() for _ in range(len(ts_ms))]


class _Counted:
    """A count or sum aggregation's event totals as prefix sums over (key value, ts_ms)."""

    def __init__(self, ch: ClickHouse, repo: FeatureRepo, a: Mapping[str, Any], attrs: _Attributes):
        self.a, self.parts = a, key_parts(repo, a)
        self.ids: dict[tuple[str, ...], int] = {}
        kid, ts, totals = self._read(ch, repo, attrs)
        # (key value, time) packed in one int64: the time relative to the first event, in just enough bits
        self.lo = int(ts.min()) if len(ts) else 0
        self.span = int(ts.max()) - self.lo + 1 if len(ts) else 0
        self.bits = self.span.bit_length()
        if len(self.ids) >= 1 << (63 - self.bits):
            raise OverflowError(f"aggregations.{a['name']}: too many key values ({len(self.ids)}) for its time span")
        packed = self._pack(kid, ts)
        order = np.argsort(packed, kind="stable")
        self.packed = packed[order]
        self.cum = np.concatenate([[0.0], np.cumsum(totals[order])])

    def _read(self, ch: ClickHouse, repo: FeatureRepo, attrs: _Attributes) -> tuple[np.ndarray, ...]:
        """The events' totals per key value and ms: key value ids (numbering self.ids), ts_ms, totals."""
        a, columns = self.a, [p.column for p in self.parts]
        total = a["op"]["sum"] if aggregation_op(a) == "sum" else None
        table = store.EventSource.of(repo).table
        rows = store.aggregate_event_totals(ch, table, a["source"], columns, list(a.get("filter", {}).items()), total)
        ts = np.fromiter((int(r["ts_ms"]) for r in rows), dtype=np.int64, count=len(rows))
        keys = _key_ids(self.parts, {c: [r[c] for r in rows] for c in columns}, ts, attrs)
        kid = np.fromiter((self.ids.setdefault(k, len(self.ids)) for k in keys), dtype=np.int64, count=len(rows))
        return kid, ts, np.fromiter((float(r["total"]) for r in rows), dtype=np.float64, count=len(rows))

    def anchor_ids(self, anchors: Anchors, ts_ms: np.ndarray, attrs: _Attributes) -> np.ndarray:
        """Each anchor's key value id (-1: a key value no event has)."""
        for p in self.parts:
            if p.column not in anchors:
                raise ValueError(f"aggregations.{self.a['name']}: the anchors have no column '{p.column}'")
        keys = _key_ids(self.parts, anchors, ts_ms, attrs)
        return np.fromiter((self.ids.get(k, -1) for k in keys), dtype=np.int64, count=len(ts_ms))

    def _pack(self, kid: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Before the first event nothing counts, after the last one everything: clipping t keeps that."""
        return (kid << self.bits) | np.clip(t - self.lo, 0, self.span)

    def before(self, kid: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The total of each key value's events with ts < t."""
        q = self._pack(np.maximum(kid, 0), t)
        return np.where(kid >= 0, self.cum[np.searchsorted(self.packed, q, side="left")], 0.0)

    def window(self, kid: np.ndarray, ts_ms: np.ndarray, window: str) -> np.ndarray:
        """The window's value as of each anchor time: the events with c - W <= ts < c (closed buckets only)."""
        w = duration_ms(window)
        b = duration_ms(tier_for(w, self.a["granularity"])["bucket"])
        c = ts_ms // b * b
        return self.before(kid, c) - self.before(kid, c - w)


def _anchor_times(anchors: Anchors) -> np.ndarray:
    if "ts_ms" not in anchors:
        raise ValueError("the anchors have no column 'ts_ms'")
    ts = np.asarray(anchors["ts_ms"], dtype=np.int64)
    for name, col in anchors.items():
        if len(col) != len(ts):
            raise ValueError(f"anchor column '{name}' has {len(col)} rows, ts_ms has {len(ts)}")
    return ts


class AggregateReader:
    """Aggregations read once, valued as of the anchors of any number of calls (the training-set builder's user
    buckets, the parity check's requests): each count or sum aggregation's events are read when a window of it
    is first asked for, the entity attributes of composite keys as they are first needed."""

    def __init__(self, ch: ClickHouse, repo: FeatureRepo, names: Iterable[str] | None = None):
        """`names`: the aggregations `windows` returns (default: all, in declaration order)."""
        self.ch, self.repo = ch, repo
        self.by_name = {a["name"]: a for a in repo.aggregations}
        self.names = list(self.by_name) if names is None else list(names)
        for name in self.names:
            if name not in self.by_name:
                raise ValueError(f"unknown aggregation '{name}'")
        self.attrs = _Attributes(ch, repo)
        self.counted: dict[str, _Counted] = {}

    def _counted(self, name: str) -> _Counted:
        c = self.counted.get(name)
        if c is None:
            c = self.counted[name] = _Counted(self.ch, self.repo, self.by_name[name], self.attrs)
        return c

    def windows(self, anchors: Anchors) -> dict[str, np.ndarray]:
        """{aggregation name: float64 [n, windows]}: the untransformed value of each window (in declaration
        order) as of each anchor's ts_ms; a ratio is smoothed, with its default where the smoothed denominator
        is 0."""
        ts = _anchor_times(anchors)
        ids: dict[str, np.ndarray] = {}

        def window(name: str, w: str) -> np.ndarray:
            c = self._counted(name)
            if name not in ids:
                ids[name] = c.anchor_ids(anchors, ts, self.attrs)
            return c.window(ids[name], ts, w)

        out = {}
        for name in self.names:
            a = self.by_name[name]
            if aggregation_op(a) == "ratio":
                num, den = a["op"]["ratio"]
                smoothing, default = a["op"].get("smoothing", (0, 0)), a.get("default", 0)
                cols = [_ratio(window(num, w), window(den, w), smoothing, default) for w in a["windows"]]
            else:
                cols = [window(name, w) for w in a["windows"]]
            out[name] = np.stack(cols, axis=1) if cols else np.zeros((len(ts), 0))
        return out


def aggregate_windows(ch: ClickHouse, repo: FeatureRepo, anchors: Anchors) -> dict[str, np.ndarray]:
    """{aggregation name: float64 [n, windows]}: the untransformed value of each window (in declaration order)
    as of each anchor's ts_ms; a ratio is smoothed, with its default where the smoothed denominator is 0."""
    return AggregateReader(ch, repo).windows(anchors)


def _ratio(num: np.ndarray, den: np.ndarray, smoothing: Sequence[float], default: float) -> np.ndarray:
    """aggregates.smoothed_ratio on arrays."""
    a, b = smoothing
    d = den + b
    return np.where(d == 0, float(default), (num + a) / np.where(d == 0, 1.0, d))


def transform(a: Mapping[str, Any], v: np.ndarray) -> np.ndarray:
    """The declaration's transform of raw values, as for numeric features: clip first, then none / clip /
    log1p(max(v, 0)) / standardize / bucketize (1 + the number of boundaries <= v); float32."""
    if "clip" in a:
        v = np.clip(v, *a["clip"])
    kind = a.get("transform", "none")
    if kind == "log1p":
        v = np.log1p(np.maximum(v, 0.0))
    elif kind == "standardize":
        v = (v - a["stats"]["mean"]) / a["stats"]["std"]
    elif kind == "bucketize":
        v = 1 + np.searchsorted(np.asarray(a["boundaries"], dtype=np.float64), v, side="right")
    return np.asarray(v, dtype=np.float32)


def aggregate_columns(ch: ClickHouse, repo: FeatureRepo, anchors: Anchors) -> dict[str, np.ndarray]:
    """{aggregation name: float32 [n, windows]}: each window's value as of each anchor row, transformed as the
    declaration says. `anchors` holds ts_ms and the key columns the aggregations read (e.g. user_id, item_id)."""
    by_name = {a["name"]: a for a in repo.aggregations}
    return {name: transform(by_name[name], v) for name, v in aggregate_windows(ch, repo, anchors).items()}
