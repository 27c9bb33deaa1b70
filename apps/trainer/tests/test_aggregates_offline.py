"""Point-in-time aggregation values (dataset/aggregate_values.py) on the local ClickHouse 18.16 and on chdb:
the edge rule at bucket and window edges (closed buckets only: no leak of events at or after the anchor, nor of
the anchor's open bucket), equality with the
Python bucket twin (mmctr_trainer.aggregates) on random event streams, the golden vectors' scenario, ratios,
filters, composite keys read as of each event, and the declared transforms."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from typing import Any

import numpy as np
import pytest

from mmctr_trainer.aggregates import aggregation_op, bucket_start, duration_ms, smoothed_ratio, tier_for, window_buckets
from mmctr_trainer.ch import ClickHouse
from mmctr_trainer.dataset.aggregate_values import aggregate_columns, aggregate_windows
from mmctr_trainer.feature_repo import REPO_ROOT, FeatureRepo, parse_feature_repo

from .helpers import event, item, server_or_chdb_db

VECTORS = json.loads((REPO_ROOT / "libs" / "aggregates" / "test-vectors" / "buckets.json").read_text(encoding="utf-8"))
H = 1_767_225_600_000  # 2026-01-01T00:00:00Z: a minute, hour and day boundary
MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
WINDOWS = ["1h", "24h", "7d"]
TIERS = [{"up_to": "1h", "bucket": "1m"}, {"up_to": "7d", "bucket": "1h"}]
HOURLY = [{"up_to": "7d", "bucket": "1h"}]

# Besides the online counters' fixture's declarations: a log1p count, a clipped and bucketized count and a
# ratio without smoothing (its default shows).
EXTRA: list[dict[str, Any]] = [
    {"name": "item_impressions_log", "key": ["item"], "source": "impression", "op": "count", "windows": WINDOWS,
     "granularity": TIERS, "transform": "log1p"},
    {"name": "item_click_level", "key": ["item"], "source": "click", "op": "count", "windows": ["24h"],
     "granularity": HOURLY, "clip": [0, 4], "transform": "bucketize", "boundaries": [1, 3]},
    {"name": "item_raw_ctr", "key": ["item"], "op": {"ratio": ["item_clicks", "item_impressions"]},
     "windows": ["1h"], "default": 0.5},
]  # fmt: skip


def demo_repo() -> FeatureRepo:
    """The repository of test/integration/aggregates/demo-aggregations.ts (the one ingest's counters are
    tested with), read through node, plus EXTRA."""
    fixture = "./test/integration/aggregates/demo-aggregations.ts"
    script = f"console.log(JSON.stringify(require({json.dumps(fixture)}).demoWithAggregations()))"
    out = subprocess.run(
        ["node", "-r", "./scripts/register.js", "-e", script], cwd=REPO_ROOT, check=True, capture_output=True, text=True
    )
    doc = json.loads(out.stdout)
    doc["aggregations"] += EXTRA
    return parse_feature_repo(doc, "demo with aggregations")


REPO = demo_repo()
BY_NAME = {a["name"]: a for a in REPO.aggregations}


@pytest.fixture(params=["server", "chdb"])
def db(request, ch: ClickHouse) -> Any:
    yield from server_or_chdb_db(request, ch, "mmctr_agg")


def imp(ts: int, item_id: str = "i1", user: str = "u1", device: str = "mobile", value: float = 0.0, **kw: Any):
    return event("impression", ts, user, item_id, f"r{ts}", device=device, value=value, **kw)


def anchors_at(times: list[int], item_id: str = "i1", user: str = "u1") -> dict[str, Any]:
    return {"ts_ms": times, "item_id": [item_id] * len(times), "user_id": [user] * len(times)}


# ---------------------------------------------------------------- edges: nothing at or after t counts


def test_events_at_and_after_the_anchor_never_count_nor_its_open_bucket(db: ClickHouse) -> None:
    # Window edges of the anchor at H (c = H): H - 1h - 1 is outside its 1h window, H - 1h inside.
    db.insert("events", [imp(ts) for ts in (H - HOUR - 1, H - HOUR, H - 1, H, H + 1)])
    got = aggregate_windows(db, REPO, anchors_at([H - 2 * HOUR, H, H + 1, H + 2, H + MIN, H + HOUR, H + 9 * DAY]))
    np.testing.assert_array_equal(
        got["item_impressions"],
        [
            [0, 0, 0],  # before the first event
            [2, 3, 3],  # at H: the buckets before H; H and H + 1 are not yet
            [2, 3, 3],  # at H + 1: H is before t but its minute (and hour) is still open
            [2, 3, 3],  # at H + 2: the same, however many events the open bucket gets
            [3, 3, 3],  # at H + 1m: the minute of H closed (H, H + 1 join), the minute of H - 1h rolled out
            [2, 5, 5],  # at H + 1h: the hour of H closed; the 1h window holds H and H + 1 only
            [0, 0, 0],  # every bucket rolled out
        ],
    )


def test_a_window_reaches_back_to_its_first_bucket_start(db: ClickHouse) -> None:
    t = H + 30 * MIN  # inside the hour: the 24h window of 1h buckets is [H - 24h, H), not [t - 24h, t)
    db.insert("events", [imp(ts) for ts in (H - DAY - 1, H - DAY, t - DAY - 1)])
    got = aggregate_windows(db, REPO, anchors_at([t, H + HOUR]))["item_impressions"][:, 1]
    np.testing.assert_array_equal(got, [2, 0])  # at H + 1h the bucket of H - 24h rolled out


# ---------------------------------------------------------------- the Python twin and the golden vectors


def test_the_golden_scenario(db: ClickHouse) -> None:
    s = VECTORS["scenario"]
    db.insert("events", [imp(ts, item_id="g") for ts in s["events"]])
    times = [q["t"] for q in s["queries"]]
    got = aggregate_windows(db, REPO, anchors_at(times, item_id="g"))["item_impressions"]
    for i, q in enumerate(s["queries"]):
        w = next(w for w in WINDOWS if duration_ms(w) == q["window"])
        assert tier_for(q["window"], TIERS)["bucket"] == ("1m" if q["bucket"] == MIN else "1h")
        assert got[i, WINDOWS.index(w)] == q["count"], q


def random_store(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Events of 3 users and 4 items over ~9 days with bursts on bucket edges, item versions changing the
    category, and anchors at random times (some on edges, some at event times)."""
    r = np.random.default_rng(seed)
    t0 = H - 8 * DAY
    edges = [t0 + k * HOUR + d for k in range(0, 9 * 24, 7) for d in (-1, 0, 1)]
    times = np.concatenate([r.integers(t0, H + DAY, 300), r.choice(edges, 60)])
    events = [
        event(
            str(r.choice(["impression", "click", "conversion"], p=[0.6, 0.3, 0.1])),
            int(ts),
            f"u{r.integers(3)}",
            f"i{r.integers(4)}",
            f"r{n}",
            device=str(r.choice(["mobile", "desktop"])),
            value=float(r.integers(0, 8)) / 4,
        )
        for n, ts in enumerate(times)
    ]
    items = [
        item(f"i{i}", int(r.integers(t0 - DAY, H + DAY)), str(r.choice(["books", "toys"])), [], f"h{i}{k}")
        for i in range(4)
        for k in range(3)
    ]
    at = np.concatenate([r.integers(t0, H + DAY, 80), r.choice(edges, 20), r.choice(times, 20)])
    anchors = {
        "ts_ms": at,
        "user_id": [f"u{r.integers(3)}" for _ in at],
        "item_id": [f"i{r.integers(4)}" for _ in at],
    }
    return events, items, anchors


