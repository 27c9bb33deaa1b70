"""Point-in-time training sets of the ad-platform repository (feature-repos/ad-platform), on tables made by the
migrations and `mmctr features apply`: user profiles with versions (the requester's attributes), ads, advertisers
joined via ad.advertiser_id, campaigns, two sequences over other event types, labels matched on auction, ad and
user inside the attribution window. Every row is compared with the pinned slot encoder (slots.encode_request) fed
the raw records as of the impression; the parity check's assembly of a logged request in the new score_log
format must give the same inputs."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmctr_trainer.ch import ClickHouse
from mmctr_trainer.dataset import EntityTables, TrainSet, build_training_set
from mmctr_trainer.feature_repo import FeatureRepo, parse_feature_repo
from mmctr_trainer.features import REPO_ROOT
from mmctr_trainer.schema import ModelSchema
from mmctr_trainer.score_log_parity import LoggedEncoder, LoggedRow
from mmctr_trainer.slots import encode_request

AD_REPO = REPO_ROOT / "feature-repos" / "ad-platform"
T = 1_767_268_800_000  # 2026-01-01 12:00:00 UTC
W = 3_600_000  # the repository's attribution window
LENGTHS = {"click_history": 4, "conversion_history": 3}


def tiny_ad_repo_doc() -> dict[str, Any]:
    """The ad-platform repository with short sequences, a narrow creative vector and small hash tables."""
    doc = json.loads((AD_REPO / "repo.json").read_text(encoding="utf-8"))
    for f in doc["features"]:
        if "buckets" in f:
            f["buckets"] = min(f["buckets"], 256)
        if f["kind"] == "sequence":
            f["length"] = LENGTHS[f["name"]]
        if f["kind"] == "vector":
            f["width"] = 4
    doc["embeddings"][0]["width"] = 4
    return doc


def tiny_ad_repo() -> FeatureRepo:
    return parse_feature_repo(tiny_ad_repo_doc())


# ---------------------------------------------------------------- the data: entity versions and events

PROFILE = {
    "age_band": "unknown",
    "gender": "",
    "interests": [],
    "account_age_days": 0,
    "lifetime_spend": 0.0,
    "is_premium": False,
}
VERSIONS: dict[str, dict[str, list[tuple[int, dict[str, Any]]]]] = {
    "user": {
        "u1": [
            (T - 1000, {"age_band": "25-34", "gender": "f", "interests": ["golf"], "account_age_days": 40}),
            (T + 500, {"age_band": "35-44", "is_premium": True, "lifetime_spend": 99.0}),  # after imp1
        ],
    },
    "advertiser": {
        "adv1": [
            (T - 10_000, {"industry": "games", "quality_score": 0.9}),
            (T + 3000, {"industry": "finance", "quality_score": 0.6}),  # seen from T + 3000 on
        ],
        "adv2": [(T - 10_000, {"industry": "retail", "quality_score": 0.3})],
    },
    "campaign": {"c1": [(T - 10_000, {"objective": "installs", "bid_cpm": 5.0})]},
    "ad": {
        "adA": [
            (T - 10_000, {"advertiser_id": "adv1", "campaign_id": "c1", "format": "video", "keywords": ["k1", "k2"]}),
            (T + 4000, {"advertiser_id": "adv2", "campaign_id": "c1", "format": "video", "keywords": ["k1"]}),
        ],
        "adB": [(T - 10_000, {"advertiser_id": "adv2", "campaign_id": "c1", "format": "native"})],
    },
}
KEYS = {"user": "user_id", "advertiser": "advertiser_id", "campaign": "campaign_id", "ad": "ad_id"}
TABLES = {"user": "user_profiles", "advertiser": "advertisers", "campaign": "campaigns", "ad": "ads"}
CONTEXT = {"app_bundle": "com.x", "os_version": "17", "network": "wifi", "floor_price": 1.5}

# (type, ts, user, ad, auction, slot); what each event must (not) do is said beside it
EVENTS = [
    ("install", T - 200, "u1", "adB", "a8", 0),  # conversion_history of every u1 impression
    ("ad_click", T - 100, "u1", "adB", "a0", 0),  # click_history of imp1
    ("ad_click", T, "u1", "adA", "aX", 0),  # at imp1's time: not in its history (strictly before)
    ("ad_impression", T, "u1", "adA", "a1", 2),  # imp1: profile 25-34, adA -> adv1 as of T: games
    ("ad_click", T + 1000, "u1", "adA", "a1", 0),  # imp1's label
    ("purchase", T + 100, "u1", "adA", "", 0),  # after imp1: conversion_history of imp2 only
    ("ad_impression", T + 3500, "u2", "adA", "a4", 7),  # imp3: no profile (defaults); adv1 as of T+3500: finance
    ("ad_click", T + 3600, "u1", "adA", "a4", 0),  # same auction and ad, another user: not imp3's label
    ("ad_impression", T + 5000, "u1", "adA", "a2", 1),  # imp2: profile 35-44; adA -> adv2 (re-assigned at T+4000)
    ("ad_click", T + 5500, "u1", "adA", "zz", 0),  # same user and ad, another auction: not imp2's label
    ("ad_click", T + 5000 + W + 1, "u1", "adA", "a2", 0),  # imp2's auction after the window: label 0
]
IMPRESSIONS = [e for e in EVENTS if e[0] == "ad_impression"]
LABELS = {"a1": 1, "a4": 0, "a2": 0}


def entity_rows(entity: str) -> list[list[dict[str, Any]]]:
    """One insert per version (versions name different attributes: omitted ones read their defaults)."""
    return [
        [{KEYS[entity]: key, "ts_ms": ts, "updated_at": ts // 1000, **attrs}]
        for key, versions in VERSIONS[entity].items()
        for ts, attrs in versions
    ]


def event_rows() -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"e{i}",
            "type": t,
            "ts_ms": ts,
            "event_time": ts // 1000,
            "user_id": u,
            "ad_id": ad,
            "auction_id": auction,
            "slot": slot,
            # one column list per insert: the context of other events is left empty
            **(CONTEXT if t == "ad_impression" else dict.fromkeys(CONTEXT, "") | {"floor_price": 0.0}),
        }
        for i, (t, ts, u, ad, auction, slot) in enumerate(EVENTS)
    ]


def ad_platform_db(name: str) -> ClickHouse:
    """A migrated database holding the ad-platform tables (`mmctr features apply`)."""
    mmctr = str(REPO_ROOT / "bin" / "mmctr")
    for args in (["migrate"], ["features", "apply", str(AD_REPO)]):
        subprocess.run([mmctr, *args, "--database", name], cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL)
    return ClickHouse.from_env(database=name)


def fill(db: ClickHouse) -> None:
    db.insert("ad_events", event_rows())
    for entity, table in TABLES.items():
        for rows in entity_rows(entity):
            db.insert(table, rows)


@pytest.fixture(scope="module")
def ad_db():
    name = f"mmctr_ads_{uuid.uuid4().hex[:8]}"
    db = ad_platform_db(name)
    try:
        fill(db)
        yield db
    finally:
        db.command(f"DROP DATABASE IF EXISTS {name}", database="default")


@pytest.fixture(scope="module")
def ad_set(ad_db, tmp_path_factory):
    repo = tiny_ad_repo()
    out = tmp_path_factory.mktemp("ads")
    log: list[str] = []
    build_training_set(ad_db, repo, out, train_end_ms=T + 4000, val_end_ms=T + 4500, chunk_rows=1, log=log.append)
    return repo, TrainSet(out, trim_history=False), log


# ---------------------------------------------------------------- the expected inputs, from the raw records


def as_of(entity: str, key: str, ts: int) -> dict[str, Any]:
    """The raw record of an entity as of ts: its newest version's attributes (defaults before any)."""
    versions = [v for t, v in VERSIONS[entity].get(key, []) if t <= ts]
    base = PROFILE if entity == "user" else {}
    return {"row": {**base, KEYS[entity]: key, **(versions[-1] if versions else {})}}


