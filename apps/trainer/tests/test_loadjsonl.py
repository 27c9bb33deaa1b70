"""mmctr-train load-jsonl: JSONL events / entity snapshots -> the running feature repository's tables, column for
column as ingest writes them (the demo and the ad-platform repositories)."""

import json
import uuid
from typing import Any

import pytest

from mmctr_trainer.ch import ClickHouse
from mmctr_trainer.cli import main
from mmctr_trainer.feature_repo import load_feature_repo
from mmctr_trainer.features import REPO_ROOT
from mmctr_trainer.loadjsonl import EntityReader, EventReader, column_zero, content_hash, load_jsonl

from .helpers import fresh_db
from .test_ad_platform_dataset import AD_REPO, ad_platform_db

DEMO = load_feature_repo(REPO_ROOT / "feature-repos" / "demo")
AD = load_feature_repo(AD_REPO)

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


def _reason(read, line: Any) -> str:
    with pytest.raises(ValueError) as e:
        read(line)
    return str(e.value)


def test_demo_records_read_like_the_compiled_contract():
    read = EventReader(DEMO)
    # the click's own fields, and each attribute it leaves out at the attribute's default
    assert read(EVENTS[1]) == {**EVENTS[1], "position": 0, "device": "", "placement": "", "country": "", "value": 0}
    assert read(EVENTS[0])["device"] == "mobile"  # a request-scope context attribute under context
    assert read(dict(EVENTS[1], device="tv"))["device"] == "tv"  # or at the top level
    bad = dict(EVENTS[0], position="3")
    assert _reason(read, bad) == "attribute 'position': expected int, got string"
    assert _reason(read, dict(EVENTS[0], position=10001)) == "attribute 'position': 10001 is above the maximum 10000"
    assert _reason(read, dict(EVENTS[0], device="tv")) == (
        "attribute 'device' is given both at the top level and under context"
    )
    assert _reason(read, dict(EVENTS[1], sdk="x")) == "unknown attribute 'sdk' (unknown_attributes: reject)"
    assert _reason(read, dict(EVENTS[1], context={"position": 1})) == (
        "unknown attribute 'position' under context (unknown_attributes: reject)"  # candidate scope: top level only
    )
    assert _reason(read, EVENTS[3]).startswith('unknown event type "view" (expected one of: impression, click')
    assert _reason(read, {k: v for k, v in EVENTS[1].items() if k != "request_id"}) == (
        "missing required attribute 'request_id'"
    )
    items = EntityReader(DEMO, DEMO.entities[1])
    assert items(ITEMS[1])["tags"] == [] and items(ITEMS[1])["description"] == ""
    assert _reason(items, dict(ITEMS[0], tags=["a", 1])) == "attribute 'tags': element 1: expected string, got number"
    assert _reason(items, dict(ITEMS[0], title=None)) == "attribute 'title': expected string, got null"


def test_column_zero_by_the_actual_type():
    assert [column_zero(t) for t in ("String", "FixedString(3)", "UInt16", "Float64", "DateTime")] == [
        "",
        "",
        0,
        0,
        0,
    ]
    assert column_zero("Array(String)") == [] and column_zero("Enum8('a\\'b' = 1, 'c' = 2)") == "a'b"


def _jsonl(path, records) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return str(path)


def test_load_jsonl_inserts_every_column(ch: ClickHouse, tmp_path):
    db = fresh_db(ch, ch.database + "_load")
    try:
        ev, it = tmp_path / "events.jsonl", tmp_path / "items.jsonl"
        _jsonl(ev, [*EVENTS, dict(EVENTS[0], event_id="bad-2", value="1")])
        with open(ev, "a", encoding="utf-8") as fh:
            fh.write("not json\n")
        _jsonl(it, ITEMS)
        stats = load_jsonl(db, DEMO, events=ev, entities={"item": it}, batch_rows=2, log=lambda _m: None)
        assert [(s.table, s.rows, s.invalid, s.batches) for s in stats] == [("items", 2, 0, 1), ("events", 3, 3, 2)]
        assert stats[1].reasons["schema: attribute 'value': expected float, got string"] == 1
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


