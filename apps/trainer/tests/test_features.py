import json

import numpy as np
import pytest

from mmctr_trainer import golden
from mmctr_trainer.features import bucket, fnv1a64
from mmctr_trainer.schema import ModelSchema, load_repo
from mmctr_trainer.slots import encode_categorical, encode_multi, encode_numeric, encode_request


def test_fnv1a64_published_vectors():
    assert fnv1a64(b"") == 0xCBF29CE484222325
    assert fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    assert fnv1a64(b"foobar") == 0x85944171F73967E8


def test_hash_golden_vectors():
    data = json.loads((golden.GOLDEN_DIR / "hash-vectors.json").read_text(encoding="utf-8"))
    cases = data["cases"]
    assert any(c["buckets"] == 2**20 for c in cases) and any(c["buckets"] == 2**31 for c in cases)
    assert any(c["value"] == "" for c in cases) and any(len(c["value"]) >= 1000 for c in cases)
    for c in cases:
        assert bucket(c["field"], c["value"], c["buckets"]) == c["bucket"], c
        if c["value"]:
            assert format(fnv1a64((c["field"] + "\x1f" + c["value"]).encode()), "016x") == c["fnv1a64"]


def test_bucket_range_and_padding():
    for i in range(1000):
        assert 1 <= bucket("f", f"v{i}", 7) <= 6
    assert bucket("f", "", 7) == 0


def test_golden_files_are_current():
    assert golden.main(["--check"]) == 0


def test_encode_request_fills_the_demo_layout():
    schema = ModelSchema.from_repo(load_repo())
    x = encode_request(
        schema,
        {
            "ts_ms": 3_600_000,
            "user": {"row": {"user_id": "u1"}},
            "context": {"device": "mobile"},
            "sequences": {"hist": [{"row": {"item_id": "a", "tags": ["x"]}, "vectors": {"fused": [1.0] * 200}}]},
            "candidates": [{"row": {"item_id": "x"}, "context": {"position": 99}}, {"row": {"item_id": "y"}}],
        },
    )
    assert [(n, x[n].shape) for n in schema.input_names] == [
        ("user_cat", (1, 5)),
        ("hist_cat", (1, 64, 2)),
        ("hist_multi", (1, 64, 5)),
        ("hist_vec", (1, 64, 128)),
        ("hist_age", (1, 64)),
        ("cand_cat", (2, 3)),
        ("cand_multi", (2, 5)),
        ("cand_vec", (2, 128)),
    ]
    assert x["user_cat"].dtype == np.int64 and x["hist_vec"].dtype == np.float32
    assert x["user_cat"][0].tolist() == [
        bucket("user_id", "u1", 65536),
        bucket("device", "mobile", 64),
        0,  # missing
        0,
        bucket("hour_of_day", "1", 64),
    ]
    assert x["hist_cat"][0, 0].tolist() == [bucket("item_id", "a", 131072), 0] and not x["hist_cat"][0, 1:].any()
    assert x["hist_multi"][0, 0, 0] == bucket("tag", "x", 16384) and x["hist_vec"][0, 0].sum() == 128
    assert x["hist_age"][0, 0] == 0  # no event time: unknown
    assert x["cand_cat"][:, 2].tolist() == [bucket("position", "31", 64), 0]  # clipped; missing


def test_slot_encodings():
    vocab = {"encoding": "vocabulary", "vocabulary": ["false", "true"]}
    assert [encode_categorical(vocab, v) for v in (False, True, None, "maybe")] == [1, 2, 0, 0]
    buckets = {"encoding": "bucketize", "boundaries": [1, 7, 30], "clip": [0, 10]}
    assert [encode_categorical(buckets, v) for v in (None, -3, 1, 6.9, 7, 500)] == [0, 1, 2, 2, 3, 3]
    dow = {"encoding": "hash", "field": "day_of_week", "size": 8, "derive": "day_of_week_utc"}
    monday = 4 * 86_400_000
    assert encode_categorical(dow, monday) == bucket("day_of_week", "0", 8)
    assert encode_categorical(dow, monday - 1) == bucket("day_of_week", "6", 8)
    log1p = {"transform": "log1p", "clip": [0, 100]}
    assert encode_numeric(log1p, 1e9, 0.0) == pytest.approx(np.log1p(100), rel=1e-6)
    assert encode_numeric({"transform": "standardize", "stats": {"mean": 1.0, "std": 2.0}}, None, 5.0) == 2.0
    multi = {"field": "tag", "size": 64, "max_length": 3}
    assert encode_multi(multi, ["a", "", "b", "c", "d"]) == [bucket("tag", t, 64) for t in "abc"]
    assert encode_multi(multi, None) == [0, 0, 0]
