"""Every SQL statement the platform ships, run on a modern ClickHouse (chdb, in process) and on the local
server (18.16): the migrations exactly as the runner renders them, the views, the analyst queries of
docs/schema.md, the trainer store's queries and the TypeScript repositories' reads, over one small fixture
with known answers. Migrations and repository SQL come from node scripts that use the real runner and the
real repositories (libs/clickhouse/src/migrations/render.cli.ts, tools/compat/src/repository-queries.ts)."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from mmctr_trainer import store
from mmctr_trainer.ch import ClickHouse, ident
from mmctr_trainer.features import REPO_ROOT
from mmctr_trainer.schema import load_repo

from .helpers import event

chdb = pytest.importorskip("chdb", reason="chdb-core is in the trainer's dev extra: bash scripts/setup-python.sh")
from chdb import session as chdb_session  # noqa: E402

T = 1_767_268_800_000  # 2026-01-01 12:00:00 UTC
DAY = 86_400_000
T_S = T // 1000
ENCODERS = {"image_encoder": "img-enc", "text_encoder": "txt-enc"}


def node(script: str, *args: str) -> Any:
    out = subprocess.run(
        ["node", "-r", "./scripts/register.js", script, *args],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def rendered_migrations(database: str, cluster: str | None = None) -> list[dict[str, Any]]:
    args = ["--database", database] + (["--cluster", cluster] if cluster else [])
    return node("libs/clickhouse/src/migrations/render.cli.ts", *args)["migrations"]


class ChdbClickHouse(ClickHouse):
    """The trainer's client API (command / rows / all / insert) over an in-process chdb session, so that
    store.py's functions run unchanged on a modern ClickHouse."""

    def __init__(self, sess: Any, database: str):
        super().__init__(url="chdb:", database=database)
        self._sess = sess

    def command(self, sql: str, database: str | None = None) -> str:
        return str(self._sess.query(sql))

    def rows(self, sql: str, database: str | None = None) -> Iterator[dict[str, Any]]:
        res = self._sess.query(sql.rstrip().rstrip(";"), "JSONEachRow")
        for line in res.bytes().decode("utf-8").splitlines():
            if line.strip():
                yield json.loads(line)

    def insert(self, table: str, rows: Any, database: str | None = None) -> None:
        if not rows:
            return
        cols = ", ".join(ident(c) for c in rows[0].keys())
        body = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows)
        db = ident(database or self.database)
        self._sess.query(f"INSERT INTO {db}.{ident(table)} ({cols}) FORMAT JSONEachRow\n{body}")

    def server_version(self) -> str:
        return str(chdb.chdb_version)


# ---------------------------------------------------------------- the fixture


def ev(event_id: str, type_: str, ts: int, user: str, item: str, request: str, position: int, value: float = 0.0):
    return event(type_, ts, user, item, request, position, event_id=event_id, value=value)


def item(item_id: str, ts: int, title: str, category: str, tags: list[str], content_hash: str) -> dict[str, Any]:
    return {
        "item_id": item_id,
        "ts_ms": ts,
        "updated_at": ts // 1000,
        "title": title,
        "description": f"about {title}",
        "category": category,
        "tags": tags,
        "image": f"file:///img/{item_id}.png",
        "content_hash": content_hash,
        "schema_version": 1,
        "ingested_at": ts // 1000,
    }


def embedding(item_id: str, content_hash: str, pv: str, created_ms: int, fused: list[float], image: float):
    return {
        "item_id": item_id,
        "content_hash": content_hash,
        "image_vec": [image],
        "text_vec": [image + 0.5],
        "fused_vec": fused,
        **ENCODERS,
        "projection_version": pv,
        "created_ms": created_ms,
        "created_at": created_ms // 1000,
    }


def model(version: str, model_type: str, status: str, updated_ms: int, created_s: int) -> dict[str, Any]:
    return {
        "version": version,
        "model_type": model_type,
        "status": status,
        "artifact_uri": f"/registry/{version}",
        "feature_spec_version": "fs-2",
        "metrics": '{"auc": 0.7}',
        "train_from_ms": T - DAY,
        "train_to_ms": T,
        "git_rev": "abc",
        "created_at": created_s,
        "updated_ms": updated_ms,
    }


