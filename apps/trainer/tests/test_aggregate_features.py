"""Aggregate features as model inputs: the encodings of raw window values (equal to the scalar slot encoders the
parity check and the golden vectors use), the training-set builder's aggregate columns as of each impression on
the local ClickHouse 18.16 and on chdb, and the reader that reads each aggregation's events once."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mmctr_trainer.ch import ClickHouse
from mmctr_trainer.dataset import TrainSet, build_training_set
from mmctr_trainer.dataset.aggregate_slots import AggregateSlots, encode_values
from mmctr_trainer.dataset.aggregate_values import AggregateReader, aggregate_windows
from mmctr_trainer.feature_repo import FeatureRepo, parse_feature_repo
from mmctr_trainer.schema import ModelSchema, slot_key
from mmctr_trainer.slots import encode_categorical, encode_numeric

from .helpers import event, item, server_or_chdb_db, tiny_repo_doc

T = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
TIERS = [{"up_to": "1h", "bucket": "1m"}, {"up_to": "7d", "bucket": "1h"}]

AGGREGATIONS: list[dict[str, Any]] = [
    {"name": "item_impressions", "key": ["item"], "source": "impression", "op": "count",
     "windows": ["1h", "24h"], "granularity": TIERS},
    {"name": "item_clicks", "key": ["item"], "source": "click", "op": "count", "windows": ["1h", "24h"],
     "granularity": TIERS, "transform": "bucketize", "clip": [0, 10], "boundaries": [1, 3]},
    {"name": "item_ctr", "key": ["item"], "op": {"ratio": ["item_clicks", "item_impressions"], "smoothing": [1, 20]},
     "windows": ["1h", "24h"], "default": 0.05},
    {"name": "user_clicks", "key": ["user"], "source": "click", "op": "count", "windows": ["24h"],
     "granularity": TIERS, "transform": "log1p"},
    {"name": "user_category_clicks", "key": ["user", "item.category"], "source": "click", "op": "count",
     "windows": ["24h"], "granularity": TIERS, "transform": "clip", "clip": [0, 2]},
]  # fmt: skip
FEATURES: list[dict[str, Any]] = [
    {"name": "item_ctr", "kind": "aggregate", "aggregation": "item_ctr"},
    {"name": "item_clicks_24h", "kind": "aggregate", "aggregation": "item_clicks", "windows": ["24h"]},
    {"name": "user_clicks", "kind": "aggregate", "aggregation": "user_clicks"},
    {"name": "user_category_clicks", "kind": "aggregate", "aggregation": "user_category_clicks"},
]


def aggregate_repo() -> FeatureRepo:
    doc = tiny_repo_doc()
    doc["version"] = "fs-test-aggregates"
    doc["aggregations"] = AGGREGATIONS
    doc["features"] = [*doc["features"], *FEATURES]
    return parse_feature_repo(doc, "tiny demo with aggregate features")


# ---------------------------------------------------------------- encodings


@pytest.mark.parametrize(
    "slot,kind",
    [
        ({"transform": "none"}, "numeric"),
        ({"transform": "log1p"}, "numeric"),
        ({"transform": "clip", "clip": [0.0, 2.5]}, "numeric"),
        ({"transform": "log1p", "clip": [1.0, 50.0]}, "numeric"),
        ({"encoding": "bucketize", "boundaries": [1, 3, 10], "size": 5}, "categorical"),
        ({"encoding": "bucketize", "boundaries": [0.5], "clip": [0, 1], "size": 3}, "categorical"),
    ],
)
def test_array_encoding_equals_the_scalar_slot_encoders(slot: dict[str, Any], kind: str) -> None:
    r = np.random.default_rng(7)
    raw = np.concatenate(
        [[0.0, 0.5, 1.0, 3.0, 10.0, 1e9, -1.0, np.nan], r.exponential(5.0, 200), r.integers(0, 20, 50), r.random(50)]
    )
    got = encode_values(slot, kind, raw)
    missing = [None if np.isnan(v) else float(v) for v in raw]
    if kind == "numeric":
        want = np.asarray([encode_numeric(slot, v, 0.0) for v in missing], dtype=np.float32)
        assert got.dtype == np.float32
    else:
        want = np.asarray([encode_categorical(slot, v) for v in missing], dtype=np.int64)
        assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)


def test_slots_are_keyed_by_feature_and_window() -> None:
    slots = AggregateSlots(ModelSchema.from_repo(aggregate_repo()))
    assert [slot_key(s) for _k, s in slots.slots] == [
        "user_clicks@24h",
        "item_clicks_24h@24h",
        "item_ctr@1h",
        "item_ctr@24h",
        "user_category_clicks@24h",
    ]
    assert slots.aggregations() == ["user_clicks", "item_clicks", "item_ctr", "user_category_clicks"]
    assert slots.columns()["item_clicks_24h@24h"] == ([], "int64")


def test_a_request_with_logged_aggregates_encodes_as_the_builder_does() -> None:
    from mmctr_trainer.slots import encode_request

    schema = ModelSchema.from_repo(aggregate_repo())
    raw_user = {"user_clicks@24h": 4.0}
    raw_cands = {"item_clicks@24h": [0.0, 2.0, 7.0], "item_ctr@1h": [0.05, 0.2, 0.5], "item_ctr@24h": [0.1, 0.1, 0.3]}
    raw_cands["user_category_clicks@24h"] = [0.0, 1.0, 5.0]
    request = {"ts_ms": T, "candidates": [{}, {}, {}], "aggregates": {"user": raw_user, "candidates": raw_cands}}
    got = encode_request(schema, request)
    user = AggregateSlots(schema, ("user",)).encode({k: np.asarray([v]) for k, v in raw_user.items()})
    cand = AggregateSlots(schema, ("cand",)).encode({k: np.asarray(v) for k, v in raw_cands.items()})
    for prefix, group, want in (("user", schema.user, user), ("cand", schema.candidate, cand)):
        for kind, suffix in (("numeric", "num"), ("categorical", "cat")):
            for i, s in enumerate(group[kind]):
                if "window" in s:
                    np.testing.assert_array_equal(got[f"{prefix}_{suffix}"][:, i], want[slot_key(s)], slot_key(s))
    assert cand["item_clicks_24h@24h"].tolist() == [1, 2, 3]  # boundaries [1, 3]: 0 -> 1, 2 -> 2, 7 -> 3


# ---------------------------------------------------------------- the builder, on 18.16 and on chdb


@pytest.fixture(params=["server", "chdb"])
def db(request, ch: ClickHouse) -> Any:
    yield from server_or_chdb_db(request, ch, "mmctr_aggf")


def fill(db: ClickHouse) -> list[tuple[int, str, str]]:
    """Impressions and clicks over two days, two users and three items whose category changes; the impressions
    (ts, user, item)."""
    r = np.random.default_rng(3)
    db.insert(
        "items",
        [
            item("a", T - DAY, "shoes", [], "ha"),
            item("b", T - DAY, "shoes", [], "hb"),
            item("b", T + 20 * HOUR, "hats", [], "hb2"),  # b's clicks count for hats from then on
            item("c", T - DAY, "hats", [], "hc"),
        ],
    )
    events, imps = [], []
    for n in range(160):
        ts = T + int(r.integers(0, 2 * DAY))
        user, it = f"u{int(r.integers(0, 2))}", "abc"[int(r.integers(0, 3))]
        events.append(event("impression", ts, user, it, f"r{n}"))
        imps.append((ts, user, it))
        if r.random() < 0.3:
            events.append(event("click", ts + int(r.integers(0, 10 * MIN)), user, it, f"r{n}"))
    events.append(event("click", T + 30 * HOUR, "u0", "b", "r-exact"))
    events.append(event("impression", T + 30 * HOUR, "u0", "b", "r-exact"))  # a click at its own time
    imps.append((T + 30 * HOUR, "u0", "b"))
    db.insert("events", events)
    return imps


def test_the_builder_feeds_each_impression_its_windows_as_of_its_time(db: ClickHouse, tmp_path) -> None:
    repo = aggregate_repo()
    imps = fill(db)
    build_training_set(db, repo, tmp_path, train_end_ms=T + DAY, val_end_ms=T + 36 * HOUR, chunk_rows=40, log=print)
    ts = TrainSet(tmp_path)
    schema = ts.schema
    slots = AggregateSlots(schema)
    for split in ("train", "val", "test"):
        n = ts.rows(split)
        got = ts.gather(split, np.arange(n))
        times = np.asarray(ts.cols[split]["ts_ms"])
        # the impressions' keys by time (the fixture's times are distinct but for a same-time click)
        by_ts = {t: (u, i) for t, u, i in imps}
        anchors = {
            "ts_ms": times,
            "user_id": [by_ts[int(t)][0] for t in times],
            "item_id": [by_ts[int(t)][1] for t in times],
        }
        want = slots.encode(slots.raw(AggregateReader(db, repo), anchors))
        for prefix, group in (("user", schema.user), ("cand", schema.candidate)):
            for kind, suffix in (("numeric", "num"), ("categorical", "cat")):
                for i, s in enumerate(group[kind]):
                    if "window" in s:
                        np.testing.assert_array_equal(got[f"{prefix}_{suffix}"][:, i], want[slot_key(s)], slot_key(s))
    # by hand: u0's clicks of the closed hours of the 24h before the click at its own impression's time
    clicks = [
        e["ts_ms"] for e in db.rows(f"SELECT ts_ms FROM {db.database}.events WHERE type = 'click' AND user_id = 'u0'")
    ]
    c = (T + 30 * HOUR) // HOUR * HOUR
    want_exact = np.float32(np.log1p(sum(1 for t in clicks if c - DAY <= int(t) < c)))
    row = next(i for i, t in enumerate(ts.cols["val"]["ts_ms"]) if int(t) == T + 30 * HOUR)
    user_clicks = [i for i, s in enumerate(schema.user["numeric"]) if slot_key(s) == "user_clicks@24h"][0]
    assert ts.gather("val", np.asarray([row]))["user_num"][0, user_clicks] == want_exact


def test_the_reader_values_any_anchors_as_aggregate_windows_does(db: ClickHouse) -> None:
    repo = aggregate_repo()
    imps = fill(db)
    anchors = {
        "ts_ms": [t for t, _u, _i in imps],
        "user_id": [u for _t, u, _i in imps],
        "item_id": [i for *_x, i in imps],
    }
    whole = aggregate_windows(db, repo, anchors)
    reader = AggregateReader(db, repo)
    halves = [reader.windows({k: v[a:b] for k, v in anchors.items()}) for a, b in ((0, 80), (80, len(imps)))]
    assert set(reader.counted) == {"item_impressions", "item_clicks", "user_clicks", "user_category_clicks"}
    for name, v in whole.items():
        np.testing.assert_array_equal(np.concatenate([h[name] for h in halves]), v, name)
    with pytest.raises(ValueError, match="unknown aggregation 'nope'"):
        AggregateReader(db, repo, ["nope"])


# ---------------------------------------------------------------- models and their exported graphs


@pytest.mark.parametrize("name", ["lr", "din", "qin", "autoint"])
def test_every_model_reads_each_window_and_exports_it(name: str, tmp_path) -> None:
    import torch

    from mmctr_trainer.config import load_config
    from mmctr_trainer.export import OnnxScorer, example_inputs, export_onnx
    from mmctr_trainer.models import build_model

    schema = ModelSchema.from_repo(aggregate_repo())
    torch.manual_seed(5)
    model = build_model(name, schema, load_config("tiny").model(name)).eval()
    # one embedding table or projection per window, named by feature and window
    assert {"item_ctr@1h", "item_ctr@24h", "user_clicks@24h"} <= set(model.emb.projections)
    assert "item_clicks_24h@24h" in model.emb.tables
    x = example_inputs(schema, batch=6, seed=11)
    feeds = lambda v: [torch.from_numpy(v[n]) for n in schema.input_names]  # noqa: E731
    with torch.no_grad():
        base = model(*feeds(x)).numpy()
        for i, s in enumerate(schema.candidate["numeric"]):
            if s.get("window") in ("1h", "24h"):
                y = {k: v.copy() for k, v in x.items()}
                y["cand_num"][:, i] += 3.0
                assert not np.allclose(model(*feeds(y)).numpy(), base), slot_key(s)
    scorer = OnnxScorer(export_onnx(model, tmp_path / "model.onnx"))
    assert scorer.input_names == schema.input_names
    np.testing.assert_allclose(scorer.run(x), base, atol=1e-5)