AD_T = 1_767_268_800_000
AD_EVENTS = [
    {
        "schema_version": 1,
        "event_id": "imp-1",
        "type": "ad_impression",
        "ts_ms": AD_T,
        "user_id": "u1",
        "ad_id": "adA",
        "auction_id": "x1",
        "slot": 2,
        "context": {"network": "wifi", "floor_price": 0.4},
    },
    {
        "schema_version": 1,
        "event_id": "imp-2",
        "type": "ad_impression",
        "ts_ms": AD_T + 1,
        "user_id": "u2",
        "ad_id": "adA",
        "auction_id": "x2",
    },  # fmt: skip
    {
        "schema_version": 1,
        "event_id": "clk-1",
        "type": "ad_click",
        "ts_ms": AD_T + 2,
        "user_id": "u1",
        "ad_id": "adA",
        "auction_id": "x1",
        "sdk": "kept, not stored",
    },  # fmt: skip
    {
        "schema_version": 1,
        "event_id": "buy-1",
        "type": "purchase",
        "ts_ms": AD_T + 3,
        "user_id": "u1",
        "ad_id": "adA",
        "revenue": 12.5,
    },  # fmt: skip
    {
        "schema_version": 1,
        "event_id": "bad-1",
        "type": "ad_impression",
        "ts_ms": AD_T,
        "user_id": "u1",
        "ad_id": "adA",
        "auction_id": "x3",
        "slot": "2",
    },  # fmt: skip
]
AD_SNAPSHOTS = {
    "user": [
        {"schema_version": 1, "user_id": "u1", "ts_ms": AD_T - 5, "interests": ["golf"], "is_premium": True},
        {"schema_version": 1, "user_id": "u2", "ts_ms": AD_T - 5, "account_age_days": 1.5},  # not an int
    ],
    "ad": [{"schema_version": 1, "ad_id": "adA", "ts_ms": AD_T - 9, "advertiser_id": "adv1", "campaign_id": "c1"}],
    "advertiser": [{"schema_version": 1, "advertiser_id": "adv1", "ts_ms": AD_T - 9}],  # industry is required
}


def test_load_jsonl_into_the_ad_platform_tables(tmp_path):
    name = f"mmctr_load_ads_{uuid.uuid4().hex[:8]}"
    db = ad_platform_db(name)
    try:
        files = {e: _jsonl(tmp_path / f"{e}.jsonl", recs) for e, recs in AD_SNAPSHOTS.items()}
        stats = load_jsonl(db, AD, events=_jsonl(tmp_path / "ev.jsonl", AD_EVENTS), entities=files, log=lambda _m: 0)
        assert [(s.table, s.rows, s.invalid) for s in stats] == [
            ("user_profiles", 1, 1),
            ("ads", 1, 0),
            ("advertisers", 0, 1),
            ("ad_events", 4, 1),
        ]
        assert stats[0].reasons == {"schema: attribute 'account_age_days': expected int, got number": 1}
        assert stats[2].reasons == {"schema: missing required attribute 'industry'": 1}
        assert stats[3].reasons == {"schema: attribute 'slot': expected int, got string": 1}
        ev = db.all(
            "SELECT event_id, type, user_id, ad_id, auction_id, slot, network, floor_price, revenue, "
            "toUnixTimestamp(event_time) AS et FROM ad_events ORDER BY ts_ms"
        )
        got = [(r["event_id"], r["type"], r["auction_id"], int(r["slot"]), r["network"], float(r["floor_price"]),
                float(r["revenue"])) for r in ev]  # fmt: skip
        assert got == [
            ("imp-1", "ad_impression", "x1", 2, "wifi", 0.4, 0.0),
            ("imp-2", "ad_impression", "x2", 0, "unknown", 0.0, 0.0),  # the attribute's default
            ("clk-1", "ad_click", "x1", 0, "", 0.0, 0.0),  # not its type's attributes: the column type's zero
            ("buy-1", "purchase", "", 0, "", 0.0, 12.5),
        ]
        assert [int(r["et"]) for r in ev] == [AD_T // 1000] * 4
        users = db.all("SELECT user_id, age_band, interests, is_premium, lifetime_spend FROM user_profiles")
        assert users == [
            {"user_id": "u1", "age_band": "unknown", "interests": ["golf"], "is_premium": 1, "lifetime_spend": 0}
        ]
        ads = db.all("SELECT ad_id, format, keywords, toUnixTimestamp(updated_at) AS u FROM ads")
        assert ads == [{"ad_id": "adA", "format": "banner", "keywords": [], "u": (AD_T - 9) // 1000}]
        # the CLI with the repository and an entity file; an entity without a table is refused by name
        args = ["load-jsonl", "--database", name, "--feature-repo", str(AD_REPO)]
        assert main([*args, "--entity", f"ad={files['ad']}"]) == 0
        assert int(db.all("SELECT count() AS n FROM ads FINAL")[0]["n"]) == 1
        with pytest.raises(ValueError, match="no snapshot entity 'item' \\(entities with a table: user, advertiser"):
            main([*args, "--items", files["ad"]])
    finally:
        db.command(f"DROP DATABASE IF EXISTS {name}", database="default")


def test_a_table_the_repository_was_not_applied_to_is_named(ch: ClickHouse, tmp_path):
    with pytest.raises(ValueError, match=r"table .*\.ad_events does not exist: run `mmctr features apply`"):
        load_jsonl(ch, AD, events=_jsonl(tmp_path / "ev.jsonl", AD_EVENTS[:1]), log=lambda _m: 0)
