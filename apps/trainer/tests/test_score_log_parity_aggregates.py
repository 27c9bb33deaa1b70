"""Parity of a layout with aggregate features, on hand-written score_log rows (real ClickHouse, own database):
the model inputs are rebuilt from the logged raw window values (the served CTRs are computed from them the way
the scorer does, slots.encode_request), and every logged value is recomputed offline as of its as_of_ms with the
logged keys; a value that differs fails the check even when the CTRs it explains match."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mmctr_trainer import cli
from mmctr_trainer.ch import ClickHouse
from mmctr_trainer.config import load_config
from mmctr_trainer.dataset.aggregate_values import aggregate_windows
from mmctr_trainer.export import export_onnx
from mmctr_trainer.models import build_model
from mmctr_trainer.schema import ModelSchema, repo_document
from mmctr_trainer.score_log_parity import OnnxRunner, ParityOptions, run_parity
from mmctr_trainer.slots import encode_request

from .test_aggregate_features import HOUR, T, aggregate_repo, fill
from .test_score_log_parity import log_row

REPO = aggregate_repo()
SCHEMA = ModelSchema.from_repo(REPO)
CATEGORY = {"a": [(T - 86_400_000, "shoes")], "b": [(T - 86_400_000, "shoes"), (T + 20 * HOUR, "hats")]}
CATEGORY["c"] = [(T - 86_400_000, "hats")]


def online_values(db: ClickHouse, ts: int, user: str, items: list[str]) -> dict:
    """The score log's `aggregates` for a request: what the counters hold (equal to the offline values, which the
    aggregate tests prove against the counters' twin), by `<aggregation>@<window>`."""
    raw = aggregate_windows(db, REPO, {"ts_ms": [ts] * len(items), "user_id": [user] * len(items), "item_id": items})
    by_name = {a["name"]: a for a in REPO.aggregations}
    out: dict = {"as_of_ms": ts, "user": {}, "candidates": {}}
    for side, group in (("user", SCHEMA.user), ("candidates", SCHEMA.candidate)):
        for s in [*group["numeric"], *group["categorical"]]:
            if "window" in s:
                name = s["source"].split(".", 1)[1]
                col = raw[name][:, by_name[name]["windows"].index(s["window"])]
                key = f"{name}@{s['window']}"
                out[side][key] = float(col[0]) if side == "user" else [float(v) for v in col]
    return out


def served(runner: OnnxRunner, row: dict, aggregates: dict) -> list[float]:
    ts = row["ts_ms"]

    def item(i: str) -> dict:
        cat = [c for t, c in CATEGORY[i] if t <= ts][-1]
        return {"row": {"item_id": i, "category": cat, "tags": []}}

    cands = [{**item(i), "context": {"position": p}} for i, p in zip(row["item_ids"], row["positions"], strict=True)]
    request = {
        "ts_ms": ts,
        "user": {"row": {"user_id": row["user_id"]}},
        "context": {k: row[k] for k in ("device", "placement", "country")},
        "candidates": cands,
        "aggregates": aggregates,
    }
    return [float(x) for x in runner(encode_request(SCHEMA, request))]