def category_as_of(items: list[dict[str, Any]], item_id: str, ts: int) -> str:
    versions = [v for v in items if v["item_id"] == item_id and v["ts_ms"] <= ts]
    return max(versions, key=lambda v: v["ts_ms"])["category"] if versions else ""


def twin_value(a: dict[str, Any], events: list[dict[str, Any]], items, row: dict[str, Any], w: str) -> float:
    """The online counters at t, by the Python twin: bucket every event the aggregation counts into the anchor's
    key value (also those after t: a request replayed later reads the same), and sum the window's buckets."""
    window = duration_ms(w)
    b = duration_ms(tier_for(window, a["granularity"])["bucket"])
    t = row["ts_ms"]

    def key(e: dict[str, Any], at: int) -> tuple[str, ...]:
        first = e["item_id"] if a["key"][0] == "item" else e["user_id"]
        return (first, category_as_of(items, e["item_id"], at)) if len(a["key"]) > 1 else (first,)

    counters: Counter[int] = Counter()
    for e in events:
        matches = all(e[k] == v for k, v in a.get("filter", {}).items())
        if e["type"] == a["source"] and matches and key(e, e["ts_ms"]) == key(row, t):
            counters[bucket_start(e["ts_ms"], b)] += e[a["op"]["sum"]] if aggregation_op(a) == "sum" else 1
    return sum(counters[s] for s in window_buckets(t, window, b))


def twin_row(name: str, events, items, row: dict[str, Any]) -> list[float]:
    a = BY_NAME[name]
    if "source" in a:
        return [twin_value(a, events, items, row, w) for w in a["windows"]]
    num, den = (BY_NAME[n] for n in a["op"]["ratio"])
    smoothing = a["op"].get("smoothing", [0, 0])
    return [
        smoothed_ratio(twin_value(num, events, items, row, w), twin_value(den, events, items, row, w),
                       smoothing, a["default"])
        for w in a["windows"]
    ]  # fmt: skip


