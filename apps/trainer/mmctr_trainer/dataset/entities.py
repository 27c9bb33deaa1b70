"""Entities as of any time: every version of every entity the layout reads (the candidate, the requester, each
sequence's target and the entities joined `via` a key attribute), with the encoded value of each slot that reads
it, found by (key, time) with numpy searchsorted. Shared by the training-set builder and the parity check, so
both see an entity exactly as it was at a given time.

A side of the layout (the user inputs, the candidate's, each sequence's) reads its own entity's version as of t;
a slot joined via `ad.advertiser_id` reads the advertiser's version as of t whose key is the advertiser_id of
that ad version. Row 0 of every table is padding (all zeros: empty sequence slots); an entity without a version
as of t reads its pseudo row (its key and the attributes' declared defaults)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import store
from ..ch import ClickHouse
from ..embeddings import StoredEmbedding, array_names, reads_stored, stored_embedding
from ..feature_repo import FeatureRepo
from ..features import fit_vector
from ..schema import ModelSchema, group_slots, is_aggregate_slot, slot_key
from ..slots import encode_categorical, encode_multi, encode_numeric, text_of

TS_BITS = 42  # ts_ms < 2^42 (year 2109); entity index in the high bits
TS_MASK = (1 << TS_BITS) - 1

Slots = dict[str, tuple[str, Mapping[str, Any]]]  # feature -> (kind, slot)
Arrays = Mapping[str, np.ndarray]


def slot_entity(kind: str, slot: Mapping[str, Any]) -> str | None:
    """The entity a slot reads (the joined one for a `via` slot); None for the context and aggregate windows."""
    if is_aggregate_slot(slot):
        return None
    if kind == "vector":
        return slot["entity"]
    ns = slot["source"].split(".", 1)[0]
    return None if ns == "context" else ns


def slot_attribute(slot: Mapping[str, Any]) -> str:
    return slot["source"].split(".", 1)[1]


@dataclass
class SidePlan:
    """One side of the layout: its group, the input prefix, the entity its rows are versions of, the column
    holding those rows in a training set (None: the side reads no table) and the entities it joins, each by
    the link attribute of its own entity."""

    prefix: str
    group: Mapping[str, Any]
    entity: str
    rows_column: str | None
    joins: dict[str, str] = field(default_factory=dict)

    def column(self, entity: str) -> str:
        """The training-set column of the rows this side reads of `entity`."""
        return self.rows_column if entity == self.entity else f"{self.prefix}_{entity}_rows"  # type: ignore[return-value]


def requester_key_source(repo: FeatureRepo, schema: ModelSchema) -> str:
    """The source of the requester's key (`user.user_id`): it comes with every row, never from a table."""
    entity = schema.layout["request_entity"]
    return f"{entity}.{next(e['key'] for e in repo.entities if e['name'] == entity)}"


def is_row_slot(key_source: str, prefix: str, kind: str, slot: Mapping[str, Any]) -> bool:
    """Whether a slot reads the query's row (the context, an aggregate window as of the row's time, or the
    requester's key on the user side), not a table."""
    if slot_entity(kind, slot) is None:
        return True
    return prefix == "user" and kind != "vector" and slot["source"] == key_source and "via" not in slot


