"""`mmctr-train import`: predefined splits (separate files or a split column), the registry checked before any
training, --model all going on after a failed model, and a --help that describes every flag."""

from __future__ import annotations

import argparse
import json
import logging

import pytest

from mmctr_trainer import cli
from mmctr_trainer.config import CONFIG_DIR, MODEL_PARAMS
from mmctr_trainer.tabular import TabularSet

from .tabular_data import COLUMNS, ctr_rows, write_csv

FIELDS = ["--label", "clicked", "--fields", "site,app,hour"]
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: connection refused


@pytest.fixture(scope="module")
def split_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("splits")
    return {
        "train": write_csv(d / "train.csv", ctr_rows(900, seed=1)),
        "valid": write_csv(d / "valid.csv", ctr_rows(150, seed=2, start=900)),
        "test": write_csv(d / "test.csv", ctr_rows(120, seed=3, start=1050)),
    }


def _files_args(files) -> list[str]:
    return [a for s in ("train", "valid", "test") for a in (f"--{s}", str(files[s]))]


def test_import_trains_on_predefined_split_files(split_files, tmp_path, capsys):
    reg = tmp_path / "reg"
    argv = ["import", *_files_args(split_files), *FIELDS, "--model", "lr", "--config", "tiny", "--max-epochs", "2"]
    rc = cli.main([*argv, "--registry", str(reg), "--no-register"])
    assert rc == 0
    assert "[import] 1170 rows, fields ['site', 'app', 'hour']: train 900, val 150, test 120" in capsys.readouterr().out
    artifact = next(reg.iterdir())
    data = json.loads((artifact / "data.json").read_text())
    assert data["split"] == "files"
    assert data["source"] == {
        "train": str(split_files["train"]),
        "val": str(split_files["valid"]),
        "test": str(split_files["test"]),
    }
    metrics = json.loads((artifact / "metrics.json").read_text())
    assert metrics["test"]["rows"] == 120 and metrics["val"]["rows"] == 150


def test_a_split_column_names_each_rows_split(tmp_path):
    rows = ctr_rows(40)
    names = ["train"] * 30 + ["Valid"] * 5 + [" test "] * 5
    path = write_csv(tmp_path / "ctr.csv", [r + [n] for r, n in zip(rows, names, strict=True)], [*COLUMNS, "part"])
    data = TabularSet(path, "clicked", ["site", "app"], buckets=64, split="column", split_col="part")
    assert [data.rows(s) for s in ("train", "val", "test")] == [30, 5, 5]
    assert list(data.labels("test")) == [float(r[-1]) for r in rows[35:]]
    bad = write_csv(tmp_path / "bad.csv", [r + ["holdout"] for r in rows], [*COLUMNS, "part"])
    with pytest.raises(ValueError, match=r"split column 'part' holds \['holdout'\] \(40 rows\)"):
        TabularSet(bad, "clicked", ["site"], split="column", split_col="part")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--train", "a.csv", "--valid", "b.csv"], "give --csv FILE, or all of --train, --valid and --test"),
        (["--csv", "a.csv", "--test", "b.csv"], "give either --csv or the split files, not both"),
        (["--csv", "a.csv", "--split", "random", "--time-col", "ts"], "--time-col goes with --split time"),
        (["--csv", "no/such/file.csv"], "No such file or directory"),
        (["--csv", "a.csv", "--min-count", "-1"], "--min-count must be >= 0 (0: every hash bucket has a row), not -1"),
    ],
)
def test_bad_import_arguments_fail_with_a_message_naming_them(args, message, capsys):
    assert cli.main(["import", *args, *FIELDS, "--no-register"]) == 2
    assert message in capsys.readouterr().err


def test_an_unreachable_registry_fails_before_training_starts(split_files, tmp_path, capsys):
    reg = tmp_path / "reg"
    argv = ["import", *_files_args(split_files), *FIELDS, "--clickhouse-url", UNREACHABLE, "--registry", str(reg)]
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert "[train]" not in out and not reg.exists()
    assert "the model registry" in err and "is not reachable: [Errno 111] Connection refused" in err
    assert "--no-register" in err and "Traceback" not in err and "URLError" not in err
    # train checks it as well, before building a training set
    assert cli.main(["train", "--clickhouse-url", UNREACHABLE, "--trainset", str(tmp_path / "set")]) == 2
    assert "is not reachable" in capsys.readouterr().err and not (tmp_path / "set").exists()


