"""Encoders fitted on the training split (fitting.py), on the ad-platform repository with floor_price's stats and
user_id's vocabulary (min count 2) left to the trainer: the fit reads the train split only, the vocabulary is exact
(values whose hash buckets collide get their own rows), the model's table has V + 1 rows, and the exported graph fed
the vocabulary's rows (vocabulary.json) scores exactly like the PyTorch model fed the value keys."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest
import torch

from mmctr_trainer.config import load_config
from mmctr_trainer.data_source import DataSource
from mmctr_trainer.export import (
    OnnxScorer,
    example_inputs,
    export_batch_onnx,
    export_onnx,
    model_card,
    quantize_int8,
)
from mmctr_trainer.feature_repo import check_feature_repo, parse_feature_repo
from mmctr_trainer.features import bucket, value_key
from mmctr_trainer.fitting import fit_encoders, vocabulary_keys
from mmctr_trainer.models import build_model
from mmctr_trainer.schema import ModelSchema
from mmctr_trainer.slots import encode_categorical, encode_numeric
from mmctr_trainer.vocabulary import VOCABULARY_FILE, Vocabularies, key_rows

from .test_ad_platform_dataset import ad_db, tiny_ad_repo_doc  # noqa: F401  (ad_db: the ClickHouse fixture)

CFG = load_config("tiny")
# user_id's value keys (features.value_key): 5 and 9 seen >= 2 times, 7 once (< min count 2), 0 = missing
TRAIN_USERS = [5, 5, 7, 9, 9, 9, 0, 0]
TRAIN_FLOOR = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
VAL_ONLY = 11  # a user key seen only in the validation split
# Two user ids whose hash buckets collide at user_id's 256 buckets: a vocabulary of buckets gave them one row.
COLLIDING = ("u5", "u20")


def fitted_doc() -> dict[str, Any]:
    doc = tiny_ad_repo_doc()
    for f in doc["features"]:
        if f["name"] == "floor_price":
            f.pop("stats", None)  # the repository fits it already; kept explicit for the test's reader
        if f["name"] == "user_id":
            f["fit"] = {"min_count": 2}
    return doc


SCHEMA = ModelSchema.from_repo(parse_feature_repo(fitted_doc()))


def _column(group: dict[str, Any], kind: str, feature: str) -> int:
    return next(i for i, s in enumerate(group[kind]) if s["feature"] == feature)


USER_COL = _column(SCHEMA.user, "categorical", "user_id")
FLOOR_COL = _column(SCHEMA.user, "numeric", "floor_price")


class _Splits(DataSource):
    """Random inputs of the layout with user_id / floor_price set: train as above, val / test full of VAL_ONLY and
    floor prices far from train's."""

    def __init__(self) -> None:
        n = len(TRAIN_USERS)
        self.x = {
            s: example_inputs(SCHEMA, batch=n, user_batch=n, seed=i) for i, s in enumerate(("train", "val", "test"))
        }
        self.x["train"]["user_cat"][:, USER_COL] = TRAIN_USERS
        self.x["train"]["user_num"][:, FLOOR_COL] = TRAIN_FLOOR
        for s in ("val", "test"):
            self.x[s]["user_cat"][:, USER_COL] = VAL_ONLY
            self.x[s]["user_num"][:, FLOOR_COL] = 1000.0

    def rows(self, split: str) -> int:
        return len(self.x[split]["user_cat"])

    def labels(self, split: str) -> np.ndarray:
        return (np.arange(self.rows(split)) % 2).astype(np.float32)

    def cold(self, split: str) -> np.ndarray:
        return np.zeros(self.rows(split), dtype=np.uint8)

    def gather(self, split: str, idx: np.ndarray) -> dict[str, np.ndarray]:
        return {**{k: v[idx] for k, v in self.x[split].items()}, "label": self.labels(split)[idx]}


@pytest.fixture(scope="module")
def fitted() -> ModelSchema:
    return fit_encoders(SCHEMA, _Splits(), batch_size=3)  # several batches: the moments are merged


def test_the_repository_leaves_the_encoders_to_the_trainer():
    assert check_feature_repo(fitted_doc()) == []
    user_id = SCHEMA.user["categorical"][USER_COL]
    assert user_id["fit"] == {"min_count": 2} and user_id["size"] == 256
    assert "stats" not in SCHEMA.user["numeric"][FLOOR_COL]
    # the input is the clipped raw value: the graph standardizes
    assert encode_numeric(SCHEMA.user["numeric"][FLOOR_COL], 4.5, 0.0) == 4.5


