"""The Python bucket arithmetic against the golden vectors libs/aggregates (TypeScript) also runs."""

import json
from collections import Counter

import pytest

from mmctr_trainer.aggregates import (
    bucket_start,
    duration_ms,
    expire_at,
    smoothed_ratio,
    tier_for,
    window_buckets,
    window_range,
)
from mmctr_trainer.feature_repo import REPO_ROOT

VECTORS = json.loads((REPO_ROOT / "libs" / "aggregates" / "test-vectors" / "buckets.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("v", VECTORS["durations"], ids=lambda v: v["text"])
def test_duration(v):
    assert duration_ms(v["text"]) == v["ms"]


@pytest.mark.parametrize("text", VECTORS["invalid_durations"])
def test_invalid_duration_names_the_value(text):
    with pytest.raises(ValueError, match=f"invalid duration '{text}'"):
        duration_ms(text)


@pytest.mark.parametrize("v", VECTORS["bucket_start"])
def test_bucket_start(v):
    assert bucket_start(v["ts"], v["bucket"]) == v["start"]


@pytest.mark.parametrize("v", VECTORS["windows"], ids=lambda v: v["case"])
def test_window(v):
    assert window_range(v["t"], v["window"], v["bucket"]) == (v["from"], v["to"])
    buckets = window_buckets(v["t"], v["window"], v["bucket"])
    assert (len(buckets), buckets[0], buckets[-1]) == (v["count"], v["first"], v["last"])
    # A bucket lives one bucket longer than some t reads it: the last t reading it is expire_at - b - 1.
    b = v["bucket"]
    oldest = buckets[0]
    gone = expire_at(oldest, b, v["window"])
    assert oldest in window_buckets(gone - b - 1, v["window"], b)
    assert oldest not in window_buckets(gone - b, v["window"], b)
    # So a read as of any t of t's bucket that lands up to one bucket after that bucket ends (request
    # latency, a client's ts_ms in the past, a Redis clock ahead) still finds every bucket it sums.
    c = bucket_start(v["t"], b)
    for t in (c, v["t"], c + b - 1):
        assert all(expire_at(s, b, v["window"]) > c + 2 * b - 1 for s in window_buckets(t, v["window"], b))
    assert gone == c + 2 * b
    # Closed buckets only: the same buckets for every t of t's bucket, none at or after its start.
    assert window_buckets(c, v["window"], v["bucket"]) == buckets
    assert window_buckets(c + v["bucket"] - 1, v["window"], v["bucket"]) == buckets
    assert buckets[-1] + v["bucket"] == c


@pytest.mark.parametrize("v", VECTORS["tiers"], ids=lambda v: v["window"])
def test_tier(v):
    assert tier_for(duration_ms(v["window"]), v["granularity"])["bucket"] == v["bucket"]


def test_tier_beyond_every_up_to_is_an_error():
    with pytest.raises(ValueError, match="no granularity tier"):
        tier_for(duration_ms("30d"), VECTORS["tiers"][0]["granularity"])


@pytest.mark.parametrize("v", VECTORS["expire_at"])
def test_expire_at(v):
    assert expire_at(v["start"], v["bucket"], v["up_to"]) == v["expire_at"]


@pytest.mark.parametrize("v", VECTORS["ratios"])
def test_smoothed_ratio(v):
    assert smoothed_ratio(v["numerator"], v["denominator"], v["smoothing"], v["default"]) == pytest.approx(v["value"])


@pytest.mark.parametrize("q", VECTORS["scenario"]["queries"], ids=lambda q: f"{q['t']}-{q['window']}")
def test_scenario_counters_equal_the_direct_count(q):
    events = VECTORS["scenario"]["events"]
    # Every event, also those at or after t: the value as of t does not depend on when it is read.
    counters = Counter(bucket_start(ts, q["bucket"]) for ts in events)
    from_ms, to_ms = window_range(q["t"], q["window"], q["bucket"])
    assert sum(counters[s] for s in window_buckets(q["t"], q["window"], q["bucket"])) == q["count"]
    assert sum(1 for ts in events if from_ms <= ts < to_ms) == q["count"]


def test_loader_keeps_the_aggregations():
    from mmctr_trainer.feature_repo import load_feature_repo

    repo = load_feature_repo(REPO_ROOT / "libs" / "feature-repo" / "test-vectors" / "good" / "aggregations.json")
    assert [a["name"] for a in repo.aggregations] == [
        "item_views",
        "item_buys",
        "item_conversion",
        "item_revenue",
        "user_brand_views",
        "user_item_buys",
    ]
    assert repo.aggregations[2]["op"]["smoothing"] == (1, 20)