class EntityTable:
    """Versions of one entity as of any time, plus one 'no version yet' row per key (its key only)."""

    def __init__(
        self,
        schema: ModelSchema,
        entity: Mapping[str, Any],
        slots: Slots,
        links: Sequence[str],
        embedding: StoredEmbedding | None = None,
    ):
        self.schema, self.name, self.key, self.table = schema, entity["name"], entity["key"], entity.get("table")
        # the embedding whose vectors this table holds (its vector slots read only that one)
        self.embedding = embedding
        self.slots, self.links = slots, tuple(links)
        # what an entity without a version as of t reads: its key and the declared defaults
        self.defaults = {a["name"]: a["default"] for a in entity.get("attributes", ()) if "default" in a}
        self.bools = {a["name"] for a in entity.get("attributes", ()) if a["type"] == "bool"}  # stored as UInt8
        vectors = [s for k, s in slots.values() if k == "vector"]
        self.vectors = bool(vectors) and embedding is not None
        self.width = max((s["width"] for s in vectors), default=0)
        self.index: dict[str, int] = {}
        # version rows; row 0 is padding (all zeros)
        self.values: dict[str, list[Any]] = {f: [_zero(kind, slot)] for f, (kind, slot) in slots.items()}
        self.link_keys: dict[str, list[str | None]] = {a: [None] for a in self.links}
        self._link_idx: dict[str, list[int]] = {a: [] for a in self.links}
        self.mm_row: list[int] = [0]
        self.pseudo_row: list[int] = []
        self.mm: list[np.ndarray] = [np.zeros(self.width, dtype=np.float32)]
        self.keys = np.zeros(0, dtype=np.int64)
        self.rows = np.zeros(0, dtype=np.int32)
        self.projection_version = ""
        self.vector_mismatch = 0

    def idx(self, key: str) -> int:
        """The entity's index (a key seen for the first time gets its pseudo row)."""
        i = self.index.get(key)
        if i is None:
            i = len(self.index)
            if i >= (1 << (63 - TS_BITS)):
                raise OverflowError(f"too many {self.name} keys for the version index")
            self.index[key] = i
            self.pseudo_row.append(self._add_row({**self.defaults, self.key: key}, 0))
        return i

    def idx_of(self, keys: Sequence[str]) -> np.ndarray:
        return np.fromiter((self.idx(k) for k in keys), dtype=np.int64, count=len(keys))

    def _add_row(self, row: Mapping[str, Any], mm_row: int) -> int:
        row = {k: bool(int(v)) if k in self.bools and v is not None else v for k, v in row.items()}
        for f, (kind, slot) in self.slots.items():
            if kind == "vector":
                continue
            v = row.get(slot_attribute(slot))
            if kind == "categorical":
                self.values[f].append(encode_categorical(slot, v))
            elif kind == "numeric":
                self.values[f].append(encode_numeric(slot, v, self.schema.defaults.get(f, 0.0)))
            else:
                self.values[f].append(encode_multi(slot, v))
        for a in self.links:
            self.link_keys[a].append(text_of(row.get(a)))
        self.mm_row.append(mm_row)
        return len(self.mm_row) - 1

    def _columns(self) -> list[str]:
        attrs = [slot_attribute(s) for k, s in self.slots.values() if k != "vector"]
        if not self.vectors or self.embedding is None:
            content: list[str] = []
        elif self.embedding.store == "catalogue":
            content = [store.CONTENT_HASH]
        else:
            content = [a for a, _kind, _fallback in self.embedding.inputs]
        return list(dict.fromkeys([*attrs, *self.links, *content]))

    def _content_hash(self, row: Mapping[str, Any]) -> str:
        """What a version's vector is keyed by: the catalogue's content_hash column, else its inputs' hash."""
        if self.embedding is None or self.embedding.store == "catalogue":
            return str(row.get(store.CONTENT_HASH, ""))
        return self.embedding.content_hash(row)

    def _load_vectors(self, ch: ClickHouse, projection_version: str | None) -> dict[tuple[str, str], int]:
        assert self.embedding is not None
        if self.embedding.store == "catalogue":
            pv = projection_version or store.newest_projection_version(ch)
            self.projection_version = pv
            found = ((r["item_id"], r["content_hash"], r["v"]) for r in store.item_vectors(ch, pv))
        else:
            vectors = store.entity_vectors(ch, self.embedding.name, self.name)
            found = ((r["entity_key"], r["content_hash"], r["v"]) for r in vectors)
        mm_by_content: dict[tuple[str, str], int] = {}
        for key, content, vec in found:
            if len(vec) != self.width:
                self.vector_mismatch += 1
            mm_by_content[(key, content)] = len(self.mm)
            self.mm.append(fit_vector(vec, self.width))
        return mm_by_content

    def load(self, ch: ClickHouse, projection_version: str | None = None) -> EntityTable:
        """Every stored version (none without a table) and, for the stored embedding, the vectors."""
        mm_by_content = self._load_vectors(ch, projection_version) if self.vectors else {}
        keys: list[int] = []
        rows: list[int] = []
        versions = store.entity_versions(ch, self.table, self.key, self._columns()) if self.table else ()
        for row in versions:
            idx = self.idx(row[self.key])
            mm_row = mm_by_content.get((row[self.key], self._content_hash(row)), 0) if mm_by_content else 0
            keys.append((idx << TS_BITS) | min(int(row["ts_ms"]), TS_MASK))
            rows.append(self._add_row(row, mm_row))
        order = np.argsort(np.asarray(keys, dtype=np.int64), kind="stable")
        self.keys = np.asarray(keys, dtype=np.int64)[order]
        self.rows = np.asarray(rows, dtype=np.int32)[order]
        return self

    def as_of(self, idx: np.ndarray, ts_ms: np.ndarray) -> np.ndarray:
        """Version row of each entity as of each time (newest ts_ms <= t), else its pseudo row."""
        idx = idx.astype(np.int64)
        pseudo = np.asarray(self.pseudo_row, dtype=np.int32)[idx]
        if len(self.keys) == 0:
            return pseudo
        q = (idx << TS_BITS) | np.minimum(ts_ms.astype(np.int64), TS_MASK)
        pos = np.searchsorted(self.keys, q, side="right") - 1
        posc = np.maximum(pos, 0)
        hit = (pos >= 0) & ((self.keys[posc] >> TS_BITS) == idx)
        return np.where(hit, self.rows[posc], pseudo).astype(np.int32)

    def linked(self, attr: str, joined: EntityTable, rows: np.ndarray, ts_ms: np.ndarray) -> np.ndarray:
        """The rows of `joined` as of ts_ms whose key is `attr` of this table's `rows` (padding stays padding)."""
        cache, keys = self._link_idx[attr], self.link_keys[attr]
        for k in keys[len(cache) :]:
            cache.append(-1 if k is None else joined.idx(k))
        target = np.asarray(cache, dtype=np.int64)[rows]
        out = joined.as_of(np.maximum(target, 0), np.broadcast_to(ts_ms, target.shape))
        return np.where(target >= 0, out, 0).astype(np.int32)

    def arrays(self) -> dict[str, np.ndarray]:
        """f_<feature>: each slot's value per version row; with vectors, the row of each version's vector and the
        vectors (embeddings.array_names: mm_row and mm for the catalogue's)."""
        out = {}
        for f, (kind, _slot) in self.slots.items():
            if kind != "vector":
                out[f"f_{f}"] = np.asarray(self.values[f], dtype=np.float32 if kind == "numeric" else np.int64)
        if self.vectors and self.embedding is not None:
            vec, row = array_names(self.embedding.name, self.embedding.entity)
            out[row] = np.asarray(self.mm_row, dtype=np.int32)
            out[vec] = np.stack(self.mm).astype(np.float32)
        return out


