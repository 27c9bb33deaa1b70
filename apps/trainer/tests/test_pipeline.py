"""End to end against the real ClickHouse: build -> train -> ONNX (+ int8) -> artifact -> models row;
promote / list; CSV import."""

import csv
import json

import numpy as np
import pytest

from mmctr_trainer import cli
from mmctr_trainer.registry import current, promote

from .helpers import insert_demo


@pytest.fixture(scope="module")
def repo_file(tmp_path_factory):
    from .helpers import tiny_repo_doc

    p = tmp_path_factory.mktemp("repo") / "repo.json"
    p.write_text(json.dumps(tiny_repo_doc(L=6, D=4)), encoding="utf-8")
    return p


@pytest.fixture(scope="module")
def demo_db(ch):
    insert_demo(ch)
    return ch


def test_train_cli_end_to_end(demo_db, repo_file, tmp_path, capsys):
    ch = demo_db
    # The database is shared by the pytest session: other tests' models (other layouts) may be registered.
    others = {r["version"] for r in current(ch)}
    rc = cli.main(
        [
            "train",
            "--database",
            ch.database,
            "--model",
            "qin",
            "--config",
            "tiny",
            "--max-epochs",
            "12",
            "--feature-repo",
            str(repo_file),
            "--trainset",
            str(tmp_path / "ts"),
            "--registry",
            str(tmp_path / "reg"),
            "--chunk-rows",
            "1000",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "| qin |" in out and "version qin-" in out
    folders = list((tmp_path / "reg").iterdir())
    assert len(folders) == 1
    f = folders[0]
    for name in (
        "model.onnx",
        "model.int8.onnx",
        "model.batch.onnx",
        "layout.json",
        "feature_repo.json",
        "metrics.json",
        "model.json",
        "data.json",
        "git_rev.txt",
    ):
        assert (f / name).exists(), name
    metrics = json.loads((f / "metrics.json").read_text())
    assert metrics["test"]["auc"] > 0.7, metrics["test"]
    assert metrics["onnx"]["max_abs_diff"] <= 1e-4
    assert metrics["int8"]["test_auc_delta"] is not None
    layout = json.loads((f / "layout.json").read_text())
    assert layout["repository"] == {"name": "demo", "version": "fs-test"}
    inputs = [(i["name"], i["shape"]) for i in layout["inputs"]]
    assert inputs[:2] == [("user_cat", ["Bu", 5]), ("hist_cat", ["Bu", 6, 2])]
    # the repository the trainer ran with, whole: the scorer's feature check and `features plan` read its names
    assert json.loads((f / "feature_repo.json").read_text()) == json.loads(repo_file.read_text())
    assert json.loads((f / "model.json").read_text())["signature"]["inputs"] == layout["inputs"]
    rows = {r["version"]: r for r in current(ch)}
    assert rows[f.name]["status"] == "candidate" and rows[f.name]["model_type"] == "qin"
    # evaluate rebuilds the set and scores the test split with the registered ONNX artifact
    rc = cli.main(
        [
            "evaluate",
            "--database",
            ch.database,
            "--all-registered",
            "--feature-repo",
            str(repo_file),
            "--trainset",
            str(tmp_path / "ts-eval"),
            "--chunk-rows",
            "1000",
            "--json-out",
            str(tmp_path / "ev.json"),
        ]
    )
    assert rc == 0
    ev = json.loads((tmp_path / "ev.json").read_text())
    assert [m["version"] for m in ev["models"]] == [f.name]
    # models of another layout are listed as skipped, not scored on inputs they do not read
    assert {m["version"] for m in ev["skipped"]} == others
    assert ev["models"][0]["test"]["rows"] == metrics["test"]["rows"]
    assert abs(ev["models"][0]["test"]["auc"] - metrics["test"]["auc"]) <= 1e-4
    # the training set is reused by a second run (LR, no registry row)
    rc = cli.main(
        [
            "train",
            "--database",
            ch.database,
            "--model",
            "lr",
            "--config",
            "tiny",
            "--max-epochs",
            "2",
            "--trainset",
            str(tmp_path / "ts"),
            "--registry",
            str(tmp_path / "reg"),
            "--no-register",
        ]
    )
    assert rc == 0
    assert "reusing" in capsys.readouterr().out
    assert {r["version"] for r in current(ch)} - others == {f.name}


def test_promote_and_list(ch, capsys):
    from mmctr_trainer.registry import register

    for v in ("m-a", "m-b"):
        register(
            ch,
            version=v,
            model_type="lr",
            artifact_uri=f"/tmp/{v}",
            feature_spec_version="fs-test",
            metrics={"test": {"auc": 0.5}},
            train_from_ms=1,
            train_to_ms=2,
            git_revision="abc",
        )
    assert cli.main(["promote", "--database", ch.database, "m-a"]) == 0
    st = {r["version"]: r["status"] for r in current(ch)}
    assert st["m-a"] == "production" and st["m-b"] == "candidate"
    assert promote(ch, "m-b") == ["m-a"]
    st = {r["version"]: r["status"] for r in current(ch)}
    assert st["m-a"] == "retired" and st["m-b"] == "production"
    with pytest.raises(KeyError):
        promote(ch, "no-such-version")
    capsys.readouterr()
    assert cli.main(["list", "--database", ch.database]) == 0
    out = capsys.readouterr().out
    assert "m-a" in out and "retired" in out and "production" in out


def test_import_csv(tmp_path, capsys):
    r = np.random.default_rng(1)
    path = tmp_path / "ctr.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ts", "site", "app", "hour", "clicked"])
        for n in range(1500):
            site, app = int(r.integers(0, 8)), int(r.integers(0, 5))
            y = int(r.random() < (0.6 if (site + app) % 3 == 0 else 0.1))
            w.writerow([n, f"s{site}", f"a{app}", n % 24, y])
    rc = cli.main(
        [
            "import",
            "--csv",
            str(path),
            "--label",
            "clicked",
            "--fields",
            "site,app,hour",
            "--split",
            "time",
            "--time-col",
            "ts",
            "--model",
            "autoint",
            "--config",
            "tiny",
            "--max-epochs",
            "8",
            "--registry",
            str(tmp_path / "reg"),
            "--no-register",
        ]
    )
    assert rc == 0
    f = next((tmp_path / "reg").iterdir())
    metrics = json.loads((f / "metrics.json").read_text())
    assert metrics["test"]["auc"] > 0.65
    assert metrics["onnx"]["max_abs_diff"] <= 1e-4
    layout = json.loads((f / "layout.json").read_text())
    assert layout["inputs"] == [{"name": "cand_cat", "dtype": "int64", "shape": ["B", 3]}]
    # the repository generated from the columns: one hashed categorical feature per --fields column
    repo = json.loads((f / "feature_repo.json").read_text())
    assert [(x["name"], x["kind"], x["source"]) for x in repo["features"]] == [
        (c, "categorical", f"row.{c}") for c in ("site", "app", "hour")
    ]
