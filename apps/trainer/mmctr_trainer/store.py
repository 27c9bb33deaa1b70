"""Every SQL statement the trainer runs against the offline store, next to its client (ch.py).

ClickHouse 18.16 and modern servers: no window functions, no CTEs, one JOIN per SELECT with its subqueries
aliased, no server-side parameters (values go through `ch.literal`). Sections: the item catalogue, events
(training sets), the model registry (`models`, read only by registry.py) and `score_log` (the parity check)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from .ch import ClickHouse, ident, literal

Row = dict[str, Any]


def _db(ch: ClickHouse) -> str:
    return ident(ch.database)


# ---------------------------------------------------------------- item catalogue


def newest_projection_version(ch: ClickHouse) -> str:
    """The projection version of the newest item_embeddings row ("" when there is none)."""
    r = ch.all(f"SELECT argMax(projection_version, created_ms) AS pv, count() AS n FROM {_db(ch)}.item_embeddings")
    return str(r[0]["pv"]) if r and int(r[0]["n"]) > 0 else ""


# What the catalogue queries return: the attributes of item_versions' rows and the embedding item_vectors reads
# (item_embeddings.fused_vec); features reading anything else of the item need their own query.
ITEM_ATTRIBUTES = ("item_id", "category", "tags")
ITEM_EMBEDDING = "fused"


def item_vectors(ch: ClickHouse, projection_version: str) -> Iterator[Row]:
    """The newest fused vector per (item_id, content_hash) of one projection: item_id, content_hash, v."""
    return ch.rows(
        f"SELECT item_id, content_hash, argMax(fused_vec, created_ms) AS v FROM {_db(ch)}.item_embeddings FINAL "
        f"WHERE projection_version = {literal(projection_version)} GROUP BY item_id, content_hash"
    )


def item_versions(ch: ClickHouse) -> Iterator[Row]:
    """Every catalogue version (item_id, ts_ms, category, tags, content_hash) in (item_id, ts_ms) order."""
    return ch.rows(
        f"SELECT item_id, ts_ms, category, tags, content_hash FROM {_db(ch)}.items FINAL ORDER BY item_id, ts_ms"
    )


# ---------------------------------------------------------------- events (training sets)


def _time_filter(from_ms: int | None, to_ms: int | None) -> str:
    return (f" AND ts_ms >= {int(from_ms)}" if from_ms is not None else "") + (
        f" AND ts_ms < {int(to_ms)}" if to_ms is not None else ""
    )


def impression_span(
    ch: ClickHouse, fractions: tuple[float, float], from_ms: int | None = None, to_ms: int | None = None
) -> Row:
    """lo / hi ts_ms, count n and the two time quantiles q of the impressions in [from_ms, to_ms)."""
    return ch.all(
        f"SELECT min(ts_ms) AS lo, max(ts_ms) AS hi, count() AS n, "
        f"quantiles({float(fractions[0])}, {float(fractions[1])})(ts_ms) AS q "
        f"FROM {_db(ch)}.events FINAL WHERE type = 'impression'" + _time_filter(from_ms, to_ms)
    )[0]


def first_impressions(ch: ClickHouse) -> Iterator[Row]:
    """Each item's first impression time: item_id, t."""
    return ch.rows(
        f"SELECT item_id, min(ts_ms) AS t FROM {_db(ch)}.events FINAL WHERE type = 'impression' GROUP BY item_id"
    )


def _user_bucket(n_buckets: int, k: int) -> str:
    return f"cityHash64(user_id) % {int(n_buckets)} = {int(k)}"


# The columns of bucket_impressions' rows (besides label) that features may read: the requester's key and the
# impression's context.
IMPRESSION_COLUMNS = ("user_id", "ts_ms", "item_id", "position", "device", "placement", "country")


def bucket_impressions(ch: ClickHouse, n_buckets: int, k: int, window_ms: int, from_ms: int, to_ms: int) -> list[Row]:
    """The impressions in [from_ms, to_ms) of the users in hash bucket k of n, in (user_id, ts_ms) order, each
    labelled 1 when a click of the same request, item and user lands in [ts, ts + window_ms]."""
    where_user = _user_bucket(n_buckets, k)
    db = _db(ch)
    return ch.all(
        "SELECT user_id, ts_ms, item_id, position, device, placement, country, "
        f"arrayExists(x -> x >= ts_ms AND x <= ts_ms + {int(window_ms)}, click_ts) AS label FROM ("
        f" SELECT user_id, ts_ms, item_id, request_id, position, device, placement, country FROM {db}.events FINAL"
        f" WHERE type = 'impression' AND {where_user} AND ts_ms >= {int(from_ms)} AND ts_ms < {int(to_ms)}"
        ") AS imp ANY LEFT JOIN ("
        f" SELECT request_id, item_id, user_id, groupArray(ts_ms) AS click_ts FROM {db}.events FINAL"
        f" WHERE type = 'click' AND {where_user} GROUP BY request_id, item_id, user_id"
        ") AS clk USING (request_id, item_id, user_id) ORDER BY user_id, ts_ms"
    )


def bucket_sequence_events(ch: ClickHouse, n_buckets: int, k: int, to_ms: int, event_types: Sequence[str]) -> list[Row]:
    """The events of `event_types` (a sequence's) before to_ms of the users in hash bucket k of n: user_id, ts_ms,
    item_id in (user_id, ts_ms) order."""
    types = ", ".join(literal(t) for t in event_types)
    return ch.all(
        f"SELECT user_id, ts_ms, item_id FROM {_db(ch)}.events FINAL WHERE type IN ({types}) "
        f"AND {_user_bucket(n_buckets, k)} AND ts_ms < {int(to_ms)} ORDER BY user_id, ts_ms"
    )


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
    "request_id, ts_ms, user_id, model_version, feature_spec_version, device, placement, country, "
    "history_item_ids, history_ts_ms, item_ids, positions, ctrs, degraded"
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


def score_log_rows(ch: ClickHouse, version: str, from_ms: int, to_ms: int) -> Iterator[Row]:
    """A version's logged requests in [from_ms, to_ms) (FINAL: replays collapse), in (ts_ms, request_id) order."""
    return ch.rows(
        f"SELECT {SCORE_LOG_COLUMNS} FROM {_db(ch)}.score_log FINAL "
        f"WHERE {_score_log_where(version, from_ms, to_ms)} ORDER BY ts_ms, request_id"
    )