def expected_request(user: str, ad: str, ts: int, slot: int) -> dict[str, Any]:
    """The request the scorer would assemble for one impression, from the records as of its time."""

    def ad_entry(ad_id: str) -> dict[str, Any]:
        return as_of("ad", ad_id, ts)

    def history(types: tuple[str, ...]) -> list[dict[str, Any]]:
        before = [e for e in EVENTS if e[0] in types and e[2] == user and e[1] < ts]
        return [{**ad_entry(e[3]), "ts_ms": e[1]} for e in sorted(before, key=lambda e: -e[1])]

    joined: dict[str, dict[str, Any]] = {"advertiser": {}, "campaign": {}}
    for a in VERSIONS["ad"]:
        row = ad_entry(a)["row"]
        joined["advertiser"][row["advertiser_id"]] = as_of("advertiser", row["advertiser_id"], ts)
        joined["campaign"][row["campaign_id"]] = as_of("campaign", row["campaign_id"], ts)
    return {
        "ts_ms": ts,
        "user": as_of("user", user, ts),
        "context": CONTEXT,
        "joined": joined,
        "sequences": {"click_history": history(("ad_click",)), "conversion_history": history(("install", "purchase"))},
        "candidates": [{**ad_entry(ad), "context": {"slot": slot}}],
    }