def test_vocabulary_keeps_values_seen_min_count_times_and_maps_the_rest_to_oov():
    keys = vocabulary_keys(np.array([-4, 0, 3, 8, 12]), np.array([2, 9, 1, 5, 2]), 2)
    assert keys.tolist() == [-4, 8, 12]  # 0 (missing) has no row whatever its count; 3 is below min count
    assert key_rows(keys, np.array([[8, -4], [3, 0], [12, 99]])).tolist() == [[2, 1], [0, 0], [3, 0]]
    assert key_rows(keys[:0], np.array([8, 0])).tolist() == [0, 0]  # an empty vocabulary: everything is OOV


def test_fitted_values_are_keys_and_colliding_buckets_get_their_own_rows():
    slot = SCHEMA.user["categorical"][USER_COL]
    a, b = COLLIDING
    assert bucket(slot["field"], a, slot["size"]) == bucket(slot["field"], b, slot["size"])
    ka, kb = encode_categorical(slot, a), encode_categorical(slot, b)
    assert (ka, kb) == (value_key("user_id", a), value_key("user_id", b)) and ka != kb
    assert -(2**63) <= min(ka, kb) and max(ka, kb) < 2**63 and encode_categorical(slot, "") == 0
    data = _Splits()
    data.x["train"]["user_cat"][:, USER_COL] = [ka, ka, kb, kb, kb, 0, 0, 0]
    schema = fit_encoders(SCHEMA, data)
    keys = schema.vocab_keys["user_id"]
    assert sorted(key_rows(keys, np.array([ka, kb])).tolist()) == [1, 2]
    assert schema.fitted["user_id"]["vocabulary_size"] == 2 and schema.fitted["user_id"]["train_values"] == 2


def test_fit_reads_the_train_split_only(fitted):
    user = fitted.fitted["user_id"]
    assert user == {"encoder": "vocabulary", "min_count": 2, "train_values": 3, "vocabulary_size": 2, "rows": 3}
    rows = key_rows(fitted.vocab_keys["user_id"], np.array([5, 9, 7, VAL_ONLY, 0]))
    assert rows.tolist() == [1, 2, 0, 0, 0]  # 7 once in train; VAL_ONLY only in val; 0 missing
    floor = fitted.fitted["floor_price"]
    assert floor["mean"] == pytest.approx(np.mean(TRAIN_FLOOR), rel=1e-6)
    assert floor["std"] == pytest.approx(np.std(TRAIN_FLOOR), rel=1e-6)
    assert floor["train_rows"] == len(TRAIN_FLOOR)
    # campaign_bid is fitted by the repository itself; features with fixed stats or no fit stay as they are
    assert set(fitted.fitted) == {"user_id", "floor_price", "campaign_bid"}
    assert ModelSchema.from_json(fitted.to_json()).fitted == fitted.fitted


def test_fitted_vocabulary_sizes_the_embedding_table(fitted):
    torch.manual_seed(0)
    plain, small = (build_model("autoint", s, CFG.model("autoint")) for s in (SCHEMA, fitted))
    assert small.emb.tables["user_id"].num_embeddings == 3
    dim = CFG.model("autoint").embedding_dim
    count = [sum(p.numel() for p in m.parameters()) for m in (plain, small)]
    assert count[0] - count[1] == (256 - 3) * dim
    assert model_card(small)["schema"]["fitted"]["user_id"]["vocabulary_size"] == 2


