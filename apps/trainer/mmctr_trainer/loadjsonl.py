"""Dev loader: JSONL behaviour events / catalogue items -> ClickHouse `events` / `items`, bypassing Kafka.

Every column is set as the ingest app sets it (apps/ingest/src/ingest/row-mappers.ts):
- events: event_time = floor(ts_ms / 1000); position, value default 0; device / placement / country
  from `context` or ''; ingested_at = now (epoch seconds, one value per insert batch, as one ingest flush).
- items: updated_at = floor(ts_ms / 1000); description / category / image default '', tags default [];
  content_hash = the same SHA-256 as libs/online-store/src/content-hash.ts (JSON.stringify of
  [title, description ?? '', category ?? '', tags ?? [], image ?? ''], UTF-8).

Validation is a quick subset of the v1 contracts (required fields, types, schema_version 1, event type):
lines that fail it are skipped and counted, where the ingest app would dead-letter them. Loading the same
file twice inserts duplicates that ReplacingMergeTree collapses (readers use FINAL), as a redelivery would.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ch import ClickHouse

EVENT_TYPES = ("impression", "click", "conversion")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _js_json(x: Any) -> str:
    """JSON.stringify(x) for strings, lists and numbers: no spaces, non-ASCII as is, lowercase \\u00xx escapes
    for control characters and (ES2019 well-formed stringify) lone surrogates escaped."""
    s = json.dumps(x, ensure_ascii=False, separators=(",", ":"))
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", s)


def _or(v: Any, default: Any) -> Any:
    """JavaScript's `v ?? default`: only null / absent fall back."""
    return default if v is None else v


def content_hash(item: dict[str, Any]) -> str:
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


def event_row(e: dict[str, Any], ingested_at_s: int) -> dict[str, Any]:
    ctx = e.get("context") or {}
    return {
        "event_id": e["event_id"],
        "type": e["type"],
        "ts_ms": int(e["ts_ms"]),
        "event_time": epoch_seconds(e["ts_ms"]),
        "user_id": e["user_id"],
        "item_id": e["item_id"],
        "request_id": e["request_id"],
        "position": int(_or(e.get("position"), 0)),
        "device": _or(ctx.get("device"), ""),
        "placement": _or(ctx.get("placement"), ""),
        "country": _or(ctx.get("country"), ""),
        "value": float(_or(e.get("value"), 0)),
        "schema_version": int(e["schema_version"]),
        "ingested_at": ingested_at_s,
    }


def item_row(i: dict[str, Any], ingested_at_s: int) -> dict[str, Any]:
    return {
        "item_id": i["item_id"],
        "ts_ms": int(i["ts_ms"]),
        "updated_at": epoch_seconds(i["ts_ms"]),
        "title": i["title"],
        "description": _or(i.get("description"), ""),
        "category": _or(i.get("category"), ""),
        "tags": list(_or(i.get("tags"), [])),
        "image": _or(i.get("image"), ""),
        "content_hash": content_hash(i),
        "schema_version": int(i["schema_version"]),
        "ingested_at": ingested_at_s,
    }


def _is_str(d: dict[str, Any], k: str, required: bool = True) -> bool:
    v = d.get(k)
    return (isinstance(v, str) and len(v) > 0) if required else (v is None or isinstance(v, str))


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def event_problem(e: Any) -> str | None:
    """Why a parsed line is not a v1 behaviour event (quick subset of the contract), else None."""
    if not isinstance(e, dict):
        return "not an object"
    if e.get("schema_version") != 1:
        return "schema_version is not 1"
    for k in ("event_id", "user_id", "item_id", "request_id"):
        if not _is_str(e, k):
            return f"{k} missing or empty"
    if e.get("type") not in EVENT_TYPES:
        return "bad type"
    if not _is_int(e.get("ts_ms")) or not (946684800000 <= e["ts_ms"] <= 4102444800000):
        return "bad ts_ms"
    if e.get("position") is not None and (not _is_int(e["position"]) or not 0 <= e["position"] <= 10000):
        return "bad position"
    if e.get("context") is not None and not isinstance(e["context"], dict):
        return "bad context"
    v = e.get("value")
    if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
        return "bad value"
    return None


def item_problem(i: Any) -> str | None:
    """Why a parsed line is not a v1 catalogue item (quick subset of the contract), else None."""
    if not isinstance(i, dict):
        return "not an object"
    if i.get("schema_version") != 1:
        return "schema_version is not 1"
    if not _is_str(i, "item_id") or not _is_str(i, "title"):
        return "item_id or title missing or empty"
    if not _is_int(i.get("ts_ms")) or not (946684800000 <= i["ts_ms"] <= 4102444800000):
        return "bad ts_ms"
    for k in ("description", "category", "image"):
        if not _is_str(i, k, required=False):
            return f"bad {k}"
    t = i.get("tags")
    if t is not None and (not isinstance(t, list) or len(t) > 5 or not all(isinstance(x, str) and x for x in t)):
        return "bad tags"
    return None


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


def _records(path: Path, problem: Callable[[Any], str | None], stats: LoadStats) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            stats.lines += 1
            try:
                rec = json.loads(line)
                why = problem(rec)
            except ValueError as e:
                why = f"bad JSON: {e.__class__.__name__}"
            if why is not None:
                stats.invalid += 1
                stats.reasons[why] = stats.reasons.get(why, 0) + 1
                continue
            yield rec


def load_file(
    ch: ClickHouse,
    table: str,
    path: str | Path,
    *,
    batch_rows: int = 50_000,
    now_s: Callable[[], int] | None = None,
    log: Callable[[str], None] = print,
) -> LoadStats:
    """Inserts one JSONL file into `events` or `items` in batches of `batch_rows` (JSONEachRow over HTTP)."""
    if table not in ("events", "items"):
        raise ValueError(f"unknown table {table!r}")
    mapper, problem = (event_row, event_problem) if table == "events" else (item_row, item_problem)
    clock = now_s or (lambda: int(time.time()))
    stats = LoadStats(table)
    t0 = time.time()
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        if batch:
            ingested = clock()
            ch.insert(table, [mapper(r, ingested) for r in batch])
            stats.rows += len(batch)
            stats.batches += 1
            batch.clear()
            log(f"[load] {table}: {stats.rows} rows ({time.time() - t0:.1f}s)")

    for rec in _records(Path(path), problem, stats):
        batch.append(rec)
        if len(batch) >= batch_rows:
            flush()
    flush()
    stats.seconds = round(time.time() - t0, 2)
    return stats


def load_jsonl(
    ch: ClickHouse,
    events: str | Path | None = None,
    items: str | Path | None = None,
    *,
    batch_rows: int = 50_000,
    log: Callable[[str], None] = print,
) -> list[LoadStats]:
    """Items first (as a catalogue feed would precede its impressions), then events."""
    out = []
    for table, path in (("items", items), ("events", events)):
        if path:
            s = load_file(ch, table, path, batch_rows=batch_rows, log=log)
            log(
                f"[load] {table}: {s.rows} rows inserted, {s.invalid} invalid lines skipped, {s.batches} batches, "
                f"{s.seconds}s" + (f"; reasons {s.reasons}" if s.reasons else "")
            )
            out.append(s)
    return out