def score_row() -> dict[str, Any]:
    return {
        "request_id": "r1",
        "ts_ms": T - 10,
        "event_time": (T - 10) // 1000,
        "user_id": "u1",
        "model_version": "m1",
        "feature_spec_version": "fs-2",
        "shadow_model_version": "",
        "device": "mobile",
        "placement": "feed",
        "country": "DE",
        "history_item_ids": ["i9"],
        "history_ts_ms": [T - 5000],
        "item_ids": ["i1", "i2"],
        "positions": [0, 1],
        "ctrs": [0.3, 0.02],
        "shadow_ctrs": [],
        "degraded": 0,
        "context_json": '{"device": "mobile", "placement": "feed", "country": "DE"}',
        "candidate_context_json": '[{"position": 0}, {"position": 1}]',
        "sequences_json": '{"hist": {"keys": ["i9"], "ts_ms": [1767268795000]}}',
        "ingested_at": T_S,
    }


# Ingest batches are stored "now": the documented health query and the dashboard look at recent hours.
HOUR_S = int(time.time()) // 3600 * 3600


def batch(partition: int, rows: int, invalid: int, insert_ms: int, lag_ms: int) -> dict[str, Any]:
    return {
        "ts_ms": HOUR_S * 1000,
        "event_time": HOUR_S,
        "consumer": "ingest-1",
        "topic": "mmctr.events.v1",
        "partition": partition,
        "first_offset": 0,
        "last_offset": rows - 1,
        "rows": rows,
        "invalid": invalid,
        "insert_ms": insert_ms,
        "max_event_lag_ms": lag_ms,
    }


def load_fixture(ch: ClickHouse) -> None:
    e1 = ev("e1", "impression", T, "u1", "i1", "r1", 0)
    ch.insert(
        "events",
        [
            e1,
            ev("e2", "impression", T, "u1", "i2", "r1", 1),
            ev("e3", "click", T + 500, "u1", "i1", "r1", 0),
            ev("e5", "conversion", T + 600, "u1", "i1", "r1", 0, value=2.5),
            ev("e4", "impression", T + DAY, "u2", "i1", "r2", 0),
        ],
    )
    ch.insert("events", [e1])  # a redelivery, in its own part: FINAL collapses it
    ch.insert(
        "items",
        [
            item("i1", T - 2000, "Old", "shoes", ["a"], "h1"),
            item("i1", T - 1000, "New", "boots", ["a", "b"], "h2"),
            item("i2", T - 1500, "Hat", "hats", [], "h3"),
        ],
    )
    ch.insert(
        "item_embeddings",
        [
            embedding("i1", "h1", "p1", 10, [1.0, 0.0], 0.25),
            embedding("i1", "h2", "p1", 20, [0.0, 1.0], 0.5),
            embedding("i2", "h3", "p1", 15, [0.5, 0.5], 0.75),
            embedding("i2", "h3", "p0", 5, [9.0, 9.0], 1.0),
        ],
    )
    # The registry's own writer: m0 served and was retired, m1 was promoted after it.
    store.insert_model_rows(ch, [model("m0", "autoint", "production", 1, T_S - 100)])
    store.insert_model_rows(ch, [model("m1", "qin", "candidate", 2, T_S - 50)])
    store.insert_model_rows(ch, [model("m0", "autoint", "retired", 3, T_S - 100)])
    store.insert_model_rows(ch, [model("m1", "qin", "production", 4, T_S - 50)])
    ch.insert("score_log", [score_row()])
    ch.insert("score_log", [score_row()])  # a replayed request: FINAL collapses it
    ch.insert("ingest_batches", [batch(0, 10, 1, 4, 100), batch(1, 5, 0, 6, 300)])


# ---------------------------------------------------------------- backends


def apply_migrations(ch: ClickHouse, database: str) -> None:
    ch.command(f"CREATE DATABASE IF NOT EXISTS {ident(database)}")
    for m in rendered_migrations(database):
        for statement in m["statements"]:
            ch.command(statement)


@pytest.fixture(scope="module", params=["chdb", "server"])
def db(request, tmp_path_factory) -> Iterator[ClickHouse]:
    name = f"mmctr_compat_{uuid.uuid4().hex[:8]}"
    if request.param == "chdb":
        sess = chdb_session.Session(str(tmp_path_factory.mktemp("chdb")))
        ch: ClickHouse = ChdbClickHouse(sess, name)
        apply_migrations(ch, name)
        sess.query(f"USE {name}")  # the repositories name tables without their database
        load_fixture(ch)
        yield ch
        sess.close()
        return
    ch = ClickHouse.from_env(database=name)
    try:
        ch.command("SELECT 1", database="default")
    except Exception as e:  # pragma: no cover - environment problem
        pytest.fail(f"ClickHouse is not reachable at {ch.url} (start it with bash deploy/local/up): {e}")
    ch.command(f"CREATE DATABASE {name}", database="default")
    try:
        for m in rendered_migrations(name):
            for statement in m["statements"]:
                ch.command(statement, database="default")
        load_fixture(ch)
        yield ch
    finally:
        ch.command(f"DROP DATABASE IF EXISTS {name}", database="default")


