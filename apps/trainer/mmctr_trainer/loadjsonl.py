"""Bulk loader: JSONL behaviour events / entity snapshots -> the running feature repository's ClickHouse tables,
bypassing Kafka.

Rows are what ingest writes (libs/feature-repo: the compiled contracts and row encoders):
- every column of the table as ClickHouse reports it (system.columns), in table order;
- events: the event's keys and its type's attributes; a request-scope context attribute may sit under `context`;
  event_time = floor(ts_ms / 1000);
- entity snapshots: the key and the entity's attributes; updated_at = floor(ts_ms / 1000); the demo item's
  content_hash (the embedder's key: the same SHA-256 as libs/online-store/src/content-hash.ts) when the table
  has that column;
- a missing optional attribute reads its default (else its type's zero); a column nothing fills (an attribute
  of another event type, a bookkeeping column) gets its column type's zero; bools go to UInt8 as 0 / 1;
- ingested_at = now (epoch seconds, one value per insert batch, as one ingest flush).

Validation is a quick subset of the compiled contracts (schema_version 1, event type, required fields, each
attribute's type and bounds, the unknown-attribute policy): lines that fail it are skipped and counted by
reason, naming the attribute, where ingest would dead-letter them. Loading the same file twice inserts
duplicates that ReplacingMergeTree collapses (readers use FINAL), as a redelivery would.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ch import ClickHouse
from .feature_repo import FeatureRepo
from .store import table_columns

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
TS_MIN, TS_MAX = 946684800000, 4102444800000  # 2000 .. 2100, epoch ms
_EVENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_MAX_SAFE = 2**53 - 1
ZERO = {"string": "", "int": 0, "float": 0, "bool": False, "string_list": []}
# The demo catalogue entity and the column of its table keyed by content (as ingest's CATALOGUE_COLUMNS).
CATALOGUE_ENTITY, CONTENT_HASH = "item", "content_hash"
Record = dict[str, Any]


def _js_json(x: Any) -> str:
    """JSON.stringify(x) for strings, lists and numbers: no spaces, non-ASCII as is, lowercase \\u00xx escapes
    for control characters and (ES2019 well-formed stringify) lone surrogates escaped."""
    s = json.dumps(x, ensure_ascii=False, separators=(",", ":"))
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", s)


def _or(v: Any, default: Any) -> Any:
    """JavaScript's `v ?? default`: only null / absent fall back."""
    return default if v is None else v


def content_hash(item: Mapping[str, Any]) -> str:
    """Same value as contentHash() in libs/online-store/src/content-hash.ts."""
    canonical = _js_json(
        [
            item.get("title"),
            _or(item.get("description"), ""),
            _or(item.get("category"), ""),
            _or(item.get("tags"), []),
            _or(item.get("image"), ""),
        ]
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def epoch_seconds(ms: int) -> int:
    return int(ms) // 1000


# ---------------------------------------------------------------- attribute checks (contract/attribute-check.ts)


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(v), type(v).__name__)


def _number(v: Any, t: str) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    if t == "float":
        return math.isfinite(v)
    return (isinstance(v, int) or v.is_integer()) and abs(v) <= _MAX_SAFE


def _length(s: str, lo: int | None, hi: int | None, unit: str) -> str | None:
    if lo is not None and len(s) < lo:
        return f"shorter than {lo} {unit}"
    if hi is not None and len(s) > hi:
        return f"longer than {hi} {unit}"
    return None


def value_problem(a: Mapping[str, Any], v: Any) -> str | None:
    """Why `v` is not a value of attribute `a` (its type, then its bounds), else None."""
    t = a["type"]
    ok = {"string": isinstance(v, str), "bool": isinstance(v, bool), "string_list": isinstance(v, list)}
    if not ok.get(t, _number(v, t)):
        return f"expected {t}, got {_kind(v)}"
    if t == "string":
        return _length(v, a.get("min_length"), a.get("max_length"), "characters")
    if t in ("int", "float"):
        if "min" in a and v < a["min"]:
            return f"{v} is below the minimum {a['min']}"
        return f"{v} is above the maximum {a['max']}" if "max" in a and v > a["max"] else None
    if t == "bool":
        return None
    if "max_length" in a and len(v) > a["max_length"]:
        return f"more than {a['max_length']} elements"
    for i, x in enumerate(v):
        bad = (
            f"expected string, got {_kind(x)}"
            if not isinstance(x, str)
            else _length(x, a.get("element_min_length"), a.get("element_max_length"), "characters")
        )
        if bad:
            return f"element {i}: {bad}"
    return None