def test_model_all_goes_on_after_a_failed_model_and_reports_it(split_files, tmp_path, capsys, caplog):
    from mmctr_trainer.pipeline import QUANTISER_ADVICE

    raw = json.loads((CONFIG_DIR / "tiny.json").read_text(encoding="utf-8"))
    raw["models"]["autoint"].update(attention_dim=9, heads=2)  # loads, but cannot be built: 9 heads-wide fails
    config = tmp_path / "broken-autoint.json"
    config.write_text(json.dumps(raw), encoding="utf-8")
    QUANTISER_ADVICE.seen = False
    argv = ["import", *_files_args(split_files), *FIELDS, "--model", "all", "--config", str(config)]
    with caplog.at_level(logging.WARNING):
        rc = cli.main([*argv, "--max-epochs", "1", "--registry", str(tmp_path / "reg"), "--no-register"])
    assert rc == 1
    out, err = capsys.readouterr()
    assert "[autoint] failed: ValueError: attention_dim 9 is not a multiple of heads 2" in err
    assert "failed: autoint (3 of 4 models trained)" in err
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "reg").iterdir()) == ["din", "lr", "qin"]
    assert all(f"| {m} |" in out for m in ("lr", "din", "qin"))
    # onnxruntime's quantiser advice: logged on each of the 6 quantisations, shown once
    assert sum("pre-processing before quantization" in r.getMessage() for r in caplog.records) == 1


def test_help_describes_every_import_flag_and_lists_the_shipped_configs(capsys):
    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    flags = {a.option_strings[-1]: a.help for a in sub.choices["import"]._actions if a.option_strings}
    assert {"--csv", "--train", "--valid", "--test", "--split", "--time-col", "--split-col"} <= set(flags)
    assert all(flags.values()), [f for f, h in flags.items() if not h]  # every flag says what it does
    with pytest.raises(SystemExit):
        cli.main(["import", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    names = sorted(p.stem for p in CONFIG_DIR.glob("*.json"))
    assert f"({', '.join(names)}; default: default)" in text
    assert "{" + ",".join([*MODEL_PARAMS, "all"]) + "}" in text


def test_a_calibrated_import_exports_the_calibrated_ctr(split_files, tmp_path):
    from mmctr_trainer.export import OnnxScorer
    from mmctr_trainer.metrics import logloss

    raw = json.loads((CONFIG_DIR / "tiny.json").read_text(encoding="utf-8"))
    raw["training"]["calibration"] = "platt"
    config = tmp_path / "platt.json"
    config.write_text(json.dumps(raw), encoding="utf-8")
    reg = tmp_path / "reg"
    argv = ["import", *_files_args(split_files), *FIELDS, "--model", "lr", "--config", str(config)]
    assert cli.main([*argv, "--max-epochs", "2", "--registry", str(reg), "--no-register"]) == 0
    artifact = next(reg.iterdir())
    card = json.loads((artifact / "model.json").read_text())
    metrics = json.loads((artifact / "metrics.json").read_text())
    assert card["calibration"]["method"] == "platt" and card["calibration"]["scale"] == metrics["calibration"]["scale"]
    # the graph computes the calibrated CTR: its test log-loss is the calibrated one, not the raw model's
    files = {"train": split_files["train"], "val": split_files["valid"], "test": split_files["test"]}
    # encoded as the import encodes them (min-count 1: fitted vocabularies, their value keys mapped by vocabulary.json)
    data = TabularSet(files, "clicked", ["site", "app", "hour"], buckets=65536, min_count=1)
    served = OnnxScorer(artifact / "model.onnx").predict(data, "test")
    assert logloss(data.labels("test"), served) == pytest.approx(
        metrics["calibration"]["calibrated"]["test_logloss"], abs=1e-5
    )
    assert (
        metrics["calibration"]["calibrated"]["test_logloss"] != metrics["calibration"]["uncalibrated"]["test_logloss"]
    )