@pytest.mark.parametrize("seed", [1, 2])
def test_equal_to_the_python_twin_on_random_streams(db: ClickHouse, seed: int) -> None:
    events, items, anchors = random_store(seed)
    db.insert("events", events)
    db.insert("events", events[:40])  # redelivered: counted once
    db.insert("items", items)
    got = aggregate_windows(db, REPO, anchors)
    rows = [{k: v[i] for k, v in anchors.items()} for i in range(len(anchors["ts_ms"]))]
    for name in BY_NAME:
        want = np.array([twin_row(name, events, items, row) for row in rows])
        np.testing.assert_allclose(got[name], want, rtol=1e-9, atol=1e-9, err_msg=name)
    assert got["user_category_clicks"].any() and got["item_mobile_value"].any()


# ---------------------------------------------------------------- keys, ratios, transforms, errors


def test_a_composite_key_reads_the_attribute_as_of_each_event(db: ClickHouse) -> None:
    db.insert("items", [item("i1", H - 10 * HOUR, "books", [], "h1"), item("i1", H - 5 * HOUR, "toys", [], "h2")])
    clicks = [event("click", ts, "u1", "i1", "r") for ts in (H - 20 * HOUR, H - 8 * HOUR, H - 6 * HOUR, H - HOUR)]
    db.insert("events", [*clicks, event("click", H - 2 * HOUR, "u1", "i2", "r")])  # i2: no version, category ''
    anchors = {"ts_ms": [H, H - 5 * HOUR - 1, H], "user_id": ["u1"] * 3, "item_id": ["i1", "i1", "i9"]}
    got = aggregate_windows(db, REPO, anchors)["user_category_clicks"][:, 0]
    # At H i1 is 'toys' (one click since); just before H - 5h 'books' (the click at H - 8h; the one at H - 6h is in
    # the hour still open then); i9 has no version: '' like i2 and the click before i1's first version.
    np.testing.assert_array_equal(got, [1, 1, 2])


def test_ratios_filters_and_transforms(db: ClickHouse) -> None:
    db.insert(
        "events",
        [
            imp(H - 3 * HOUR, value=2.5),
            imp(H - 2 * HOUR, device="desktop", value=7.0),
            imp(H - HOUR, value=0.5),
            *(event("click", H - HOUR + k, "u1", "i1", "r") for k in range(5)),
        ],
    )
    anchors = {"ts_ms": [H, H], "user_id": ["u1", "u1"], "item_id": ["i1", "i2"]}
    raw = aggregate_windows(db, REPO, anchors)
    np.testing.assert_array_equal(raw["item_mobile_value"][:, 0], [3.0, 0.0])  # desktop filtered out
    np.testing.assert_allclose(raw["item_ctr"][0], [(5 + 1) / (1 + 20), 6 / 23, 6 / 23])
    np.testing.assert_allclose(raw["item_ctr"][1], [1 / 20] * 3)  # smoothed: an empty window is a / b
    np.testing.assert_allclose(raw["item_raw_ctr"][:, 0], [5.0, 0.5])  # 0 / 0: the default
    cols = aggregate_columns(db, REPO, anchors)
    assert cols["item_impressions"].dtype == np.float32
    np.testing.assert_allclose(cols["item_impressions_log"][0], np.log1p([1, 3, 3]), rtol=1e-6)
    np.testing.assert_array_equal(cols["item_impressions"][0], [1, 3, 3])  # no transform
    np.testing.assert_array_equal(cols["item_click_level"][:, 0], [3, 1])  # clip 5 to 4, >= 3; 0: below 1
    np.testing.assert_allclose(cols["item_ctr"], raw["item_ctr"], rtol=1e-6)


def test_a_store_without_events_reads_zeros_and_ratio_defaults(db: ClickHouse) -> None:
    raw = aggregate_windows(db, REPO, anchors_at([H, H + DAY]))
    assert {n: v.shape for n, v in raw.items()} == {a["name"]: (2, len(a["windows"])) for a in REPO.aggregations}
    np.testing.assert_array_equal(raw["item_clicks"], 0)
    np.testing.assert_array_equal(raw["item_raw_ctr"], 0.5)
    np.testing.assert_allclose(raw["item_ctr"], 1 / 20)


def test_anchors_without_a_key_column_are_refused(db: ClickHouse) -> None:
    with pytest.raises(ValueError, match="aggregations.item_impressions: the anchors have no column 'item_id'"):
        aggregate_columns(db, REPO, {"ts_ms": [H], "user_id": ["u1"]})
    with pytest.raises(ValueError, match="anchor column 'item_id' has 2 rows, ts_ms has 1"):
        aggregate_columns(db, REPO, {"ts_ms": [H], "user_id": ["u1"], "item_id": ["i1", "i2"]})