def norm(v: Any) -> Any:
    """JSON values comparable across servers: 64-bit integers come quoted from some, floats differ in digits."""
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    if isinstance(v, list):
        return [norm(x) for x in v]
    if isinstance(v, str) and re.fullmatch(r"-?\d+", v):
        return int(v)
    if isinstance(v, float):
        return round(v, 6)
    return v


def q(ch: ClickHouse, sql: str) -> list[dict[str, Any]]:
    return norm(ch.all(sql))


# ---------------------------------------------------------------- migrations and views


def test_migrations_create_every_table_and_view(db: ClickHouse) -> None:
    names = {r["name"] for r in q(db, f"SELECT name FROM system.tables WHERE database = '{db.database}'")}
    created = set()
    for m in rendered_migrations(db.database):
        for s in m["statements"]:
            hit = re.match(r"CREATE (?:TABLE|VIEW) IF NOT EXISTS `[^`]+`\.(\w+)", s)
            if hit:
                created.add(hit.group(1))
    base = {"events", "items", "item_embeddings", "models", "score_log", "ingest_batches"}
    assert base | set(VIEWS) <= created <= names
    cols = [r["name"] for r in q(db, f"DESCRIBE TABLE {db.database}.score_log")]
    assert cols[cols.index("history_item_ids") + 1] == "history_ts_ms"