def test_exported_graph_takes_rows_and_scores_like_the_model(fitted, tmp_path):
    torch.manual_seed(1)
    model = build_model("autoint", fitted, CFG.model("autoint")).eval()
    with torch.no_grad():
        for e in model.emb.tables.values():
            e.weight.normal_()  # distinct rows, so a wrong mapping shows in the output
    path = export_onnx(model, tmp_path / "model.onnx")
    x = example_inputs(fitted, batch=64, user_batch=64, seed=3)
    x["user_cat"][:, USER_COL] = np.resize([0, 5, 7, 9, VAL_ONLY, 200], 64)
    x["user_num"][:, FLOOR_COL] = np.linspace(-5, 50, 64, dtype=np.float32)
    with torch.no_grad():
        p_torch = model(*(torch.from_numpy(x[n]) for n in fitted.input_names)).numpy()
    p_onnx = OnnxScorer(path).run(x)
    assert float(np.abs(p_torch - p_onnx).max()) < 1e-5
    # the graph holds no vocabulary: vocabulary.json beside it does, and the graph takes rows (0..V)
    graph = onnx.load(str(path)).graph
    assert not [t for t in graph.initializer if "keys_" in t.name or "rows_" in t.name]
    doc = Vocabularies.beside(path).to_json()["features"]["user_id"]
    assert doc["keys"] == ["5", "9"] and doc["inputs"] == [{"input": "user_cat", "column": USER_COL}]
    assert (tmp_path / VOCABULARY_FILE).exists()
    rows = {k: v.copy() for k, v in x.items()}
    rows["user_cat"][:, USER_COL] = key_rows(fitted.vocab_keys["user_id"], x["user_cat"][:, USER_COL])
    assert float(np.abs(OnnxScorer(path).session.run(["ctr"], rows)[0] - p_torch).max()) < 1e-5
    # out-of-vocabulary values share row 0: 7 (rare in train), VAL_ONLY and 200 score alike
    same = {k: np.repeat(v[:1], 3, axis=0) for k, v in x.items()}
    same["user_cat"][:, USER_COL] = [7, VAL_ONLY, 200]
    p = OnnxScorer(path).run(same)
    assert np.ptp(p) < 1e-7
    same["user_cat"][:, USER_COL] = [5, 9, 7]
    assert np.ptp(OnnxScorer(path).run(same)) > 1e-6
    # the micro-batching graph: two requests' users, each candidate naming its user row
    batch = OnnxScorer(export_batch_onnx(model, tmp_path / "model.batch.onnx"))
    users = {n: x[n][:2] for n in fitted.user_inputs()}
    cands = {n: x[n][:4] for n in fitted.input_names if n not in users}
    rows = np.array([0, 1, 1, 0])
    expect = OnnxScorer(path).run({**{n: v[rows] for n, v in users.items()}, **cands})
    assert float(np.abs(batch.run({**users, **cands, "cand_user": rows}) - expect).max()) < 1e-5
    int8 = OnnxScorer(quantize_int8(path, tmp_path / "model.int8.onnx"))
    assert float(np.abs(int8.run(x) - p_onnx).max()) < 0.05
    same["user_cat"][:, USER_COL] = [7, VAL_ONLY, 200]
    assert np.ptp(int8.run(same)) < 1e-7  # int8 quantises the embedding tables; the OOV row stays shared


def test_training_fits_before_the_first_step():
    from mmctr_trainer.train import train_model

    cfg = CFG.with_training(batch_size=4, max_epochs=1, patience=1, threads=1)
    lines: list[str] = []
    res = train_model("lr", SCHEMA, _Splits(), cfg, log=lines.append)
    assert res.model.schema.fitted["user_id"]["rows"] == 3
    assert res.model.emb.tables["user_id"].num_embeddings == 3
    assert any(line.startswith("[fit] on 8 train rows") for line in lines)


def test_train_cli_fits_the_repository_encoders_end_to_end(ad_db, tmp_path, monkeypatch, capsys):  # noqa: F811
    """`mmctr-train train` on ClickHouse with the fitted variant: the training set holds the raw floor price, the
    registered model.json records the fit (of the train split's rows only) and its graph matches the torch model."""
    import json

    from mmctr_trainer.dataset import TrainSet

    from .test_ad_platform_dataset import train_with_repository

    folder = train_with_repository(fitted_doc(), ad_db, tmp_path, monkeypatch, capsys, "autoint", 1)
    fitted = json.loads((folder / "model.json").read_text())["schema"]["fitted"]
    assert fitted["user_id"]["min_count"] == 2 and fitted["user_id"]["rows"] == fitted["user_id"]["vocabulary_size"] + 1
    assert fitted["floor_price"]["encoder"] == "standardize"
    trainset = TrainSet(tmp_path / "ts")
    floor = trainset.gather("train", np.arange(trainset.rows("train")))["user_num"][:, FLOOR_COL]  # raw values
    assert fitted["floor_price"]["train_rows"] == len(floor) > 0
    assert fitted["floor_price"]["mean"] == pytest.approx(float(floor.mean()), rel=1e-6)
    assert json.loads((folder / "metrics.json").read_text())["onnx"]["max_abs_diff"] <= 1e-4


def test_a_training_set_of_hash_buckets_is_refused_for_a_fitted_repository(tmp_path):
    """A set built before exact vocabularies holds the fitted features' hash buckets: reading them as value keys
    would fit a vocabulary the scorer's keys never meet, so it must be rebuilt."""
    import json

    from mmctr_trainer.dataset import TrainSet

    (tmp_path / "meta.json").write_text(json.dumps({"format": "mmctr-trainset-1", "feature_repo": fitted_doc()}))
    with pytest.raises(ValueError, match=r"built before exact vocabularies \(fitted user_id: hash buckets.*rebuild it"):
        TrainSet(tmp_path)