def _zero(kind: str, slot: Mapping[str, Any]) -> Any:
    return [0] * slot["max_length"] if kind == "multi_categorical" else 0


def side_plans(schema: ModelSchema) -> list[SidePlan]:
    """The user side, the candidate side and every sequence, in layout order."""
    user = SidePlan("user", schema.user, schema.layout["request_entity"], "user_row")
    cand = SidePlan("cand", schema.candidate, schema.layout["candidate_entity"], "cand_row")
    seqs = [SidePlan(s["name"], s, s["target"], f"{s['name']}_rows") for s in schema.sequences]
    for plan in (user, cand, *seqs):
        for kind, slot in group_slots(plan.group):
            if "via" in slot:
                plan.joins[slot_entity(kind, slot)] = slot["via"].split(".", 1)[1]  # type: ignore[index]
    return [user, cand, *seqs]


class EntityTables:
    """The entity tables a layout reads, each loaded once, and the rows each side reads of them."""

    def __init__(self, repo: FeatureRepo, schema: ModelSchema, log: Callable[[str], None] = print):
        self.schema, self.log = schema, log
        self.key_source = requester_key_source(repo, schema)
        self.plans = side_plans(schema)
        slots: dict[str, Slots] = {}
        links: dict[str, dict[str, None]] = {}
        unstored: set[str] = set()
        stored = stored_embedding(repo, schema.layout)
        candidate = schema.layout["candidate_entity"]
        for plan in self.plans:
            slots.setdefault(plan.entity, {})
            links.setdefault(plan.entity, {}).update(dict.fromkeys(plan.joins.values()))
            for kind, slot in group_slots(plan.group):
                if is_row_slot(self.key_source, plan.prefix, kind, slot):
                    continue
                if kind == "vector" and not reads_stored(stored, candidate, slot):
                    unstored.add(f"'{slot['embedding']}' of {slot['entity']}")
                    continue
                slots.setdefault(slot_entity(kind, slot), {})[slot["feature"]] = (kind, slot)  # type: ignore[arg-type]
        for name in sorted(unstored):
            log(f"[entities] embedding {name}: no vectors are stored; its features read zeros")
        entities = {e["name"]: e for e in repo.entities}
        self.tables = {
            e: EntityTable(schema, entities[e], s, list(links.get(e, ())), stored if e == candidate else None)
            for e, s in slots.items()
        }
        user = self.plans[0]
        if not self.tables[user.entity].slots and not user.joins:
            user.rows_column = None  # the requester's key and the context come with each row
            if all(p.entity != user.entity for p in self.plans[1:]):
                del self.tables[user.entity]

    @property
    def candidate(self) -> EntityTable:
        return self.tables[self.schema.layout["candidate_entity"]]

    @property
    def requester(self) -> EntityTable | None:
        """The requester's table when the user side reads it (its key alone comes with each row)."""
        return self.tables[self.plans[0].entity] if self.plans[0].rows_column else None

    def load(self, ch: ClickHouse, projection_version: str | None = None) -> EntityTables:
        for t in self.tables.values():
            t.load(ch, projection_version)
            if t.vectors and t.embedding is not None and t.embedding.store == "entity" and len(t.mm) == 1:
                # nothing embedded it (the embedder derives no job for it, or has not run)
                self.log(f"[entities] embedding '{t.embedding.name}' of {t.name}: no vectors are stored; zeros")
        return self

    def side_rows(self, plan: SidePlan, rows: np.ndarray, ts_ms: np.ndarray) -> dict[str, np.ndarray]:
        """{entity: rows} a side reads: its own version rows `rows` ([n] or [n, L]) and the joined entities' rows
        as of ts_ms (broadcast to rows' shape)."""
        own = self.tables[plan.entity]
        ts = ts_ms.reshape(ts_ms.shape + (1,) * (rows.ndim - ts_ms.ndim))
        joined = {e: own.linked(a, self.tables[e], rows, ts) for e, a in plan.joins.items()}
        return {plan.entity: rows, **joined}

    def arrays(self) -> dict[str, dict[str, np.ndarray]]:
        return {e: t.arrays() for e, t in self.tables.items()}