VIEWS: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "events_dedup": (
        "SELECT event_id, type FROM events_dedup ORDER BY event_id",
        [
            {"event_id": "e1", "type": "impression"},
            {"event_id": "e2", "type": "impression"},
            {"event_id": "e3", "type": "click"},
            {"event_id": "e4", "type": "impression"},
            {"event_id": "e5", "type": "conversion"},
        ],
    ),
    "impressions_labeled": (
        "SELECT event_id, item_id, position, clicks, first_click_ts_ms, clicked FROM impressions_labeled "
        "ORDER BY event_id",
        [
            {"event_id": "e1", "item_id": "i1", "position": 0, "clicks": 1, "first_click_ts_ms": T + 500, "clicked": 1},
            {"event_id": "e2", "item_id": "i2", "position": 1, "clicks": 0, "first_click_ts_ms": 0, "clicked": 0},
            {"event_id": "e4", "item_id": "i1", "position": 0, "clicks": 0, "first_click_ts_ms": 0, "clicked": 0},
        ],
    ),
    "daily_ctr_by_item": (
        "SELECT toString(day) AS day, item_id, impressions, clicks, ctr FROM daily_ctr_by_item ORDER BY day, item_id",
        [
            {"day": "2026-01-01", "item_id": "i1", "impressions": 1, "clicks": 1, "ctr": 1.0},
            {"day": "2026-01-01", "item_id": "i2", "impressions": 1, "clicks": 0, "ctr": 0.0},
            {"day": "2026-01-02", "item_id": "i1", "impressions": 1, "clicks": 0, "ctr": 0.0},
        ],
    ),
    "items_latest": (
        "SELECT item_id, latest_ts_ms, title, category, tags, content_hash, first_seen_ms "
        "FROM items_latest ORDER BY item_id",
        [
            {
                "item_id": "i1",
                "latest_ts_ms": T - 1000,
                "title": "New",
                "category": "boots",
                "tags": ["a", "b"],
                "content_hash": "h2",
                "first_seen_ms": T - 2000,
            },
            {
                "item_id": "i2",
                "latest_ts_ms": T - 1500,
                "title": "Hat",
                "category": "hats",
                "tags": [],
                "content_hash": "h3",
                "first_seen_ms": T - 1500,
            },
        ],
    ),
    "item_embeddings_latest": (
        "SELECT item_id, projection_version, content_hash, fused_vec, latest_created_ms "
        "FROM item_embeddings_latest ORDER BY item_id, projection_version",
        [
            {
                "item_id": "i1",
                "projection_version": "p1",
                "content_hash": "h2",
                "fused_vec": [0.0, 1.0],
                "latest_created_ms": 20,
            },
            {
                "item_id": "i2",
                "projection_version": "p0",
                "content_hash": "h3",
                "fused_vec": [9.0, 9.0],
                "latest_created_ms": 5,
            },
            {
                "item_id": "i2",
                "projection_version": "p1",
                "content_hash": "h3",
                "fused_vec": [0.5, 0.5],
                "latest_created_ms": 15,
            },
        ],
    ),
    "models_current": (
        "SELECT version, model_type, status, latest_updated_ms FROM models_current ORDER BY version",
        [
            {"version": "m0", "model_type": "autoint", "status": "retired", "latest_updated_ms": 3},
            {"version": "m1", "model_type": "qin", "status": "production", "latest_updated_ms": 4},
        ],
    ),
    "score_log_items": (
        "SELECT request_id, item_id, position, ctr, degraded FROM score_log_items ORDER BY position",
        [
            {"request_id": "r1", "item_id": "i1", "position": 0, "ctr": 0.3, "degraded": 0},
            {"request_id": "r1", "item_id": "i2", "position": 1, "ctr": 0.02, "degraded": 0},
        ],
    ),
    "ingestion_health_hourly": (
        "SELECT toUnixTimestamp(hour) AS h, topic, batches, rows, invalid, avg_insert_ms, "
        "max_insert_ms, max_event_lag_ms FROM ingestion_health_hourly",
        [
            {
                "h": HOUR_S,
                "topic": "mmctr.events.v1",
                "batches": 2,
                "rows": 15,
                "invalid": 1,
                "avg_insert_ms": 5.0,
                "max_insert_ms": 6,
                "max_event_lag_ms": 300,
            },
        ],
    ),
    "ctr_by_item": (
        "SELECT item_id, impressions, clicks, click_events, conversions, conversion_value, ctr FROM ctr_by_item "
        "ORDER BY item_id",
        [
            {
                "item_id": "i1",
                "impressions": 2,
                "clicks": 1,
                "click_events": 1,
                "conversions": 1,
                "conversion_value": 2.5,
                "ctr": 0.5,
            },
            {
                "item_id": "i2",
                "impressions": 1,
                "clicks": 0,
                "click_events": 0,
                "conversions": 0,
                "conversion_value": 0.0,
                "ctr": 0.0,
            },
        ],
    ),
    "score_calibration": (
        "SELECT model_version, bucket, bucket_lo, bucket_hi, impressions, clicks, predicted_ctr, "
        "observed_ctr, degraded_impressions FROM score_calibration ORDER BY bucket",
        [
            {
                "model_version": "m1",
                "bucket": 0,
                "bucket_lo": 0.0,
                "bucket_hi": 0.05,
                "impressions": 1,
                "clicks": 0,
                "predicted_ctr": 0.02,
                "observed_ctr": 0.0,
                "degraded_impressions": 0,
            },
            {
                "model_version": "m1",
                "bucket": 6,
                "bucket_lo": 0.3,
                "bucket_hi": 0.35,
                "impressions": 1,
                "clicks": 1,
                "predicted_ctr": 0.3,
                "observed_ctr": 1.0,
                "degraded_impressions": 0,
            },
        ],
    ),
}


def test_every_view_runs(db: ClickHouse) -> None:
    """Every view the migrations leave answers a full read; those in VIEWS are also checked row by row."""
    views = {
        r["name"] for r in q(db, f"SELECT name FROM system.tables WHERE database = '{db.database}' AND engine = 'View'")
    }
    assert set(VIEWS) <= views
    for view in sorted(views):
        db.all(f"SELECT * FROM {db.database}.{view}")


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_view_answers(db: ClickHouse, view: str) -> None:
    sql, expected = VIEWS[view]
    assert q(db, sql.replace(f"FROM {view}", f"FROM {db.database}.{view}")) == norm(expected)


# ---------------------------------------------------------------- docs/schema.md analyst queries

