"""Rebuilding the model inputs of a logged request: the logged row (the requester's key, the context and the
sequence entries the scorer used, from context_json / candidate_context_json / sequences_json, or from the fixed
context columns of rows logged before them; the raw aggregate window values from aggregates_json), the entity
tables as of the request time (the training-set builder's EntityTables and group_inputs) and the slot encodings
the scorer's assembler does."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..dataset import TS_BITS, EntityTable, EntityTables
from ..dataset.aggregate_slots import AggregateSlots, value_key
from ..dataset.entities import SidePlan, group_inputs
from ..dataset.rows import RowSlots
from ..feature_repo import FeatureRepo
from ..features import age_buckets
from ..schema import ModelSchema
from ..store import EventSource

Sequences = dict[str, tuple[list[str], list[int]]]  # sequence -> (target keys, event times), newest first


class ItemLookup:
    """The candidate table's diagnostics that explain a mismatch: keys unknown to it when it was loaded, and
    versions the catalogue changed after the request (the scorer may then have served a newer one)."""

    def __init__(self, items: EntityTable):
        self.items = items
        self.arr = items.arrays()
        self.n_catalogue = n_items = len(items.index)  # keys added later are unknown to the catalogue
        self.latest = np.zeros(n_items, dtype=np.int32)
        if len(items.keys):
            owner = items.keys >> TS_BITS
            last = np.r_[owner[1:] != owner[:-1], True]
            self.latest[owner[last]] = items.rows[last]

    def flags(self, idx: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Whether each (index, version row) is unknown, and whether a later version changed its features."""
        known = idx < self.n_catalogue
        changed = np.zeros(len(idx), dtype=bool)
        if known.any():
            r, latest = rows[known], self.latest[idx[known]]
            for name, a in self.arr.items():
                if name != "mm" and not name.startswith("mm_vec_"):  # per-row: slot values, the vector's row
                    changed[known] |= (a[r] != a[latest]).reshape(len(r), -1).any(axis=1)
        return ~known, changed

    def without_vector(self, rows: np.ndarray, unknown: np.ndarray) -> int:
        """How many known references have no vector (the table's rows as loaded: unknown keys' rows are newer)."""
        rows_of = next((a for name, a in self.arr.items() if name.startswith("mm_row")), None)
        return int((rows_of[rows[~unknown]] == 0).sum()) if rows_of is not None else 0


def _json(text: str, default: Any) -> Any:
    return json.loads(text) if text else default


@dataclass
class LoggedRow:
    request_id: str
    ts_ms: int
    user_id: str
    history_item_ids: list[str]
    item_ids: list[str]
    positions: list[int]
    ctrs: list[float]
    degraded: bool
    feature_spec_version: str = ""
    model_version: str = ""
    history_ts_ms: list[int] = field(default_factory=list)  # click times (fs-2); empty from an older scorer
    context: dict[str, Any] | None = None  # context_json; None: logged before it (the fixed columns hold it)
    legacy_context: dict[str, Any] = field(default_factory=dict)  # the fixed context columns' values
    candidate_context: list[dict[str, Any]] | None = None
    sequences: Sequences | None = None
    # aggregates_json: {"as_of_ms", "user": {"<aggregation>@<window>": raw}, "candidates": {...: [raw]}}; None:
    # not logged (a layout without aggregates, or a scorer from before them)
    aggregates: dict[str, Any] | None = None

    @staticmethod
    def from_json(r: dict[str, Any], legacy_columns: Mapping[str, str] | None = None) -> LoggedRow:
        """A score_log row; `legacy_columns` (name -> attribute type): its fixed request-context columns."""
        seqs = _json(str(r.get("sequences_json") or ""), None)
        return LoggedRow(
            request_id=str(r["request_id"]),
            ts_ms=int(r["ts_ms"]),
            user_id=str(r["user_id"]),
            history_item_ids=[str(x) for x in r.get("history_item_ids") or []],
            item_ids=[str(x) for x in r.get("item_ids") or []],
            positions=[int(x) for x in r.get("positions") or []],
            ctrs=[float(x) for x in r.get("ctrs") or []],
            degraded=bool(int(r.get("degraded") or 0)),
            feature_spec_version=str(r.get("feature_spec_version") or ""),
            model_version=str(r.get("model_version") or ""),
            history_ts_ms=[int(x) for x in r.get("history_ts_ms") or []],
            context=_json(str(r.get("context_json") or ""), None),
            legacy_context={c: _column_value(t, r.get(c)) for c, t in (legacy_columns or {}).items()},
            candidate_context=_json(str(r.get("candidate_context_json") or ""), None),
            sequences=None
            if seqs is None
            else {n: ([str(k) for k in s["keys"]], [int(t) for t in s["ts_ms"]]) for n, s in seqs.items()},
            aggregates=_json(str(r.get("aggregates_json") or ""), None),
        )

    def request_context(self) -> dict[str, Any]:
        return self.context if self.context is not None else dict(self.legacy_context)

    def candidates_context(self) -> list[dict[str, Any]]:
        if self.candidate_context is not None:
            return self.candidate_context
        return [{"position": p} for p in self.positions]

    def sequence(self, name: str, only: bool) -> tuple[list[str], list[int]]:
        """A sequence's logged entries; a row logged before sequences_json holds one history (`only`: the
        layout's single sequence)."""
        if self.sequences is not None:
            return self.sequences.get(name, ([], []))
        if not only:
            raise ValueError(f"request {self.request_id}: logged with one history, the layout has several sequences")
        return self.history_item_ids, self.history_ts_ms