@pytest.fixture(scope="module")
def agg_db(ch, tmp_path_factory):
    name = ch.database + "_aggparity"
    ch.command(f"DROP DATABASE IF EXISTS {name}", database="default")
    ch.command(f"CREATE DATABASE {name}", database="default")
    for t in ("events", "items", "item_embeddings", "score_log", "models"):
        ch.command(f"CREATE TABLE {name}.{t} AS {ch.database}.{t}", database="default")
    db = ClickHouse(ch.url, name, ch.user, ch.password)
    fill(db)
    torch.manual_seed(4)
    model = build_model("qin", SCHEMA, load_config("tiny").model("qin"))
    with torch.no_grad():
        for p in model.parameters():  # random, not trained: every input moves the CTR
            p.normal_(0.0, 0.3)
    model.eval()
    folder = tmp_path_factory.mktemp("agg-registry") / "v-agg"
    export_onnx(model, folder / "model.onnx")
    (folder / "layout.json").write_text(json.dumps(SCHEMA.layout))
    (folder / "feature_repo.json").write_text(json.dumps(repo_document(REPO)))
    runner = OnnxRunner(folder / "model.onnx", SCHEMA)

    requests = [
        ("r1", T + 30 * HOUR, "u0", ["b", "a", "c"]),  # b is a hat by now: user_category_clicks reads hats
        ("r2", T + 30 * HOUR + 17 * 60_000 + 5, "u1", ["a", "c"]),  # inside an hour and a minute
        ("r3", T + 47 * HOUR, "u0", ["c", "b"]),
        ("r4", T - HOUR, "u9", ["a"]),  # before every event: zeros and the ratio's smoothed prior
    ]
    rows, tampered = [], []
    for rid, ts, user, items in requests:
        row = log_row(rid, ts, user, [], items, list(range(len(items))), version="v-agg", spec_version=REPO.version)
        values = online_values(db, ts, user, items)
        rows.append({**row, "ctrs": served(runner, row, values), "aggregates_json": json.dumps(values)})
        if rid == "r2":  # a logged value the counters could not have held, and the CTRs it explains
            values["candidates"]["item_ctr@1h"][1] += 0.01
            bad = {**row, "model_version": "v-agg-bad", "aggregates_json": json.dumps(values)}
            tampered.append({**bad, "ctrs": served(runner, row, values)})
    missing = {**rows[0], "model_version": "v-agg-missing", "aggregates_json": ""}
    db.insert("score_log", rows + tampered + [missing])
    yield {"db": db, "reg": folder.parent, "rows": rows, "runner": runner}
    ch.command(f"DROP DATABASE IF EXISTS {name}", database="default")


def test_logged_aggregates_rebuild_the_inputs_and_equal_the_offline_values(agg_db) -> None:
    r = run_parity(agg_db["db"], ParityOptions(model_version="v-agg", artifact=str(agg_db["reg"] / "v-agg")))
    assert r["ok"] is True and r["rows_checked"] == 4 and r["max_abs_diff"] <= 1e-6, r["worst"]
    agg = r["aggregates"]
    # per request: user_clicks@24h once, and 4 candidate values per candidate (item_clicks@24h, item_ctr@1h,
    # item_ctr@24h, user_category_clicks@24h)
    assert agg["rows"] == 4 and agg["values_compared"] == 4 * 1 + 4 * (3 + 2 + 2 + 1)
    assert agg["values_equal"] == agg["values_compared"] and agg["max_abs_diff"] == 0.0


def test_the_logged_values_move_the_ctrs(agg_db) -> None:
    """Not vacuous: other raw values give other CTRs, so the rebuilt inputs must read the logged ones."""
    row = agg_db["rows"][0]
    values = json.loads(row["aggregates_json"])
    values["candidates"]["item_ctr@24h"] = [v + 0.2 for v in values["candidates"]["item_ctr@24h"]]
    moved = served(agg_db["runner"], row, values)
    assert np.abs(np.asarray(moved) - np.asarray(row["ctrs"])).max() > 1e-3


def test_a_logged_value_that_differs_fails_naming_it(agg_db, capsys) -> None:
    artifact = str(agg_db["reg"] / "v-agg")
    rc = cli.main(
        ["parity", "--database", agg_db["db"].database, "--model-version", "v-agg-bad", "--artifact", artifact]
    )
    out = capsys.readouterr().out
    assert rc == 1, out
    assert "rows checked 1" in out and "over tolerance: 0 candidates" in out  # the CTRs match the logged values
    assert "aggregates recomputed offline: 9 values of 1 requests, equal 8" in out
    assert "aggregate differs: r2 item_ctr@1h (candidate c)" in out and "FAIL" in out


def test_a_row_without_the_aggregates_its_layout_reads_is_malformed(agg_db) -> None:
    r = run_parity(agg_db["db"], ParityOptions(model_version="v-agg-missing", artifact=str(agg_db["reg"] / "v-agg")))
    assert r["ok"] is False and r["malformed_rows"] == 1 and r["rows_checked"] == 0