DOC_EXPECTED: list[list[dict[str, Any]]] = [
    # CTR by day
    [
        {"day": "2026-01-01", "imps": 2, "clicks": 1, "ctr": 0.5},
        {"day": "2026-01-02", "imps": 1, "clicks": 0, "ctr": 0.0},
    ],
    # Top items by CTR with at least 200 impressions: none in the fixture
    [],
    # One item's CTR by hour
    [
        {"impressions": 1, "clicks": 1, "ctr": 1.0},
        {"impressions": 1, "clicks": 0, "ctr": 0.0},
    ],
    # CTR by position
    [{"position": 0, "imps": 2, "ctr": 0.5}, {"position": 1, "imps": 1, "ctr": 0.0}],
    # CTR by day and model version
    [{"day": "2026-01-01", "model_version": "m1", "scored": 2, "observed_ctr": 0.5, "predicted_ctr": 0.16}],
    # Ingestion health in the last day (compared on the columns below)
    [{"topic": "mmctr.events.v1", "batches": 2, "rows": 15, "invalid": 1}],
    # The production model
    [{"version": "m1", "model_type": "qin", "metrics": '{"auc": 0.7}'}],
]


def doc_queries() -> list[str]:
    text = (REPO_ROOT / "docs" / "schema.md").read_text(encoding="utf-8")
    return re.findall(r"```sql\n(.*?)```", text, flags=re.S)


def test_docs_list_the_queries_checked_here() -> None:
    assert len(doc_queries()) == len(DOC_EXPECTED)


@pytest.mark.parametrize("i", range(len(DOC_EXPECTED)))
def test_doc_query_answers(db: ClickHouse, i: int) -> None:
    sql = doc_queries()[i].replace("mmctr.", f"{db.database}.")
    rows = q(db, sql)
    expected = norm(DOC_EXPECTED[i])
    assert [{k: r[k] for k in e} for r, e in zip(rows, expected, strict=False)] == expected
    assert len(rows) == len(expected)


# ---------------------------------------------------------------- the trainer store


def test_store_catalogue_queries(db: ClickHouse) -> None:
    assert store.newest_projection_version(db) == "p1"
    vectors = sorted(norm(list(store.item_vectors(db, "p1"))), key=lambda r: (r["item_id"], r["content_hash"]))
    assert vectors == [
        {"item_id": "i1", "content_hash": "h1", "v": [1.0, 0.0]},
        {"item_id": "i1", "content_hash": "h2", "v": [0.0, 1.0]},
        {"item_id": "i2", "content_hash": "h3", "v": [0.5, 0.5]},
    ]
    assert norm(list(store.entity_versions(db, "items", "item_id", ["category", "tags", "content_hash"]))) == [
        {"item_id": "i1", "ts_ms": T - 2000, "category": "shoes", "tags": ["a"], "content_hash": "h1"},
        {"item_id": "i1", "ts_ms": T - 1000, "category": "boots", "tags": ["a", "b"], "content_hash": "h2"},
        {"item_id": "i2", "ts_ms": T - 1500, "category": "hats", "tags": [], "content_hash": "h3"},
    ]


DEMO_EVENTS = store.EventSource.of(load_repo())


def test_store_training_set_queries(db: ClickHouse) -> None:
    src = DEMO_EVENTS
    span = norm(store.impression_span(db, src, (0.5, 0.9)))
    assert (span["lo"], span["hi"], span["n"]) == (T, T + DAY, 3)
    assert len(span["q"]) == 2 and span["q"][0] == T and T < span["q"][1] <= T + DAY
    assert norm(store.impression_span(db, src, (0.5, 0.9), from_ms=T + 1, to_ms=T + 2 * DAY))["n"] == 1
    assert sorted(norm(list(store.first_impressions(db, src))), key=lambda r: r["key"]) == [
        {"key": "i1", "t": T},
        {"key": "i2", "t": T},
    ]
    labelled = norm(store.bucket_impressions(db, src, 1, 0, 1000, T, T + 2 * DAY))
    assert sorted((r["user_id"], r["ts_ms"], r["item_id"], r["position"], r["label"]) for r in labelled) == [
        ("u1", T, "i1", 0, 1),
        ("u1", T, "i2", 1, 0),
        ("u2", T + DAY, "i1", 0, 0),
    ]
    assert labelled[0]["device"] == "mobile" and labelled[-1]["user_id"] == "u2"
    # A window that closes before the click: no label.
    assert [r["label"] for r in norm(store.bucket_impressions(db, src, 1, 0, 100, T, T + 1))] == [0, 0]
    clicks = norm(store.bucket_sequence_events(db, src, 1, 0, T + DAY, ["click"], "item_id"))
    assert clicks == [{"user_id": "u1", "ts_ms": T + 500, "item_id": "i1"}]


def test_store_registry_queries(db: ClickHouse) -> None:
    assert store.model_latest_updated_ms(db, "m1") == 4
    current = norm(store.models_current(db))
    assert [(r["version"], r["status"], r["created_at"], r["latest_updated_ms"]) for r in current] == [
        ("m0", "retired", T_S - 100, 3),
        ("m1", "production", T_S - 50, 4),
    ]
    assert current[1]["metrics"] == '{"auc": 0.7}' and current[1]["train_to_ms"] == T