def legacy_context_columns(repo: FeatureRepo, score_log_columns: Iterable[str]) -> dict[str, str]:
    """The fixed score_log columns that held the request context before context_json: the repository's
    request-scope context attributes that are also columns of the table (name -> attribute type). The scorer's
    sink fills each from the context attribute of its name: strings as they are, other values as JSON text."""
    have = set(score_log_columns)
    return {a["name"]: a["type"] for a in repo.context["attributes"] if a["scope"] == "request" and a["name"] in have}


def _column_value(attr_type: str, text: Any) -> Any:
    """A fixed context column's text as the attribute's value ('' of a non-string: not logged, missing)."""
    if attr_type == "string":
        return str(text or "")
    return json.loads(text) if text else None


@dataclass
class Encoded:
    """A logged request's model inputs and the candidate-table references they read (for the diagnostics)."""

    feeds: dict[str, np.ndarray]
    cand_idx: np.ndarray
    cand_rows: np.ndarray
    hist_idx: np.ndarray
    hist_rows: np.ndarray


class LoggedEncoder:
    """The layout's inputs of logged requests (user inputs batch 1, candidates batch B) — what the scorer's
    assembler fed: row slots from the logged requester key and context, entity slots from the entity tables
    as of the request (joins included), sequences from the logged entries."""

    def __init__(self, repo: FeatureRepo, schema: ModelSchema, tables: EntityTables):
        self.schema, self.tables = schema, tables
        src = EventSource.of(repo)
        scope = {a["name"]: a["scope"] for a in repo.context["attributes"]}
        self.request_attrs = [a for a, s in scope.items() if s == "request"]
        self.cand_attrs = [a for a, s in scope.items() if s == "candidate"]
        self.key = src.requester_key
        self.user = RowSlots.of(schema, tables.key_source, (self.key, "ts_ms", *self.request_attrs), ("user",))
        self.cand = RowSlots.of(schema, tables.key_source, self.cand_attrs, ("cand",))
        self.user_aggregates = AggregateSlots(schema, ("user",))
        self.cand_aggregates = AggregateSlots(schema, ("cand",))
        self._sizes: dict[str, int] = {}
        self._arr: dict[str, dict[str, np.ndarray]] = {}

    def _arrays(self) -> dict[str, dict[str, np.ndarray]]:
        """The tables' arrays, rebuilt only when unknown keys added pseudo rows."""
        sizes = {e: len(t.mm_row) for e, t in self.tables.tables.items()}
        if sizes != self._sizes:
            self._arr, self._sizes = self.tables.arrays(), sizes
        return self._arr

    def _side(self, plan: SidePlan, keys: Sequence[str], ts: int, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
        """{entity: rows} of one side: its entities' versions of `keys` as of ts, padded to `shape`."""
        table = self.tables.tables[plan.entity]
        rows = np.zeros(shape, dtype=np.int32).reshape(-1)
        rows[: len(keys)] = table.as_of(table.idx_of(keys), np.full(len(keys), ts, dtype=np.int64))
        return self.tables.side_rows(plan, rows.reshape(shape), np.asarray([ts] * shape[0], dtype=np.int64))

    def _row_values(self, row: LoggedRow) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The user and candidate row slots (aggregate windows from the logged raw values); an attribute the row
        does not hold reads as missing."""
        ctx = row.request_context()
        request = {self.key: row.user_id, "ts_ms": row.ts_ms, **{k: ctx.get(k) for k in self.request_attrs}}
        cands = [{k: c.get(k) for k in self.cand_attrs} for c in row.candidates_context()]
        user, cand = self.user.encode([request]), self.cand.encode(cands)
        logged = row.aggregates or {}
        if self.user_aggregates:
            raw = {value_key(s): np.asarray([logged["user"][value_key(s)]]) for _k, s in self.user_aggregates.slots}
            user.update(self.user_aggregates.encode(raw))
        if self.cand_aggregates:
            raw = {value_key(s): np.asarray(logged["candidates"][value_key(s)]) for _k, s in self.cand_aggregates.slots}
            cand.update(self.cand_aggregates.encode(raw))
        return user, cand

    def aggregates_missing(self, row: LoggedRow) -> bool:
        """Whether the layout reads an aggregate window the row did not log (for each candidate)."""
        if not self.user_aggregates and not self.cand_aggregates:
            return False
        logged = row.aggregates
        if not isinstance(logged, dict):
            return True
        user, cands = logged.get("user") or {}, logged.get("candidates") or {}
        return any(value_key(s) not in user for _k, s in self.user_aggregates.slots) or any(
            len(cands.get(value_key(s)) or ()) != len(row.item_ids) for _k, s in self.cand_aggregates.slots
        )

    def encode(self, row: LoggedRow) -> Encoded:
        user, cand, *seqs = self.tables.plans
        ts, B = row.ts_ms, len(row.item_ids)
        user_rows = self._side(user, [row.user_id], ts, (1,)) if user.rows_column else {}
        cand_rows = self._side(cand, row.item_ids, ts, (B,))
        hist = [(p, *row.sequence(p.prefix, len(seqs) == 1)) for p in seqs]
        hist = [(p, keys[: p.group["length"]], times) for p, keys, times in hist]
        seq_rows = [self._side(p, keys, ts, (1, p.group["length"])) for p, keys, _t in hist]
        arr = self._arrays()
        user_values, cand_values = self._row_values(row)
        out = group_inputs(self.schema.user, "user", arr, user_rows, user_values, (1,))
        out.update(group_inputs(self.schema.candidate, "cand", arr, cand_rows, cand_values, (B,)))
        for (plan, keys, times), rows in zip(hist, seq_rows, strict=True):
            out.update(group_inputs(plan.group, plan.prefix, arr, rows, {}, (1, plan.group["length"])))
            if "age" in plan.group:
                out[f"{plan.prefix}_age"] = _ages(plan.group, ts, times[: len(keys)])
        feeds = {n: np.ascontiguousarray(out[n]) for n in self.schema.input_names}
        return self._encoded(feeds, row, cand_rows[cand.entity], hist, seq_rows)

    def _encoded(
        self,
        feeds: dict[str, np.ndarray],
        row: LoggedRow,
        cand_rows: np.ndarray,
        hist: list[tuple[SidePlan, list[str], list[int]]],
        seq_rows: list[dict[str, np.ndarray]],
    ) -> Encoded:
        """The inputs with the candidate-table references: candidates and the entries of sequences over it."""
        items = self.tables.candidate
        own = [
            (k, r[p.entity][0, : len(k)])
            for (p, k, _t), r in zip(hist, seq_rows, strict=True)
            if p.entity == items.name
        ]
        return Encoded(
            feeds=feeds,
            cand_idx=items.idx_of(row.item_ids),
            cand_rows=cand_rows,
            hist_idx=items.idx_of([x for k, _r in own for x in k]),
            hist_rows=np.concatenate([r for _k, r in own]) if own else np.zeros(0, dtype=np.int32),
        )


def _ages(seq: Mapping[str, Any], ts: int, times: Sequence[int]) -> np.ndarray:
    """[1, L] age buckets of the entries with a logged time (0: empty slot or no time)."""
    age = np.zeros((1, seq["length"]), dtype=np.int64)
    if times:
        age[0, : len(times)] = age_buckets(ts - np.asarray(times, dtype=np.int64), seq["age"]["boundaries_ms"])
    return age