def group_inputs(
    group: Mapping[str, Any],
    prefix: str,
    tables: Mapping[str, Arrays],
    rows: Mapping[str, np.ndarray],
    row_values: Mapping[str, np.ndarray],
    shape: tuple[int, ...],
    zero_vectors: bool = False,
) -> dict[str, np.ndarray]:
    """A side's inputs ([*shape, width] each): table slots from the entity arrays (EntityTables.arrays) at the
    side's `rows` {entity: rows}, the others from `row_values` {slot key: [n, ...]}. Vectors of an embedding
    no table stores are zeros; zero_vectors: all vectors are zeros (the --no-mm ablation), without gathering."""
    cols: dict[str, list[np.ndarray]] = {"cat": [], "num": [], "multi": [], "vec": []}

    def value(kind: str, slot: Mapping[str, Any]) -> np.ndarray:
        e = slot_entity(kind, slot)
        a = tables.get(e, {}).get(f"f_{slot['feature']}") if e in rows else None  # type: ignore[call-overload]
        return a[rows[e]] if a is not None else np.asarray(row_values[slot_key(slot)])  # type: ignore[index]

    def vector(slot: Mapping[str, Any]) -> np.ndarray:
        t = tables.get(slot["entity"], {})
        vec, row = array_names(slot["embedding"], slot["entity"])
        # a table holds the vectors of the one embedding the layout stores (EntityTables): others read zeros
        if zero_vectors or vec not in t or slot["entity"] not in rows or "via" in slot:
            return np.zeros((*shape, slot["width"]), dtype=np.float32)
        return t[vec][t[row][rows[slot["entity"]]]][..., : slot["width"]]

    for kind, suffix in (("categorical", "cat"), ("numeric", "num"), ("multi_categorical", "multi")):
        cols[suffix] = [value(kind, s)[..., None] if suffix != "multi" else value(kind, s) for s in group[kind]]
    cols["vec"] = [vector(s) for s in group["vector"]]
    return {f"{prefix}_{k}": np.concatenate(v, -1) if len(v) > 1 else v[0] for k, v in cols.items() if v}