def test_store_score_log_queries(db: ClickHouse) -> None:
    # Planning reads skip FINAL: both copies of the replayed request count.
    assert norm(store.score_log_span(db, "m1", None, None)) == {"n": 2, "lo": T - 10, "hi": T - 10}
    assert norm(store.score_log_span(db, "m1", T, None))["n"] == 0
    assert norm(list(store.score_log_slice_counts(db, "m1", None, None, T - 10, 1000))) == [{"s": 0, "n": 2}]
    rows = norm(list(store.score_log_rows(db, "m1", T - 1000, T)))
    expected = {k: v for k, v in score_row().items() if k in store.SCORE_LOG_COLUMNS.split(", ")}
    assert rows == [norm(expected)]


# ---------------------------------------------------------------- the TypeScript repositories' reads

# Rows that more than one read returns.
CATALOGUE_I1 = {
    "item_id": "i1",
    "ts_ms": T - 1000,
    "title": "New",
    "description": "about New",
    "category": "boots",
    "tags": ["a", "b"],
    "image": "file:///img/i1.png",
    "content_hash": "h2",
}
CATALOGUE_I2 = {
    "item_id": "i2",
    "ts_ms": T - 1500,
    "title": "Hat",
    "description": "about Hat",
    "category": "hats",
    "tags": [],
    "image": "file:///img/i2.png",
    "content_hash": "h3",
}
VECTORS_I1 = {"item_id": "i1", "content_hash": "h2", "ts_ms": T - 1000, "image_vec": [0.5], "text_vec": [1.0]}
CATALOG_VECTORS = [
    {"item_id": "i1", "v": [0.0, 1.0], "latest_created_ms": 20},
    {"item_id": "i2", "v": [0.5, 0.5], "latest_created_ms": 15},
]

CATALOG_I1 = {
    "item_id": "i1",
    "category": "boots",
    "tags": ["a", "b"],
    "latest_ts_ms": T - 1000,
    "ingested_s": (T - 1000) // 1000,
}
CATALOG_I2 = {
    "item_id": "i2",
    "category": "hats",
    "tags": [],
    "latest_ts_ms": T - 1500,
    "ingested_s": (T - 1500) // 1000,
}

