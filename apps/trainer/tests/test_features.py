import json

import numpy as np

from mmctr_trainer import golden
from mmctr_trainer.features import (
    DEFAULT_SPEC_PATH,
    bucket,
    encode_candidates,
    encode_user,
    fnv1a64,
    load_feature_spec,
)


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


def test_encode_user_and_candidates_shapes():
    spec = load_feature_spec(DEFAULT_SPEC_PATH)
    u = encode_user(
        spec,
        {
            "user_id": "u",
            "device": "d",
            "placement": "p",
            "country": "c",
            "ts_ms": 3_600_000 * 25,
            "history": [{"item_id": "i1", "category": "c", "tags": ["a"] * 9, "mm": [1.0] * 500}],
        },
    )
    assert u["user_fields"].shape == (1, 5) and u["user_fields"].dtype == np.int64
    assert u["user_fields"][0, 4] == bucket("hour_of_day", "1", spec.user_field("hour_of_day").buckets)
    assert u["hist_ids"].shape == (1, spec.history_length) and u["hist_ids"][0, 1] == 0
    assert u["hist_tags"].shape == (1, spec.history_length, 5) and (u["hist_tags"][0, 0] > 0).all()
    assert u["hist_mm"].shape == (1, spec.history_length, spec.mm_dim) and u["hist_mm"][0, 0].sum() == spec.mm_dim
    c = encode_candidates(spec, [{"item_id": "x", "position": 99}, {"item_id": "y", "category": "k", "position": 0}])
    assert c["cand_fields"].shape == (2, 3)
    assert c["cand_fields"][0, 2] == bucket("position", "31", spec.candidate_field("position").buckets)
    assert c["cand_fields"][0, 1] == 0