_ABSENT = object()


def _checked(label: str, a: Mapping[str, Any], v: Any) -> Any:
    """The attribute's value (a missing optional one: its default, else its type's zero); raises _Bad."""
    if v is _ABSENT:
        if a.get("required"):
            raise _Bad(f"missing required {label} '{a['name']}'")
        d = _or(a.get("default"), ZERO[a["type"]])
        return list(d) if isinstance(d, tuple) else d  # a frozen repository's lists are tuples
    why = value_problem(a, v)
    if why is not None:
        raise _Bad(f"{label} '{a['name']}': {why}")
    return int(v) if a["type"] == "int" else v


class _Bad(ValueError):
    """A line the contract refuses; the message is its reason."""


# ---------------------------------------------------------------- readers: a parsed line -> a normalised record


def _key(name: str) -> dict[str, Any]:
    return {"name": name, "type": "string", "required": True, "min_length": 1, "max_length": 128}


_TS_MS = {"name": "ts_ms", "type": "int", "required": True, "min": TS_MIN, "max": TS_MAX}


def _object(v: Any, what: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise _Bad(f"{what}: expected a JSON object, got {_kind(v)}")
    return v


def _head(m: Any) -> dict[str, Any]:
    m = _object(m, "message")
    if isinstance(m.get("schema_version"), bool) or m.get("schema_version") != 1:
        raise _Bad("field 'schema_version': expected 1")
    return m


def _unknown(m: Mapping[str, Any], known: set[str], policy: str, where: str = "") -> None:
    if policy == "reject":
        extra = next((k for k in m if k not in known), None)
        if extra is not None:
            raise _Bad(f"unknown attribute '{extra}'{where} (unknown_attributes: reject)")


@dataclass(frozen=True)
class _EventType:
    core: tuple[Mapping[str, Any], ...]  # ts_ms and the keys of its entities
    attrs: tuple[Mapping[str, Any], ...]
    nestable: frozenset[str]
    known: frozenset[str]


class EventReader:
    """The behaviour-event contract of a repository (event-contract.ts): type, keys, attributes, `context`."""

    def __init__(self, repo: FeatureRepo):
        keys = {e["name"]: e["key"] for e in repo.entities}
        request = {a["name"] for a in repo.context["attributes"] if a["scope"] == "request"}
        self.policy = repo.unknown_attributes
        self.types: dict[str, _EventType] = {}
        for t in repo.event_types:
            core = (_TS_MS, *(_key(keys[e]) for e in t["entities"]))
            attrs = tuple(t.get("attributes", ()))
            known = frozenset({"schema_version", "event_id", "type", "context", *(f["name"] for f in core + attrs)})
            self.types[t["name"]] = _EventType(core, attrs, frozenset(a["name"] for a in attrs) & request, known)
        self.expected = ", ".join(self.types)

    def __call__(self, line: Any) -> Record:
        m = _head(line)
        eid = m.get("event_id")
        if not isinstance(eid, str) or not _EVENT_ID.match(eid):
            raise _Bad("field 'event_id': expected 1-64 characters of [A-Za-z0-9_.:-]")
        t = self.types.get(m["type"]) if isinstance(m.get("type"), str) else None
        if t is None:
            raise _Bad(f"unknown event type {json.dumps(m.get('type'))} (expected one of: {self.expected})")
        nested = _object(m["context"], "field 'context'") if "context" in m else {}
        _unknown(m, t.known, self.policy)
        _unknown(nested, t.nestable, self.policy, " under context")
        out: Record = {"schema_version": 1, "event_id": eid, "type": m["type"]}
        for f in t.core:
            out[f["name"]] = _checked("field", f, m.get(f["name"], _ABSENT))
        for a in t.attrs:
            v = m.get(a["name"], _ABSENT)
            if a["name"] in t.nestable and a["name"] in nested:
                if v is not _ABSENT:
                    raise _Bad(f"attribute '{a['name']}' is given both at the top level and under context")
                v = nested[a["name"]]
            out[a["name"]] = _checked("attribute", a, v)
        return out


class EntityReader:
    """An entity's snapshot contract (entity-contract.ts): `{schema_version: 1, <key>, ts_ms, <attributes>}`."""

    def __init__(self, repo: FeatureRepo, entity: Mapping[str, Any]):
        self.policy = repo.unknown_attributes
        self.fields = (_key(entity["key"]), _TS_MS)
        self.attrs = tuple(entity.get("attributes", ()))
        self.known = {"schema_version", entity["key"], "ts_ms", *(a["name"] for a in self.attrs)}

    def __call__(self, line: Any) -> Record:
        m = _head(line)
        _unknown(m, self.known, self.policy)
        out: Record = {"schema_version": 1}
        for label, fields in (("field", self.fields), ("attribute", self.attrs)):
            for f in fields:
                out[f["name"]] = _checked(label, f, m.get(f["name"], _ABSENT))
        return out


# ---------------------------------------------------------------- rows: every column of the table (table-encoders.ts)

_STRING_TYPE = re.compile(r"^(String|LowCardinality\(String\)|FixedString\(\d+\))$")
_ENUM_VALUE = re.compile(r"'((?:[^'\\]|\\.)*)'\s*=")
Computed = Callable[[Record, int], Any]


def column_zero(col_type: str) -> Any:
    """What ingest writes to a column no declaration fills: its type's zero (an Enum8's first value)."""
    if _STRING_TYPE.match(col_type):
        return ""
    if col_type.startswith("Array("):
        return []
    if col_type.startswith("Enum8("):
        first = _ENUM_VALUE.search(col_type)
        return re.sub(r"\\(.)", r"\1", first.group(1)) if first else ""
    return 0


@dataclass(frozen=True)
class TableRows:
    """Normalised records -> rows holding every column of a table (by its actual columns)."""

    table: str
    columns: tuple[tuple[str, str], ...]
    computed: Mapping[str, Computed]

    def row(self, r: Record, now_s: int) -> Record:
        out: Record = {}
        for name, col_type in self.columns:
            v = self.computed[name](r, now_s) if name in self.computed else r.get(name, _ABSENT)
            out[name] = column_zero(col_type) if v is _ABSENT else int(v) if isinstance(v, bool) else v
        return out


def _time_columns(column: str) -> dict[str, Computed]:
    return {column: lambda r, _now: epoch_seconds(r["ts_ms"]), "ingested_at": lambda _r, now: now}


def table_rows(
    ch: ClickHouse, repo: FeatureRepo, table: str, wanted: Mapping[str, str], computed: Mapping[str, Computed]
) -> TableRows:
    """The table's rows; fails (naming database, table and columns) when a declared column is missing."""
    cols = tuple(table_columns(ch, table))
    have = {n for n, _t in cols}
    missing = [f"'{c}' ({why})" for c, why in wanted.items() if c not in have]
    if missing:
        what = "does not exist" if not cols else f"has no column {', '.join(missing)}"
        raise ValueError(
            f"feature repository {repo.name} {repo.version}: table {ch.database}.{table} {what}: "
            "run `mmctr features apply` with this repository"
        )
    return TableRows(table, cols, {k: f for k, f in computed.items() if k in have})


_CORE = ("ts_ms", "schema_version", "ingested_at")


def events_rows(ch: ClickHouse, repo: FeatureRepo) -> TableRows:
    keys = {e["name"]: e["key"] for e in repo.entities}
    wanted = dict.fromkeys(("event_id", "type", "event_time", *_CORE), "core column")
    for t in repo.event_types:
        wanted.update({keys[e]: f"key of entity '{e}'" for e in t["entities"]})
        for a in t.get("attributes", ()):
            wanted.setdefault(a["name"], f"attribute of event type '{t['name']}'")
    table = str(repo.document.get("events_table", "events"))
    return table_rows(ch, repo, table, wanted, _time_columns("event_time"))


def entity_rows(ch: ClickHouse, repo: FeatureRepo, entity: Mapping[str, Any]) -> TableRows:
    wanted = {entity["key"]: "entity key", **dict.fromkeys(("updated_at", *_CORE), "core column")}
    wanted.update({a["name"]: f"attribute of entity '{entity['name']}'" for a in entity.get("attributes", ())})
    computed = _time_columns("updated_at")
    if entity["name"] == CATALOGUE_ENTITY:
        computed[CONTENT_HASH] = lambda r, _now: content_hash(r)
    return table_rows(ch, repo, entity["table"], wanted, computed)


def snapshot_entity(repo: FeatureRepo, name: str) -> Mapping[str, Any]:
    """The entity whose snapshots are stored in its table, or an error naming the ones there are."""
    stored = {e["name"]: e for e in repo.entities if e.get("updates") == "snapshot" and e.get("table")}
    if name not in stored:
        raise ValueError(
            f"feature repository {repo.name}: no snapshot entity '{name}' (entities with a table: "
            f"{', '.join(stored) or 'none'})"
        )
    return stored[name]


# ---------------------------------------------------------------- loading


@dataclass
class LoadStats:
    table: str
    lines: int = 0
    rows: int = 0
    invalid: int = 0
    batches: int = 0
    seconds: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _records(path: Path, read: Callable[[Any], Record], stats: LoadStats) -> Iterator[Record]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            stats.lines += 1
            try:
                yield read(json.loads(line))
            except _Bad as e:
                why = f"schema: {e}"
            except ValueError as e:
                why = f"bad JSON: {e.__class__.__name__}"
            else:
                continue
            stats.invalid += 1
            stats.reasons[why] = stats.reasons.get(why, 0) + 1


def load_file(
    ch: ClickHouse,
    rows: TableRows,
    read: Callable[[Any], Record],
    path: str | Path,
    *,
    batch_rows: int = 50_000,
    now_s: Callable[[], int] | None = None,
    log: Callable[[str], None] = print,
) -> LoadStats:
    """Inserts one JSONL file into `rows.table` in batches of `batch_rows` (JSONEachRow over HTTP)."""
    clock = now_s or (lambda: int(time.time()))
    stats = LoadStats(rows.table)
    t0 = time.time()
    batch: list[Record] = []

    def flush() -> None:
        if batch:
            ingested = clock()
            ch.insert(rows.table, [rows.row(r, ingested) for r in batch])
            stats.rows += len(batch)
            stats.batches += 1
            batch.clear()
            log(f"[load] {rows.table}: {stats.rows} rows ({time.time() - t0:.1f}s)")

    for rec in _records(Path(path), read, stats):
        batch.append(rec)
        if len(batch) >= batch_rows:
            flush()
    flush()
    stats.seconds = round(time.time() - t0, 2)
    return stats


def load_jsonl(
    ch: ClickHouse,
    repo: FeatureRepo,
    events: str | Path | None = None,
    entities: Mapping[str, str | Path] | None = None,
    *,
    batch_rows: int = 50_000,
    log: Callable[[str], None] = print,
) -> list[LoadStats]:
    """Entity snapshots first (as a catalogue feed precedes its impressions), then events. `entities` maps a
    snapshot entity's name to its JSONL file. Every table is checked before anything is inserted."""
    plan = [
        (entity_rows(ch, repo, e), EntityReader(repo, e), p)
        for e, p in ((snapshot_entity(repo, n), p) for n, p in (entities or {}).items())
    ]
    if events:
        plan.append((events_rows(ch, repo), EventReader(repo), events))
    out = []
    for rows, read, path in plan:
        s = load_file(ch, rows, read, path, batch_rows=batch_rows, log=log)
        log(
            f"[load] {s.table}: {s.rows} rows inserted, {s.invalid} invalid lines skipped, {s.batches} batches, "
            f"{s.seconds}s" + (f"; reasons {s.reasons}" if s.reasons else "")
        )
        out.append(s)
    return out