def all_rows(ts: TrainSet) -> dict[str, np.ndarray]:
    """Every split's rows gathered as model inputs, in time order, with label and ts_ms."""
    parts = []
    for split in ("train", "val", "test"):
        g = ts.gather(split, np.arange(ts.rows(split)))
        g["ts_ms"] = np.asarray(ts.cols[split]["ts_ms"])
        parts.append(g)
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(out["ts_ms"], kind="stable")
    return {k: v[order] for k, v in out.items()}


def slot_index(group: dict[str, Any], kind: str, feature: str) -> int:
    return next(i for i, s in enumerate(group[kind]) if s["feature"] == feature)


# ---------------------------------------------------------------- the tests


def test_every_row_is_the_point_in_time_request(ad_set) -> None:
    repo, ts, _log = ad_set
    schema = ModelSchema.from_repo(repo)
    rows = all_rows(ts)
    assert list(rows["ts_ms"]) == [e[1] for e in sorted(IMPRESSIONS, key=lambda e: e[1])]
    assert [int(x) for x in rows["label"]] == [LABELS[e[4]] for e in sorted(IMPRESSIONS, key=lambda e: e[1])]
    for i, (_t, t, user, ad, _auction, slot) in enumerate(sorted(IMPRESSIONS, key=lambda e: e[1])):
        want = encode_request(schema, expected_request(user, ad, t, slot))
        for name in schema.input_names:
            np.testing.assert_array_equal(rows[name][i], want[name][0], err_msg=f"{name} of the impression at {t}")


def test_point_in_time_values_by_hand(ad_set) -> None:
    repo, ts, log = ad_set
    schema = ModelSchema.from_repo(repo)
    rows = all_rows(ts)  # imp1 (T), imp3 (T + 3500), imp2 (T + 5000)
    age = rows["user_cat"][:, slot_index(schema.user, "categorical", "age_band")]
    vocab = repo.feature("age_band")["vocabulary"]
    # u1's profile updated at T + 500 is not seen at T; u2 has no profile: the default ('unknown')
    assert list(age) == [1 + vocab.index("25-34"), 1 + vocab.index("unknown"), 1 + vocab.index("35-44")]
    quality = rows["cand_num"][:, slot_index(schema.candidate, "numeric", "advertiser_quality")]
    # adA's advertiser as of each impression: adv1 as of T, adv1's T + 3000 version, adv2 (adA's T + 4000 version)
    np.testing.assert_allclose(quality, [0.9, 0.6, 0.3])
    clicks = rows["click_history_cat"][:, :, slot_index(schema.sequences[0], "categorical", "ad_id")]
    assert (clicks[0] > 0).sum() == 1  # only the click before T, not the one at T
    assert (rows["conversion_history_cat"][:, :, 0] > 0).sum(1).tolist() == [1, 0, 2]  # u2 has none
    assert not rows["cand_vec"].any() and not rows["conversion_history_vec"].any()
    assert any("'creative' of ad: no vectors are stored" in m for m in log)


