"""mmctr-train load-jsonl: JSONL events / items -> ClickHouse rows, column for column as the ingest app."""

import json

from mmctr_trainer.ch import ClickHouse
from mmctr_trainer.cli import main
from mmctr_trainer.loadjsonl import content_hash, event_row, item_row, load_jsonl

from .helpers import fresh_db

# contentHash() of libs/online-store/src/content-hash.ts, computed with Node for these items.
HASH_CASES = [
    ({"title": "Ultimate ramen guide"}, "31135baf495f4da5ff660e1fc6b5b5db68182f65ae201584f032ea5e1b5c7331"),
    (
        {
            "title": "Crème brûlée — 東京 🍜",
            "description": 'tab\there "quoted" back\\slash\nnew\u0001ctl\u007f\u2028',
            "category": "food",
            "tags": ["ramen", "sale"],
            "image": "/x/y.png",
        },
        "d44c4b72a27cbb84f6c3b40c1173419814360d9081be52f8bffcf18ba7462366",
    ),
    (
        {"title": "lone \ud800 surrogate", "description": None, "tags": []},
        "45bda1071c4536f1274aa132852313db3d729fd6474ad2b93161e0e1e3770835",
    ),
]

EVENTS = [
    {
        "schema_version": 1,
        "event_id": "imp-1",
        "type": "impression",
        "ts_ms": 1767571207061,
        "user_id": "u1",
        "item_id": "i1",
        "request_id": "req-1",
        "position": 3,
        "context": {"device": "mobile", "placement": "feed", "country": "US"},
    },
    {
        "schema_version": 1,
        "event_id": "clk-1",
        "type": "click",
        "ts_ms": 1767571209999,
        "user_id": "u1",
        "item_id": "i1",
        "request_id": "req-1",
    },  # no position, no context
    {
        "schema_version": 1,
        "event_id": "cnv-1",
        "type": "conversion",
        "ts_ms": 1767571300500,
        "user_id": "u1",
        "item_id": "i1",
        "request_id": "req-1",
        "position": 3,
        "context": {"device": "tablet"},
        "value": 41.25,
    },
    {
        "schema_version": 1,
        "event_id": "bad-1",
        "type": "view",
        "ts_ms": 1767571300500,
        "user_id": "u1",
        "item_id": "i1",
        "request_id": "req-1",
    },  # not a v1 event type: skipped
]
ITEMS = [
    {
        "schema_version": 1,
        "item_id": "i1",
        "ts_ms": 1767571000123,
        "title": "Ultimate ramen guide",
        "description": "d",
        "category": "food",
        "tags": ["ramen", "sale"],
        "image": "/img/i1.png",
    },
    {"schema_version": 1, "item_id": "i2", "ts_ms": 1767571000999, "title": "Crème brûlée — 東京 🍜"},
]


def test_content_hash_matches_typescript():
    for item, want in HASH_CASES:
        assert content_hash(item) == want
    assert content_hash({"title": "t"}) == content_hash({"title": "t", "description": "", "tags": [], "image": ""})


def test_row_mappers_match_the_ingest_app():
    r = event_row(EVENTS[1], 1234)
    assert r == {
        "event_id": "clk-1",
        "type": "click",
        "ts_ms": 1767571209999,
        "event_time": 1767571209,
        "user_id": "u1",
        "item_id": "i1",
        "request_id": "req-1",
        "position": 0,
        "device": "",
        "placement": "",
        "country": "",
        "value": 0.0,
        "schema_version": 1,
        "ingested_at": 1234,
    }
    i = item_row(ITEMS[1], 99)
    assert (i["updated_at"], i["description"], i["category"], i["tags"], i["image"]) == (1767571000, "", "", [], "")
    assert i["content_hash"] == content_hash(ITEMS[1])


def test_load_jsonl_inserts_every_column(ch: ClickHouse, tmp_path):
    db = fresh_db(ch, ch.database + "_load")
    try:
        ev, it = tmp_path / "events.jsonl", tmp_path / "items.jsonl"
        ev.write_text(
            "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in EVENTS) + "not json\n", encoding="utf-8"
        )
        it.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in ITEMS), encoding="utf-8")
        stats = load_jsonl(db, events=ev, items=it, batch_rows=2, log=lambda _m: None)
        assert [(s.table, s.rows, s.invalid, s.batches) for s in stats] == [("items", 2, 0, 1), ("events", 3, 2, 2)]
        rows = db.all(
            "SELECT event_id, type, ts_ms, toUnixTimestamp(event_time) AS et, position, device, placement, "
            "country, value, schema_version, toUnixTimestamp(ingested_at) AS ia FROM events ORDER BY ts_ms"
        )
        assert [r["event_id"] for r in rows] == ["imp-1", "clk-1", "cnv-1"]
        assert [int(r["et"]) for r in rows] == [1767571207, 1767571209, 1767571300]
        assert [(int(r["position"]), r["device"], r["placement"], r["country"]) for r in rows] == [
            (3, "mobile", "feed", "US"),
            (0, "", "", ""),
            (3, "tablet", "", ""),
        ]
        assert [float(r["value"]) for r in rows] == [0.0, 0.0, 41.25]
        assert all(int(r["ia"]) > 1767571300 for r in rows)  # now, not the event time
        items = db.all(
            "SELECT item_id, toUnixTimestamp(updated_at) AS u, title, description, category, tags, image, "
            "content_hash FROM items ORDER BY item_id"
        )
        assert items[0]["tags"] == ["ramen", "sale"] and items[0]["image"] == "/img/i1.png"
        assert (
            items[1]["title"] == "Crème brûlée — 東京 🍜" and items[1]["tags"] == [] and items[1]["description"] == ""
        )
        assert [int(i["u"]) for i in items] == [1767571000, 1767571000]
        assert [i["content_hash"] for i in items] == [content_hash(ITEMS[0]), content_hash(ITEMS[1])]
        # the CLI wrapper: a second load of the items is a redelivery, collapsed by FINAL
        assert main(["load-jsonl", "--database", db.database, "--clickhouse-url", db.url, "--items", str(it)]) == 0
        assert int(db.all("SELECT count() AS n FROM items FINAL")[0]["n"]) == 2
    finally:
        ch.command(f"DROP DATABASE IF EXISTS {db.database}", database="default")
