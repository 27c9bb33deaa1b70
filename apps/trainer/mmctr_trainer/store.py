"""Every SQL statement the trainer runs against the offline store, next to its client (ch.py).

ClickHouse 18.16 and modern servers: no window functions, no CTEs, one JOIN per SELECT with its subqueries
aliased, no server-side parameters (values go through `ch.literal`), every name through `ch.ident`. Sections:
where a repository's events are (EventSource), entity versions, events (training sets), the events
aggregations count, the model registry (`models`, read only by registry.py) and `score_log` (the parity check)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .ch import ClickHouse, ident, literal
from .feature_repo import FeatureRepo

Row = dict[str, Any]


def _db(ch: ClickHouse) -> str:
    return ident(ch.database)


# ---------------------------------------------------------------- where a repository's events are


@dataclass(frozen=True)
class EventSource:
    """The event columns a repository's training set reads: its events table, the label's anchor and positive
    event types, the columns a positive event must share with its anchor (match_on), the requester's and the
    candidate's key columns and the anchor's context columns (the repository's context attributes)."""

    table: str
    anchor: str
    positive: str
    match_on: tuple[str, ...]
    requester_key: str
    candidate_key: str
    context: tuple[str, ...]

    @staticmethod
    def of(repo: FeatureRepo) -> EventSource:
        anchor = _named(repo.event_types, repo.label["anchor"], "label.anchor")
        requester, candidate = (_named(repo.entities, e, "event_types.entities") for e in anchor["entities"][:2])
        src = EventSource(
            table=str(repo.document.get("events_table", "events")),
            anchor=anchor["name"],
            positive=str(repo.label["positive"]),
            match_on=tuple(repo.label["match_on"]),
            requester_key=requester["key"],
            candidate_key=candidate["key"],
            context=tuple(a["name"] for a in repo.context["attributes"]),
        )
        for name in (src.table, *src.match_on, src.requester_key, src.candidate_key, *src.context):
            ident(name)
        return src

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns of bucket_impressions' rows (besides label) that features may read."""
        return _unique((self.requester_key, "ts_ms", self.candidate_key, *self.context))


def _named(items: Sequence[Row], name: str, where: str) -> Row:
    found = next((x for x in items if x["name"] == name), None)
    if found is None:
        raise ValueError(f"{where}: '{name}' is not declared")
    return found


def _unique(names: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


def _columns(names: Sequence[str]) -> str:
    return ", ".join(ident(n) for n in names)


def table_columns(ch: ClickHouse, table: str) -> list[tuple[str, str]]:
    """(name, type) of each column of a table as ClickHouse reports them (system.columns: 18.16 has no position
    to order by); [] when the table does not exist."""
    rows = ch.all(
        f"SELECT name, type FROM system.columns WHERE database = {literal(ch.database)} AND table = {literal(table)}"
    )
    return [(str(r["name"]), str(r["type"])) for r in rows]


# ---------------------------------------------------------------- entity versions and the item embeddings


def newest_projection_version(ch: ClickHouse) -> str:
    """The projection version of the newest item_embeddings row ("" when there is none)."""
    r = ch.all(f"SELECT argMax(projection_version, created_ms) AS pv, count() AS n FROM {_db(ch)}.item_embeddings")
    return str(r[0]["pv"]) if r and int(r[0]["n"]) > 0 else ""


# The embedding item_vectors reads (item_embeddings.fused_vec of the item entity's content hash); the others
# are in entity_embeddings (embeddings.py).
ITEM_EMBEDDING = "fused"
ITEM_ENTITY = "item"
# The column of the item table that names a version's content (the key of its vector in item_embeddings).
CONTENT_HASH = "content_hash"


def item_vectors(ch: ClickHouse, projection_version: str) -> Iterator[Row]:
    """The newest fused vector per (item_id, content_hash) of one projection: item_id, content_hash, v."""
    return ch.rows(
        f"SELECT item_id, content_hash, argMax(fused_vec, created_ms) AS v FROM {_db(ch)}.item_embeddings FINAL "
        f"WHERE projection_version = {literal(projection_version)} GROUP BY item_id, content_hash"
    )


def entity_vectors(ch: ClickHouse, embedding: str, entity: str) -> Iterator[Row]:
    """The newest vector per (entity_key, content_hash) of a repository-declared embedding (entity_embeddings,
    migrations/0020): entity_key, content_hash, v. None before the migration: the features read zeros."""
    if not table_columns(ch, "entity_embeddings"):
        return iter(())
    return ch.rows(
        f"SELECT entity_key, content_hash, argMax(vec, created_ms) AS v FROM {_db(ch)}.entity_embeddings FINAL "
        f"WHERE embedding = {literal(embedding)} AND entity = {literal(entity)} AND notEmpty(vec) "
        "GROUP BY entity_key, content_hash"
    )


def entity_versions(ch: ClickHouse, table: str, key: str, columns: Sequence[str]) -> Iterator[Row]:
    """Every version of an entity table (key, ts_ms and `columns`) in (key, ts_ms) order."""
    names = _columns(_unique((key, "ts_ms", *columns)))
    return ch.rows(f"SELECT {names} FROM {_db(ch)}.{ident(table)} FINAL ORDER BY {ident(key)}, ts_ms")


# ---------------------------------------------------------------- events (training sets)


def _time_filter(from_ms: int | None, to_ms: int | None) -> str:
    return (f" AND ts_ms >= {int(from_ms)}" if from_ms is not None else "") + (
        f" AND ts_ms < {int(to_ms)}" if to_ms is not None else ""
    )


def impression_span(
    ch: ClickHouse,
    src: EventSource,
    fractions: tuple[float, float],
    from_ms: int | None = None,
    to_ms: int | None = None,
) -> Row:
    """lo / hi ts_ms, count n and the two time quantiles q of the anchor events in [from_ms, to_ms)."""
    return ch.all(
        f"SELECT min(ts_ms) AS lo, max(ts_ms) AS hi, count() AS n, "
        f"quantiles({float(fractions[0])}, {float(fractions[1])})(ts_ms) AS q "
        f"FROM {_db(ch)}.{ident(src.table)} FINAL WHERE type = {literal(src.anchor)}" + _time_filter(from_ms, to_ms)
    )[0]


def first_impressions(ch: ClickHouse, src: EventSource) -> Iterator[Row]:
    """Each candidate's first anchor event time: key, t."""
    key = ident(src.candidate_key)
    return ch.rows(
        f"SELECT {key} AS key, min(ts_ms) AS t FROM {_db(ch)}.{ident(src.table)} FINAL "
        f"WHERE type = {literal(src.anchor)} GROUP BY {key}"
    )


def _user_bucket(src: EventSource, n_buckets: int, k: int) -> str:
    return f"cityHash64({ident(src.requester_key)}) % {int(n_buckets)} = {int(k)}"


def bucket_impressions(
    ch: ClickHouse, src: EventSource, n_buckets: int, k: int, window_ms: int, from_ms: int, to_ms: int
) -> list[Row]:
    """The anchor events in [from_ms, to_ms) of the requesters in hash bucket k of n, in (requester, ts_ms)
    order: src.columns, labelled 1 when a positive event sharing the match_on columns lands in
    [ts, ts + window_ms]."""
    where_user = _user_bucket(src, n_buckets, k)
    # Positives are bucketed by requester only when they must share its key (else any bucket may match).
    where_pos = f" AND {where_user}" if src.requester_key in src.match_on else ""
    db, table, match = _db(ch), ident(src.table), _columns(src.match_on)
    return ch.all(
        f"SELECT {_columns(src.columns)}, "
        f"arrayExists(x -> x >= ts_ms AND x <= ts_ms + {int(window_ms)}, click_ts) AS label FROM ("
        f" SELECT {_columns(_unique((*src.columns, *src.match_on)))} FROM {db}.{table} FINAL"
        f" WHERE type = {literal(src.anchor)} AND {where_user} AND ts_ms >= {int(from_ms)} AND ts_ms < {int(to_ms)}"
        ") AS imp ANY LEFT JOIN ("
        f" SELECT {match}, groupArray(ts_ms) AS click_ts FROM {db}.{table} FINAL"
        f" WHERE type = {literal(src.positive)}{where_pos} GROUP BY {match}"
        f") AS clk USING ({match}) ORDER BY {ident(src.requester_key)}, ts_ms"
    )


def bucket_sequence_events(
    ch: ClickHouse, src: EventSource, n_buckets: int, k: int, to_ms: int, event_types: Sequence[str], target_key: str
) -> list[Row]:
    """The events of `event_types` (a sequence's) before to_ms of the requesters in hash bucket k of n: the
    requester's key, ts_ms and the target's key `target_key`, in (requester, ts_ms) order."""
    types = ", ".join(literal(t) for t in event_types)
    user = ident(src.requester_key)
    return ch.all(
        f"SELECT {_columns(_unique((src.requester_key, 'ts_ms', target_key)))} FROM {_db(ch)}.{ident(src.table)} "
        f"FINAL WHERE type IN ({types}) AND {_user_bucket(src, n_buckets, k)} AND ts_ms < {int(to_ms)} "
        f"ORDER BY {user}, ts_ms"
    )


# ---------------------------------------------------------------- aggregations (point-in-time values)


def aggregate_event_totals(
    ch: ClickHouse,
    table: str,
    source: str,
    key_columns: Sequence[str],
    match: Sequence[tuple[str, Any]],
    sum_column: str | None,
) -> list[Row]:
    """The `source` events whose columns equal the `match` values, counted (or their `sum_column` summed) per
    key columns and ts_ms: `key_columns`, ts_ms and total. Per millisecond, not per bucket: a window as of t
    ends at t itself, inside its newest bucket (docs/features.md, the edge rule)."""
    keys = _columns(_unique((*key_columns, "ts_ms")))
    total = f"sum(toFloat64({ident(sum_column)}))" if sum_column else "toFloat64(count())"
    where = " AND ".join([f"type = {literal(source)}", *(f"{ident(c)} = {literal(v)}" for c, v in match)])
    return ch.all(f"SELECT {keys}, {total} AS total FROM {_db(ch)}.{ident(table)} FINAL WHERE {where} GROUP BY {keys}")


# ---------------------------------------------------------------- model registry (through registry.py only)


def model_latest_updated_ms(ch: ClickHouse, version: str) -> int:
    rows = ch.all(f"SELECT max(updated_ms) AS m FROM {_db(ch)}.models WHERE version = {literal(version)}")
    return int(rows[0]["m"]) if rows else 0


def probe_models(ch: ClickHouse) -> None:
    """Reads nothing from `models` but fails as any registry read would: server down, no database, no table."""
    ch.all(f"SELECT count() AS n FROM {_db(ch)}.models WHERE 0")


def insert_model_rows(ch: ClickHouse, rows: Sequence[Row]) -> None:
    ch.insert("models", rows)


def models_current(ch: ClickHouse) -> list[Row]:
    """The current state of every version (the `models_current` view), oldest first."""
    return ch.all(
        "SELECT version, model_type, status, artifact_uri, feature_spec_version, metrics, train_from_ms, train_to_ms, "
        f"git_rev, toUnixTimestamp(created_at) AS created_at, latest_updated_ms FROM {_db(ch)}.models_current "
        "ORDER BY created_at, version"
    )


# ---------------------------------------------------------------- score_log (the parity check)

SCORE_LOG_COLUMNS = (
    "request_id, ts_ms, user_id, model_version, feature_spec_version, "
    "history_item_ids, history_ts_ms, item_ids, positions, ctrs, degraded, context_json, candidate_context_json, "
    "sequences_json"
)


def _score_log_where(version: str, since_ms: int | None, until_ms: int | None) -> str:
    w = f"model_version = {literal(version)}"
    if since_ms is not None:
        w += f" AND ts_ms >= {int(since_ms)}"
    if until_ms is not None:
        w += f" AND ts_ms < {int(until_ms)}"
    return w


def score_log_span(ch: ClickHouse, version: str, since_ms: int | None, until_ms: int | None) -> Row:
    """count n, min lo and max hi ts_ms of a version's rows (no FINAL: planning only)."""
    return ch.all(
        f"SELECT count() AS n, min(ts_ms) AS lo, max(ts_ms) AS hi FROM {_db(ch)}.score_log "
        f"WHERE {_score_log_where(version, since_ms, until_ms)}"
    )[0]


def score_log_slice_counts(
    ch: ClickHouse, version: str, since_ms: int | None, until_ms: int | None, lo: int, width: int
) -> Iterator[Row]:
    """Row counts n per time slice s = (ts_ms - lo) / width, in slice order (no FINAL: planning only)."""
    return ch.rows(
        f"SELECT intDiv(ts_ms - {int(lo)}, {int(width)}) AS s, count() AS n FROM {_db(ch)}.score_log "
        f"WHERE {_score_log_where(version, since_ms, until_ms)} GROUP BY s ORDER BY s"
    )


def score_log_rows(
    ch: ClickHouse, version: str, from_ms: int, to_ms: int, context_columns: Sequence[str] = ()
) -> Iterator[Row]:
    """A version's logged requests in [from_ms, to_ms) (FINAL: replays collapse), in (ts_ms, request_id) order,
    with SCORE_LOG_COLUMNS and the fixed request-context columns `context_columns` (rows from before
    context_json hold their context there)."""
    extra = "".join(f", {ident(c)}" for c in context_columns)
    return ch.rows(
        f"SELECT {SCORE_LOG_COLUMNS}{extra} FROM {_db(ch)}.score_log FINAL "
        f"WHERE {_score_log_where(version, from_ms, to_ms)} ORDER BY ts_ms, request_id"
    )