def test_train_set_stores_joined_and_requester_rows(ad_set) -> None:
    _repo, ts, _log = ad_set
    cols = set(ts.cols["train"])
    assert {"user_row", "cand_row", "cand_advertiser_rows", "cand_campaign_rows"} <= cols
    assert {"click_history_rows", "click_history_age", "conversion_history_rows"} <= cols
    assert set(ts.meta["tables"]) == {"ad", "user", "advertiser", "campaign"}


def logged_row(ad_db, repo: FeatureRepo) -> LoggedRow:
    """imp2 as the scorer logs it in the repository's own names (score_log since migration 0018)."""
    t = T + 5000
    clicks = [e for e in EVENTS if e[0] == "ad_click" and e[2] == "u1" and e[1] < t][::-1]
    convs = [e for e in EVENTS if e[0] in ("install", "purchase") and e[2] == "u1" and e[1] < t][::-1]
    return LoggedRow.from_json(
        {
            "request_id": "r2",
            "ts_ms": t,
            "user_id": "u1",
            "item_ids": ["adA", "adB"],
            "positions": [0, 1],
            "ctrs": [0.1, 0.2],
            "degraded": 0,
            "context_json": json.dumps(CONTEXT),
            "candidate_context_json": json.dumps([{"slot": 1}, {"slot": 3}]),
            "sequences_json": json.dumps(
                {
                    "click_history": {"keys": [e[3] for e in clicks], "ts_ms": [e[1] for e in clicks]},
                    "conversion_history": {"keys": [e[3] for e in convs], "ts_ms": [e[1] for e in convs]},
                }
            ),
        }
    )


def test_parity_assembles_a_logged_request_like_the_builder(ad_db, ad_set) -> None:
    repo, ts, _log = ad_set
    schema = ModelSchema.from_repo(repo)
    tables = EntityTables(repo, schema, log=lambda _m: None).load(ad_db)
    feeds = LoggedEncoder(repo, schema, tables).encode(logged_row(ad_db, repo)).feeds
    built = all_rows(ts)
    for name in schema.user_inputs():  # the same request as the training row of imp2
        np.testing.assert_array_equal(feeds[name][0], built[name][2], err_msg=name)
    for name in ("cand_cat", "cand_num", "cand_multi", "cand_vec"):
        np.testing.assert_array_equal(feeds[name][0], built[name][2], err_msg=name)
    want = encode_request(schema, expected_request("u1", "adB", T + 5000, 3))
    for name in ("cand_cat", "cand_num", "cand_multi"):
        np.testing.assert_array_equal(feeds[name][1], want[name][0], err_msg=f"{name} of adB")


def train_with_repository(doc, ad_db, tmp_path, monkeypatch, capsys, model: str, epochs: int) -> Path:
    """Runs `mmctr-train train` (tiny config) with FEATURE_REPO naming `doc` on the fixture database; the one
    registered artifact folder."""
    from mmctr_trainer import cli

    repo_file = tmp_path / "repo.json"
    repo_file.write_text(json.dumps(doc), encoding="utf-8")
    monkeypatch.setenv("FEATURE_REPO", str(repo_file))
    args = ["train", "--database", ad_db.database, "--model", model, "--config", "tiny", "--max-epochs", str(epochs)]
    args += ["--train-end-ms", str(T + 1), "--val-end-ms", str(T + 4000), "--chunk-rows", "1"]
    rc = cli.main([*args, "--trainset", str(tmp_path / "ts"), "--registry", str(tmp_path / "reg")])
    assert rc == 0, capsys.readouterr().err
    (folder,) = (tmp_path / "reg").iterdir()
    return folder


def test_train_cli_on_the_repository_feature_repo_names(ad_db, tmp_path, monkeypatch, capsys) -> None:
    """`mmctr-train train` builds, trains, exports and registers a model of whatever repository FEATURE_REPO
    names (the ONNX graph must match the torch model on the test split)."""
    folder = train_with_repository(tiny_ad_repo_doc(), ad_db, tmp_path, monkeypatch, capsys, "qin", 2)
    assert json.loads((folder / "feature_repo.json").read_text())["name"] == "ad_platform"
    assert json.loads((folder / "metrics.json").read_text())["onnx"]["max_abs_diff"] <= 1e-4
    assert (folder / "model.onnx").exists()