REPOSITORY_EXPECTED: dict[str, list[dict[str, Any]]] = {
    "analytics.ctrOverTime": [
        {"t": T_S, "impressions": 2, "clicks": 1},
        {"t": T_S + 86400, "impressions": 1, "clicks": 0},
    ],
    "analytics.calibration": [
        {"model_version": "m1", "bucket": 0.02, "n": 1, "predicted": 0.02, "observed": 0.0},
        {"model_version": "m1", "bucket": 0.3, "n": 1, "predicted": 0.3, "observed": 1.0},
    ],
    "analytics.models": [
        {
            "version": "m1",
            "model_type": "qin",
            "status": "production",
            "metrics": '{"auc": 0.7}',
            "created_at": "2026-01-01 11:59:10",
        },
        {
            "version": "m0",
            "model_type": "autoint",
            "status": "retired",
            "metrics": '{"auc": 0.7}',
            "created_at": "2026-01-01 11:58:20",
        },
    ],
    "analytics.ingestThroughput": [{"t": HOUR_S, "rows": 15, "invalid": 1, "avg_insert_ms": 5.0}],
    "embeddings.catalogue": [CATALOGUE_I1, CATALOGUE_I2],
    "embeddings.catalogue(i1)": [CATALOGUE_I1],
    "embeddings.embeddedKeys": [{"item_id": "i1", "content_hash": "h2"}, {"item_id": "i2", "content_hash": "h3"}],
    "embeddings.currentVectors": [
        VECTORS_I1,
        {"item_id": "i2", "content_hash": "h3", "ts_ms": T - 1500, "image_vec": [0.75], "text_vec": [1.25]},
    ],
    "embeddings.currentVectors(i1)": [
        VECTORS_I1,
    ],
    # The item cache's pages: the key range first (rows counted, i1 has two versions), then its rows by range.
    # The item cache's change test: rows ingested in a span of seconds, and the sum of their (key, ts_ms) hashes.
    "catalog.itemsIngested": [{"n": 3, "h": [("i1", T - 2000), ("i1", T - 1000), ("i2", T - 1500)]}],
    "catalog.itemsIngested(i1's new version)": [{"n": 1, "h": [("i1", T - 1000)]}],
    "catalog.itemsIngested(before it)": [{"n": 2, "h": [("i1", T - 2000), ("i2", T - 1500)]}],
    "catalog.vectorsCreated": [{"n": 2, "h": [("i1", 10), ("i2", 15)]}],
    # The reconcile's digests per bucket of the watermark (1 s of ingested_at, 10 ms of created_ms), cut before a value.
    "catalog.itemBuckets": [
        {"b": T_S - 2, "n": 2, "h": [("i1", T - 2000), ("i2", T - 1500)]},
        {"b": T_S - 1, "n": 1, "h": [("i1", T - 1000)]},
    ],
    "catalog.itemBuckets(before)": [{"b": T_S - 2, "n": 2, "h": [("i1", T - 2000), ("i2", T - 1500)]}],
    "catalog.vectorBuckets(before)": [{"b": 1, "n": 2, "h": [("i1", 10), ("i2", 15)]}],
    "catalog.itemPage": [{"n": 3, "last": "i2"}],
    "catalog.itemPage(limit 1)": [{"n": 1, "last": "i1"}],
    "catalog.items": [CATALOG_I1, CATALOG_I2],
    "catalog.items(after i1)": [CATALOG_I2],
    # A bucket read again: pages of the keys with a row in [since, until), each key's newest version.
    "catalog.itemPage(until)": [{"n": 2, "last": "i2"}],
    "catalog.items(until)": [CATALOG_I1],
    "catalog.vectorPage": [{"n": 3, "last": "i2"}],
    "catalog.vectorPage(since 15)": [{"n": 1, "last": "i1"}],
    "catalog.vectors": CATALOG_VECTORS,
    "catalog.vectors(any projection)": CATALOG_VECTORS,
    "catalog.vectorPage(until 15)": [{"n": 1, "last": "i1"}],
    "catalog.vectors(until 15)": CATALOG_VECTORS[:1],
    "registry.newest(production)": [
        {"version": "m1", "model_type": "qin", "artifact_uri": "/registry/m1", "feature_spec_version": "fs-2"},
    ],
    "registry.productionVersions": [
        {
            "version": "m1",
            "model_type": "qin",
            "artifact_uri": "/registry/m1",
            "feature_spec_version": "fs-2",
            "current": 1,
        },
        {
            "version": "m0",
            "model_type": "autoint",
            "artifact_uri": "/registry/m0",
            "feature_spec_version": "fs-2",
            "current": 0,
        },
    ],
    # The fixture's request, stored twice (the warm-up's ranking reads without FINAL): 2 each.
    "scored.mostScored": [{"item_id": "i1", "n": 2}, {"item_id": "i2", "n": 2}],
    # Day partitions as `mmctr retention` reads them (bytes on disk differ between servers: not compared).
    "retention.partitions(events)": [
        {"partition_id": "20260101", "rows": 5, "newest": T_S},
        {"partition_id": "20260102", "rows": 1, "newest": T_S + DAY // 1000},
    ],
    "retention.dropped": [],
    "finalizer.frozenBeforeS": [{"before": 0}],
    # Frozen through the end of T's day and the lookback day after it (both servers run in UTC here).
    "finalizer.frozenBeforeAfterDropS": [{"before": T_S - 12 * 3600 + 2 * DAY // 1000}],
}

# The name the retention reads were captured with (tools/compat/src/repository-queries.ts).
DATABASE_PLACEHOLDER = "'mmctr_compat_database'"


@pytest.fixture(scope="module")
def repository_queries() -> dict[str, str]:
    return {c["call"]: c["sql"] for c in node("tools/compat/src/repository-queries.ts")}


def test_every_repository_query_is_checked(repository_queries: dict[str, str]) -> None:
    assert set(repository_queries) == set(REPOSITORY_EXPECTED)


@pytest.mark.parametrize("call", sorted(REPOSITORY_EXPECTED))
def test_repository_query_answers(db: ClickHouse, repository_queries: dict[str, str], call: str) -> None:
    sql = repository_queries[call].replace(DATABASE_PLACEHOLDER, f"'{db.database}'")
    rows = db.all(sql, database=db.database)
    if call == "retention.partitions(events)":
        assert all(int(r.pop("bytes")) > 0 for r in rows)
    if call in ("embeddings.embeddedKeys", "catalog.vectors") or call.startswith("catalog.vectors("):
        rows.sort(key=lambda r: r["item_id"])  # no ORDER BY: the repository builds a set, or upserts
    expected = REPOSITORY_EXPECTED[call]
    if call.startswith(
        ("catalog.itemsIngested", "catalog.vectorsCreated", "catalog.itemBuckets", "catalog.vectorBuckets")
    ):
        # The server's own cityHash64 of the expected rows' (key, version), summed: the rows summed must be these.
        expected = [{**r, "h": hash_sum(db, r["h"])} for r in expected]
    assert norm(rows) == norm(expected)


def hash_sum(db: ClickHouse, versions: list[tuple[str, int]]) -> str:
    terms = " + ".join(f"cityHash64('{key}', toUInt64({ts}))" for key, ts in versions)
    return str(db.all(f"SELECT toString({terms}) AS h")[0]["h"])


# ---------------------------------------------------------------- the analytics finalizer's writes

# Views backed by the rollups, each equal to its `_exact` twin once the fixture's hours are finalized.
ROLLUP_VIEWS = [
    "daily_ctr_by_item",
    "score_calibration",
    "hourly_ctr_by_item",
    "daily_ctr_by_model",
    "hourly_ctr",
    "daily_ctr_by_category",
    "ctr_by_item",
    "ingestion_health_hourly",
    "score_calibration_fine",
]


def sorted_rows(db: ClickHouse, view: str) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in q(db, f"SELECT * FROM {db.database}.{view}"))


def test_finalize_writes_keep_rollup_views_equal_to_exact(db: ClickHouse) -> None:
    """`mmctr analytics finalize`'s writes for the fixture's hours (tools/compat/src/finalize-statements.ts);
    afterwards the views read the rollups, not the open tail, and still answer as their `_exact` twins."""
    hours = [T_S // 3600 * 3600 - 3600, T_S // 3600 * 3600, (T_S + DAY // 1000) // 3600 * 3600]
    out = node(
        "tools/compat/src/finalize-statements.ts",
        *("--hours", ",".join(map(str, hours)), "--ingest-hours", str(HOUR_S), "--version", "7"),
    )
    dirty_ingest_hours = out["dirtyIngestHours"]
    assert norm(db.all(dirty_ingest_hours, database=db.database)) == [{"h": HOUR_S}]
    for w in out["writes"]:
        if "command" in w:
            db.command(w["command"], database=db.database)
        else:
            db.insert(w["insert"], w["rows"])
    assert q(db, f"SELECT count() AS n FROM {db.database}.impression_outcomes_open") == [{"n": 0}]
    # The month was rebuilt after each day, under that day's version: the newest holds both days.
    monthly = f"SELECT version, sum(impressions) AS n FROM {db.database}.ctr_monthly_by_item GROUP BY version"
    assert sorted(q(db, monthly), key=lambda r: r["version"]) == [{"version": 7, "n": 2}, {"version": 8, "n": 3}]
    for view in ROLLUP_VIEWS:
        assert (view, sorted_rows(db, view)) == (view, sorted_rows(db, view + "_exact"))
    # Ingestion health: rolled up (nothing dirty, nothing read at query time), the same answers.
    assert db.all(dirty_ingest_hours, database=db.database) == []
    assert q(db, f"SELECT sum(batches) AS n FROM {db.database}.ingest_health_hourly") == [{"n": 2}]


# ---------------------------------------------------------------- cluster DDL


def test_cluster_ddl_parses_on_a_modern_server() -> None:
    """The runner's cluster rendering (ON CLUSTER, Replicated*, Distributed) is valid modern ClickHouse
    syntax; no cluster runs here, so this checks the parser only (EXPLAIN AST executes nothing)."""
    sess = chdb_session.Session()
    try:
        statements = [s for m in rendered_migrations("mmctr", cluster="ctr_cluster") for s in m["statements"]]
        assert any("ENGINE = Distributed(ctr_cluster" in s for s in statements)
        for s in statements:
            ast = str(sess.query("EXPLAIN AST " + s, "TSV"))
            if s.startswith("INSERT"):  # backfills write through the Distributed tables, on no cluster
                assert "ON CLUSTER" not in s and ast.startswith("InsertQuery"), ast[:200]
                continue
            assert "ON CLUSTER ctr_cluster" in s
            assert re.match(r"(CreateQuery|AlterQuery|DropQuery) mmctr ", ast), ast[:200]
    finally:
        sess.close()
