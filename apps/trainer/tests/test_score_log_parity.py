"""Serving/training parity from score_log (mmctr_trainer.score_log_parity) on crafted rows.

The "served" CTRs are computed here the way the scorer does it, from raw item values through the raw-value
encoders (slots.encode_request, pinned to libs/features by the golden files) and the
exported graph with the serving shapes; the parity command must reproduce them from the logged ids alone,
joining the item features as of each request time from ClickHouse.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from mmctr_trainer import cli, store
from mmctr_trainer.ch import ClickHouse
from mmctr_trainer.config import load_config
from mmctr_trainer.export import export_onnx
from mmctr_trainer.feature_repo import load_feature_repo
from mmctr_trainer.features import REPO_ROOT
from mmctr_trainer.models import build_model
from mmctr_trainer.registry import promote, register
from mmctr_trainer.schema import ModelSchema
from mmctr_trainer.score_log_parity import LoggedRow, OnnxRunner, ParityOptions, run_parity
from mmctr_trainer.score_log_parity.assembly import legacy_context_columns
from mmctr_trainer.slots import encode_request

from .helpers import embedding, item, tiny_repo, tiny_repo_doc

T = 1_700_000_000_000  # 22:13 UTC
HOUR = 3_600_000
L, D = 4, 4

# What the scorer knew about each item, by version (ts_ms, category, tags, vector or None).
CATALOGUE = {
    "A": [(T - 1000, "old", ["t1"], [1.0, 0.0, 0.5, 0.0]), (T + 500, "new", ["t2", "t3"], [0.0, 2.0, 0.0, -1.0])],
    "B": [(T - 5000, "bcat", ["", "a", "b", "c", "d", "e", "f"], [0.0, 0.0, 3.0, 0.5, 9.0])],  # 6th tag dropped, 5 > D
    "C": [(T - 5000, "ccat", ["c1"], None)],  # no vector: zeros
    "E": [(T - 5000, "ecat", [], [0.7, -0.7])],  # shorter than D: zero-padded
    "F": [(T + 300_000, "late", ["t9"], [1.0, 1.0, 1.0, 1.0])],  # listed after the early requests
}


def as_of(item_id: str, ts: int) -> dict:
    """The raw item record as of ts (an unknown or not yet listed item: just its id)."""
    versions = [v for v in CATALOGUE.get(item_id, []) if v[0] <= ts]
    if not versions:
        return {"row": {"item_id": item_id}}
    _t, cat, tags, vec = versions[-1]
    return {"row": {"item_id": item_id, "category": cat, "tags": tags}, "vectors": {"fused": vec}}


def served_ctrs(schema, runner, row: dict) -> list[float]:
    ts = row["ts_ms"]
    times = row["history_ts_ms"] or [None] * len(row["history_item_ids"])
    hist = [{**as_of(i, ts), "ts_ms": c} for i, c in zip(row["history_item_ids"], times, strict=False)]
    positions = zip(row["item_ids"], row["positions"], strict=True)
    cands = [{**as_of(i, ts), "context": {"position": p}} for i, p in positions]
    request = {
        "ts_ms": ts,
        "user": {"row": {"user_id": row["user_id"]}},
        "context": {k: row[k] for k in ("device", "placement", "country")},
        "sequences": {"hist": hist},
        "candidates": cands,
    }
    return [float(x) for x in runner(encode_request(schema, request))]  # float32 values, as the scorer logs them


def log_row(
    request_id: str,
    ts: int,
    user: str,
    hist: list[str],
    items: list[str],
    positions: list[int],
    version: str = "v-good",
    device: str = "ios",
    placement: str = "feed",
    country: str = "DE",
    degraded: int = 0,
    spec_version: str = "fs-test",
    hist_ts: list[int] | None = None,
) -> dict:
    # click times 5 h apart by default (a different age bucket each); [] = a scorer from before fs-2
    hist_ts = [ts - (j + 1) * 5 * HOUR for j in range(len(hist))] if hist_ts is None else hist_ts
    return {
        "request_id": request_id,
        "ts_ms": ts,
        "event_time": ts // 1000,
        "user_id": user,
        "model_version": version,
        "feature_spec_version": spec_version,
        "shadow_model_version": "",
        "device": device,
        "placement": placement,
        "country": country,
        "history_item_ids": hist,
        "history_ts_ms": hist_ts,
        "item_ids": items,
        "positions": positions,
        "ctrs": [],
        "shadow_ctrs": [],
        "degraded": degraded,
        "ingested_at": ts // 1000,
    }


@pytest.fixture(scope="module")
def parity_db(ch, tmp_path_factory):
    name = ch.database + "_parity"
    ch.command(f"DROP DATABASE IF EXISTS {name}", database="default")
    ch.command(f"CREATE DATABASE {name}", database="default")
    for t in ("items", "item_embeddings", "score_log", "models"):
        ch.command(f"CREATE TABLE {name}.{t} AS {ch.database}.{t}", database="default")
    view = ch.all(f"SHOW CREATE TABLE {ch.database}.models_current")[0]["statement"]
    ch.command(view.replace(f"{ch.database}.", f"{name}."), database="default")
    db = ClickHouse(ch.url, name, ch.user, ch.password)

    items, embs = [], []
    for item_id, versions in CATALOGUE.items():
        for k, (ts, cat, tags, vec) in enumerate(versions):
            items.append(item(item_id, ts, cat, tags, f"{item_id}-h{k}"))
            if vec is not None:
                embs.append(embedding(item_id, f"{item_id}-h{k}", vec, created_ms=ts + 1))
    db.insert("items", items)
    db.insert("item_embeddings", embs)

    schema = ModelSchema.from_repo(tiny_repo(L=L, D=D))
    torch.manual_seed(3)
    model = build_model("qin", schema, load_config("tiny").model("qin"))
    with torch.no_grad():
        for p in model.parameters():  # random, not trained: every input should move the CTR
            p.normal_(0.0, 0.3)
        model.emb.tables["tags"].weight[0].zero_()  # the padding tag stays zero, as in training (pooled sums it)
    model.eval()
    reg = tmp_path_factory.mktemp("parity-registry")
    folder = reg / "v-good"
    export_onnx(model, folder / "model.onnx")
    (folder / "layout.json").write_text(json.dumps(schema.layout))
    (folder / "feature_repo.json").write_text(json.dumps(tiny_repo_doc(L=L, D=D)))
    runner = OnnxRunner(folder / "model.onnx", schema)

    rows = [
        # A as of T is the old version (A changed at T + 500); F not listed yet; unknown ghost; position clipped
        log_row("r1", T, "u1", ["A", "ghost", "B", "C"], ["A", "B", "F", "ghost", "A"], [0, 1, 2, 3, 40]),
        # after A's update; an empty context; history beyond L (the scorer logs at most L; cut here too)
        log_row(
            "r2",
            T + 1000,
            "u2",
            ["E", "A", "B", "C", "F", "ghost"],
            ["A", "C", "E"],
            [5, 31, 65535],
            device="",
            placement="",
            country="",
        ),
        log_row("r3", T + 2 * HOUR, "u1", [], ["B", "E", "F"], [0, 0, 0]),  # another hour; no history
        log_row("r4", T + 400_000, "u3", ["F"], ["F", "A"], [1, 2], hist_ts=[]),  # F listed by now; no click times
        log_row("r5", T + 3 * HOUR, "u4", [], ["A", "B"], [0, 1], degraded=1),  # e.g. a history timeout
    ]
    for r in rows:
        r["ctrs"] = served_ctrs(schema, runner, r)
    prior = log_row("r6", T + 4 * HOUR, "u5", ["A"], ["A", "B", "C"], [0, 1, 2], degraded=1)
    prior["ctrs"] = [0.02, 0.02, 0.02]  # inference failed: the scorer answered its prior
    bad = dict(rows[0], request_id="b1", model_version="v-bad", ctrs=list(rows[0]["ctrs"]))
    bad["ctrs"][1] += 0.01  # one served CTR that the features do not explain
    other_spec = dict(rows[1], request_id="s1", model_version="v-spec", feature_spec_version="fs-other")
    db.insert("score_log", rows + [prior, bad, other_spec])
    yield {"db": db, "schema": schema, "runner": runner, "reg": reg, "rows": rows}
    ch.command(f"DROP DATABASE IF EXISTS {name}", database="default")


def _run(env, **kw) -> dict:
    opts = ParityOptions(registry=str(env["reg"]), **{"model_version": "v-good", **kw})
    return run_parity(env["db"], opts)


def test_recomputes_served_ctrs_from_logged_features(parity_db):
    r = _run(parity_db)
    assert r["ok"] is True
    assert r["rows_checked"] == 4 and r["candidates_checked"] == 5 + 3 + 3 + 2
    assert r["max_abs_diff"] <= 1e-6, r["worst"]
    assert r["degraded_rows_skipped"] == 2 and r["degraded_candidates_skipped"] == 2 + 3
    refs = r["item_refs"]
    assert refs["history"] == 4 + 4 + 0 + 1  # r2's six logged ids cut to L = 4
    # ghost (x2, in r1) and nothing else is unknown to ClickHouse
    assert refs["unknown"] == 2
    # in r1 only: A (history + 2 candidates; A changed at T + 500) and F (listed at T + 300 s)
    assert refs["changed_after_request"] == 3 + 1
    assert r["engine"].startswith("onnxruntime") and r["feature_spec_version"] == "fs-test"


def test_the_served_ctrs_depend_on_what_parity_must_reproduce(parity_db):
    """Not vacuous: the latest item version (instead of as of the request), another position, no history or
    older clicks would each give other CTRs than the served ones."""
    schema, runner, r1 = parity_db["schema"], parity_db["runner"], parity_db["rows"][0]
    served = np.asarray(r1["ctrs"])
    latest = served_ctrs(schema, runner, {**r1, "ts_ms": T + 400_000, "device": r1["device"]})
    assert abs(latest[0] - served[0]) > 1e-3  # A's newer version (hour_of_day unchanged: same hour)
    assert abs(served[0] - served[4]) > 1e-3  # A at position 0 vs 40 (clipped to 31)
    no_hist = served_ctrs(schema, runner, {**r1, "history_item_ids": []})
    assert np.abs(np.asarray(no_hist) - served).max() > 1e-3
    older = served_ctrs(schema, runner, {**r1, "history_ts_ms": [c - 72 * HOUR for c in r1["history_ts_ms"]]})
    assert np.abs(np.asarray(older) - served).max() > 1e-3  # the clicks' ages


def test_degraded_rows_when_asked_and_prior_answers_skipped(parity_db):
    r = _run(parity_db, include_degraded=True)
    assert r["ok"] is True and r["rows_checked"] == 5 and r["degraded_rows_checked"] == 1
    assert r["prior_rows_skipped"] == 1 and r["degraded_rows_skipped"] == 0
    assert r["max_abs_diff"] <= 1e-6


def test_windows_and_limit(parity_db):
    events = []
    r = run_parity(
        parity_db["db"],
        ParityOptions(model_version="v-good", registry=str(parity_db["reg"]), chunk_rows=1, progress_every_s=0),
        progress=events.append,
    )
    assert r["rows_checked"] == 4 and r["max_abs_diff"] <= 1e-6
    assert events[-1]["windows"] >= 3 and events[-1]["rows_read"] == 6
    assert all(e["event"] == "parity.progress" for e in events)
    r = _run(parity_db, limit=2)
    assert r["rows_read"] == 2 and r["rows_checked"] == 2
    r = _run(parity_db, since_ms=T + 1000, until_ms=T + 2 * HOUR)  # r2 and r4; r3 is at the until bound
    assert r["rows_checked"] == 2 and r["candidates_checked"] == 3 + 2


def _parity_cli(env, model_version: str, *extra: str) -> int:
    """`mmctr-train parity` on the test database for `model_version` against the v-good artifact."""
    db, artifact = env["db"].database, str(env["reg"] / "v-good")
    return cli.main(["parity", "--database", db, "--model-version", model_version, "--artifact", artifact, *extra])


def test_cli_fails_on_a_ctr_the_features_do_not_explain(parity_db, capsys):
    env = parity_db
    rc = _parity_cli(env, "v-bad", "--json", "--quiet")
    out = json.loads(capsys.readouterr().out)
    assert rc == 1 and out["ok"] is False
    assert out["candidates_over_tolerance"] == 1 and abs(out["max_abs_diff"] - 0.01) < 1e-6
    assert out["worst"][0]["request_id"] == "b1" and out["worst"][0]["item_id"] == "B"
    # a row logged with another feature spec cannot be recomputed with this artifact: a failure too
    rc = _parity_cli(env, "v-spec", "--json", "--quiet")
    out = json.loads(capsys.readouterr().out)
    assert rc == 2 and out["spec_mismatch_rows"] == 1 and out["rows_checked"] == 0
    # nothing logged for a version: exit 2, not a silent pass
    rc = _parity_cli(env, "v-none", "--quiet")
    assert rc == 2 and "FAIL" in capsys.readouterr().out


def test_cli_finds_the_production_artifact_in_the_registry(parity_db, capsys):
    env = parity_db
    db = env["db"]
    register(
        db,
        version="v-good",
        model_type="qin",
        artifact_uri=Path(env["reg"] / "v-good").as_uri(),
        feature_spec_version="fs-test",
        metrics={},
        train_from_ms=0,
        train_to_ms=0,
        git_revision="test",
    )
    promote(db, "v-good")
    rc = cli.main(["parity", "--database", db.database, "--json-out", str(env["reg"] / "out.json")])
    captured = capsys.readouterr()
    assert rc == 0, captured.out
    assert "PASS" in captured.out and "rows checked 4, candidates 13" in captured.out
    assert '"event": "parity.progress"' in captured.err
    saved = json.loads((env["reg"] / "out.json").read_text())
    assert saved["model_version"] == "v-good" and saved["artifact"] == str((env["reg"] / "v-good").resolve())


def in_new_format(row: dict, version: str) -> dict:
    """A logged row as a scorer since migration 0018 writes it: the context and the history in the repository's
    names (JSON columns); the fixed demo columns are blanked so that only the new ones can explain the CTRs."""
    hist = {"keys": row["history_item_ids"][:L], "ts_ms": row["history_ts_ms"][:L]}
    return dict(
        row,
        model_version=version,
        context_json=json.dumps({k: row[k] for k in ("device", "placement", "country")}),
        candidate_context_json=json.dumps([{"position": p} for p in row["positions"]]),
        sequences_json=json.dumps({"hist": hist}),
        device="",
        placement="",
        country="",
        history_item_ids=[],
        history_ts_ms=[],
    )


def test_rows_in_the_new_format_recompute_the_same_ctrs(parity_db):
    reg = parity_db["reg"]
    shutil.copytree(reg / "v-good", reg / "v-new")
    parity_db["db"].insert("score_log", [in_new_format(r, "v-new") for r in parity_db["rows"]])
    r = _run(parity_db, model_version="v-new")
    assert r["ok"] is True and r["max_abs_diff"] == 0.0
    assert r["rows_checked"] == 4 and r["candidates_checked"] == 5 + 3 + 3 + 2


def test_legacy_context_columns_come_from_the_repository_and_the_table(parity_db):
    """Rows logged before context_json: their fixed columns are the repository's request-scope context attributes
    that score_log has (the demo's three; none of the ad platform's), each read back as its attribute's type."""
    cols = [n for n, _t in store.table_columns(parity_db["db"], "score_log")]
    assert legacy_context_columns(tiny_repo(), cols) == {"device": "string", "placement": "string", "country": "string"}
    ad = load_feature_repo(REPO_ROOT / "feature-repos" / "ad-platform")
    assert legacy_context_columns(ad, cols) == {}
    wider = [*cols, "network", "floor_price"]
    assert legacy_context_columns(ad, wider) == {"network": "string", "floor_price": "float"}
    row = LoggedRow.from_json(
        {"request_id": "r", "ts_ms": T, "user_id": "u", "network": "wifi", "floor_price": "0.5"},
        {"network": "string", "floor_price": "float", "os_version": "string"},
    )
    assert row.request_context() == {"network": "wifi", "floor_price": 0.5, "os_version": ""}
