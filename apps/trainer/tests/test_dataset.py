"""Point-in-time correctness of the training-set builder, with events crafted to leak if it were wrong."""

import json

import numpy as np
import pytest

from mmctr_trainer.dataset import TrainSet, build_training_set, read_split_meta
from mmctr_trainer.features import age_bucket, bucket

from .helpers import embedding, event, fresh_db, item, tiny_repo

T = 1_700_000_000_000
AGES = tiny_repo().feature("hist")["age"]["boundaries_ms"]
W = 30 * 60 * 1000


@pytest.fixture(scope="module")
def leak_set(ch, tmp_path_factory):
    db = fresh_db(ch, ch.database + "_leak")
    repo = tiny_repo(L=8, D=4)
    ev = [
        event("click", T - 100, "u1", "B", "r0"),  # before: in the history
        event("click", T, "u1", "C", "rX"),  # exactly at the impression time: not in history
        event("impression", T, "u1", "A", "r1", position=3, event_id="imp1"),
        event("impression", T, "u1", "A", "r1", position=3, event_id="imp1"),  # redelivered: counted once
        event("click", T + 1000, "u1", "A", "r1"),  # same request: label 1, not in imp1's history
        event("click", T + 2000, "u1", "D", "r9"),  # later click: not in imp1's history
        event("impression", T + 5000, "u1", "A", "r2", position=40, event_id="imp2"),
        event("click", T + 5000 + W + 1, "u1", "A", "r2"),  # outside the attribution window: label 0
        event("impression", T + 6000, "u1", "B", "r3", event_id="imp3"),
        event("click", T + 6500, "u2", "B", "r3"),  # same request and item, other user: not a label
        event("click", T - 50, "u2", "E", "r7"),  # another user's click: never in u1's history
        event("impression", T + 7000, "u2", "D", "r8", event_id="imp4"),
        event("impression", T + 200_000, "u1", "F", "r4", event_id="imp5"),  # F first seen in test: cold start
    ]
    db.insert("events", ev)
    db.insert(
        "items",
        [
            item("A", T - 1000, "old", ["t1"], "h1"),
            item("A", T + 500, "new", ["t2", "t3"], "h2"),  # later update: imp1 must see "old"
            item("B", T - 5000, "bcat", [], "hb"),
            item("F", T + 300_000, "late", ["t9"], "hf"),  # listed after its impression: missing at imp5
        ],
    )
    db.insert(
        "item_embeddings",
        [
            embedding("A", "h1", [1.0, 0.0, 0.0, 0.0]),
            embedding("A", "h2", [0.0, 2.0, 0.0, 0.0]),
            embedding("B", "hb", [0.0, 0.0, 3.0, 0.0, 9.0]),  # longer than D: truncated
        ],
    )
    out = tmp_path_factory.mktemp("leak")
    res = build_training_set(
        db,
        repo,
        out,
        train_end_ms=T + 4000,
        val_end_ms=T + 100_000,
        chunk_rows=1,
        attribution_window_ms=W,
        log=lambda _m: None,
    )
    yield repo, TrainSet(out, trim_history=False), res
    ch.command(f"DROP DATABASE IF EXISTS {db.database}", database="default")


def _rows(ts: TrainSet, split: str):
    n = ts.rows(split)
    g = ts.gather(split, np.arange(n))
    g["ts_ms"] = np.asarray(ts.cols[split]["ts_ms"])
    g["cold"] = np.asarray(ts.cols[split]["cold"])
    return g


def test_counts_and_splits(leak_set):
    _repo, ts, res = leak_set
    assert (ts.rows("train"), ts.rows("val"), ts.rows("test")) == (1, 3, 1)
    assert res.meta["projection_version"] == "p1"


def test_label_and_history_do_not_leak(leak_set):
    _repo, ts, _ = leak_set
    h = lambda item_id: bucket("item_id", item_id, 512)  # noqa: E731
    tr = _rows(ts, "train")
    # imp1 at T: clicked (same request, 1 s later); history = [B] only: not C (at T), not A (same request, later), not D
    assert tr["label"].tolist() == [1.0]
    assert tr["hist_cat"][0, :, 0].tolist() == [h("B")] + [0] * 7
    # candidate A as of T: the old version (category 'old', tag t1, vector h1), not the later update
    assert tr["cand_cat"][0, 0] == h("A")
    assert tr["cand_cat"][0, 1] == bucket("category", "old", 64)
    assert tr["cand_multi"][0].tolist() == [bucket("tag", "t1", 128), 0, 0, 0, 0]
    assert tr["cand_vec"][0].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert tr["cand_cat"][0, 2] == bucket("position", "3", 64)
    # history item B as of T: its vector (truncated to D)
    assert tr["hist_vec"][0, 0].tolist() == [0.0, 0.0, 3.0, 0.0]
    assert tr["hist_vec"][0, 1:].sum() == 0
    # its click age at the impression (100 ms), 0 in the empty slots
    assert tr["hist_age"][0].tolist() == [age_bucket(100, AGES)] + [0] * 7

    va = _rows(ts, "val")
    by_ts = {int(t): i for i, t in enumerate(va["ts_ms"])}
    i2 = by_ts[T + 5000]
    assert va["label"][i2] == 0.0  # the click came after the attribution window
    assert va["hist_cat"][i2, :, 0].tolist() == [h("D"), h("A"), h("C"), h("B")] + [0] * 4  # newest first
    assert va["cand_cat"][i2, 1] == bucket("category", "new", 64)
    assert va["hist_vec"][i2, 1].tolist() == [0.0, 2.0, 0.0, 0.0]  # history item A as of T+5000: new version
    assert va["cand_cat"][i2, 2] == bucket("position", "31", 64)  # clipped
    i3 = by_ts[T + 6000]
    assert va["label"][i3] == 0.0  # the click on (r3, B) was another user's
    i4 = by_ts[T + 7000]
    assert va["hist_cat"][i4, :, 0].tolist() == [h("B"), h("E")] + [0] * 6  # u2's own clicks only
    assert va["hist_age"][i4].tolist() == [age_bucket(a, AGES) for a in (500, 7050)] + [0] * 6
    assert va["user_cat"][i4, 0] == bucket("user_id", "u2", 512)


def test_cold_start_and_missing_item_features(leak_set):
    _repo, ts, _ = leak_set
    te = _rows(ts, "test")
    assert te["cold"].tolist() == [1]
    assert te["cand_cat"][0, 0] == bucket("item_id", "F", 512)
    assert te["cand_cat"][0, 1] == 0 and te["cand_multi"][0].sum() == 0 and te["cand_vec"][0].sum() == 0
    assert int(ts.cold("val").sum()) == 0


def test_batches_trim_and_limit_history_exactly(leak_set):
    """Batches are cut to their longest history (a prefix: newest first, padding after) or to a model's cap."""
    _repo, full, _ = leak_set
    ts = TrainSet(full.folder)
    a, b = full.gather("val", np.arange(3)), ts.gather("val", np.arange(3))
    n = b["hist_cat"].shape[1]
    assert n == 4  # the longest of the three histories
    for k in ("hist_cat", "hist_multi", "hist_vec", "hist_age"):
        np.testing.assert_array_equal(a[k][:, :n], b[k])
        assert not a[k][:, n:].any()
    for k in ("user_cat", "cand_cat", "cand_multi", "cand_vec", "label"):
        np.testing.assert_array_equal(a[k], b[k])
    ts.limit_history(2)
    c = ts.gather("val", np.arange(3))
    np.testing.assert_array_equal(a["hist_cat"][:, :2], c["hist_cat"])
    ts.zero_mm = True
    z = ts.gather("val", np.arange(3))
    assert z["hist_vec"].shape == c["hist_vec"].shape and not z["hist_vec"].any() and not z["cand_vec"].any()


def test_read_split_meta_of_the_generator(tmp_path):
    """mmctr synth's meta.json: the range is the union of the periods, not the first period's end."""
    p = tmp_path / "meta.json"
    p.write_text(
        json.dumps(
            {
                "seed": 42,
                "config": {"days": 14},
                "periods": {
                    "train": {"start_ms": 100, "end_ms": 200},
                    "validation": {"start_ms": 200, "end_ms": 300},
                    "test": {"start_ms": 300, "end_ms": 400},
                },
                "split": {"validation_start_ms": 200, "test_start_ms": 300},
            }
        ),
        encoding="utf-8",
    )
    assert read_split_meta(p) == {"train_end_ms": 200, "val_end_ms": 300, "from_ms": 100, "to_ms": 400}
