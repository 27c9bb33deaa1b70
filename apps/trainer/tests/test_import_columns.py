"""`mmctr-train import` with numeric (--numeric) and multi-valued (--multi) columns: the table becomes a feature
repository whose numeric / multi_categorical features go through the repository's layout, slot encoders and
fitted encoders; a bad cell is refused naming its file, line and column."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest

from mmctr_trainer import cli
from mmctr_trainer.export import OnnxScorer
from mmctr_trainer.features import bucket
from mmctr_trainer.metrics import auc
from mmctr_trainer.registry import current
from mmctr_trainer.slots import encode_request
from mmctr_trainer.tabular import TabularSet, feature_name, parse_multi, parse_numeric

from .tabular_data import MIXED_COLUMNS, mixed_rows, write_csv

COLUMNS = ["--label", "clicked", "--fields", "site", "--numeric", "price:log1p,age", "--multi", "genres"]
MODELS = ["lr", "autoint", "din", "qin"]


@pytest.fixture(scope="module")
def rows():
    return {"train": mixed_rows(900, seed=11), "valid": mixed_rows(200, seed=12), "test": mixed_rows(200, seed=13)}


@pytest.fixture(scope="module")
def split_files(rows, tmp_path_factory):
    d = tmp_path_factory.mktemp("mixed")
    return {s: write_csv(d / f"{s}.csv", r, MIXED_COLUMNS) for s, r in rows.items()}


def _files_args(files) -> list[str]:
    return [a for s in ("train", "valid", "test") for a in (f"--{s}", str(files[s]))]


def _tabular_splits(files) -> dict:
    """The split files under TabularSet's split names."""
    return {"train": files["train"], "val": files["valid"], "test": files["test"]}


def _as_imported(files) -> TabularSet:
    """The split files read as the import reads COLUMNS."""
    return TabularSet(
        _tabular_splits(files),
        "clicked",
        ["site"],
        numeric=parse_numeric("price:log1p,age"),
        multi=parse_multi("genres"),
        min_count=1,  # as the import (its default): site's values are keys, mapped by the artifact's vocabulary.json
    )


def test_an_import_from_split_files_trains_every_model_on_numeric_and_multi_valued_columns(
    ch, rows, split_files, tmp_path, capsys
):
    reg = tmp_path / "reg"
    argv = ["import", *_files_args(split_files), *COLUMNS, "--model", "all", "--config", "tiny", "--max-epochs", "2"]
    argv += ["--registry", str(reg), "--database", ch.database, "--clickhouse-url", ch.url]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    longest = max(len(r[3].split("|")) for r in rows["train"])  # the default max length: the train split's longest
    assert (
        "[import] 1300 rows, fields ['site'], numeric {'price': 'log1p', 'age': 'standardize'}, "
        f"multi {{'genres': {longest}}}: train 900, val 200, test 200"
    ) in out
    # one combined table at the end, without the cold-start column a CSV has no rows for
    table = out[out.rindex("| model |") :].splitlines()
    assert "cold-start" not in table[0] and [line.split(" | ")[0] for line in table[2:6]] == [f"| {m}" for m in MODELS]

    artifacts = sorted(reg.iterdir())
    assert sorted(a.name.split("-")[0] for a in artifacts) == sorted(MODELS)
    train_ages = np.asarray([r[2] for r in rows["train"]], dtype=np.float64)
    for artifact in artifacts:
        layout = json.loads((artifact / "layout.json").read_text())
        assert [(i["name"], i["shape"]) for i in layout["inputs"]] == [
            ("cand_cat", ["B", 1]),
            ("cand_num", ["B", 2]),
            ("cand_multi", ["B", longest]),
        ]
        repo = json.loads((artifact / "feature_repo.json").read_text())
        assert [(f["name"], f["kind"], f.get("transform"), f.get("max_length")) for f in repo["features"]] == [
            ("site", "categorical", None, None),
            ("price", "numeric", "log1p", None),
            ("age", "numeric", "standardize", None),
            ("genres", "multi_categorical", None, longest),
        ]
        # age's standardize and site's vocabulary (min-count 1, the default) are fitted on the training rows only;
        # price's log1p needs no fit
        fitted = json.loads((artifact / "model.json").read_text())["schema"]["fitted"]
        assert set(fitted) == {"age", "site"} and fitted["age"]["train_rows"] == 900
        assert fitted["site"]["vocabulary_size"] == len({r[0] for r in rows["train"]})
        assert fitted["age"]["mean"] == pytest.approx(train_ages.mean(), rel=1e-6)
        assert fitted["age"]["std"] == pytest.approx(train_ages.std(), rel=1e-6)
        metrics = json.loads((artifact / "metrics.json").read_text())
        assert metrics["test"]["rows"] == 200 and metrics["onnx"]["max_abs_diff"] <= 1e-4

    registered = {r["version"]: r for r in current(ch)}
    for artifact in artifacts:
        assert registered[artifact.name]["feature_spec_version"] == repo["version"]
        assert registered[artifact.name]["artifact_uri"] == str(artifact)

    # the exported graph, fed the rows as TabularSet encodes them again, gives the test AUC the run reported
    data = _as_imported(split_files)
    lr = next(a for a in artifacts if a.name.startswith("lr-"))
    served = OnnxScorer(lr / "model.onnx").predict(data, "test")
    lr_metrics = json.loads((lr / "metrics.json").read_text())
    assert auc(data.labels("test"), served) == pytest.approx(lr_metrics["test"]["auc"], abs=1e-6)


def test_cells_are_encoded_by_the_repository_slot_encoders(tmp_path):
    columns = ["Price ($)", "tags", "kind", "y"]
    cells = [["2.5", "a|b|c", "x", "1"], ["", "", "", "0"], ["-3", " a || d |", "y", "no"], ["7", "b", "x", "true"]]
    path = write_csv(tmp_path / "t.csv", cells, columns)
    data = TabularSet(
        path, "y", ["kind"], buckets=64, numeric={"Price ($)": "log1p"}, multi={"tags": 2}, fractions=(0.5, 0.75)
    )
    assert data.meta["features"] == {"kind": "kind", "Price ($)": "price", "tags": "tags"}
    expected = {
        0: ([bucket("kind", "x", 64)], [math.log1p(2.5)], [bucket("tags", "a", 64), bucket("tags", "b", 64)], 1.0),
        1: ([0], [0.0], [0, 0], 0.0),  # empty cells: missing (numeric 0 before log1p, no values)
        2: ([bucket("kind", "y", 64)], [0.0], [bucket("tags", "a", 64), bucket("tags", "d", 64)], 0.0),
        3: ([bucket("kind", "x", 64)], [math.log1p(7)], [bucket("tags", "b", 64), 0], 1.0),
    }
    for split in ("train", "val", "test"):
        x = data.gather(split, np.arange(data.rows(split)))
        for k, row in enumerate(data.index[split]):
            cat, num, multi, label = expected[int(row)]
            assert list(x["cand_cat"][k]) == cat and list(x["cand_multi"][k]) == multi and x["label"][k] == label
            assert x["cand_num"][k][0] == pytest.approx(num[0], rel=1e-6)


def test_the_columns_encode_as_encode_request_encodes_the_rows(rows, split_files):
    files = _tabular_splits(split_files)
    data = TabularSet(files, "clicked", ["site"], numeric={"price": "log1p", "age": "none"}, multi={"genres": 3})
    raw = rows["train"] + rows["valid"] + rows["test"]  # the files' rows, in the order TabularSet reads them
    records = [
        {"row": {"site": site, "price": float(price), "age": float(age), "genres": genres.split("|")}}
        for site, price, age, genres, _ in raw
    ]
    expected = encode_request(data.schema, {"candidates": records})
    got = {
        name: np.concatenate([data.gather(s, np.arange(data.rows(s)))[name] for s in ("train", "val", "test")])
        for name in data.schema.input_names
    }
    assert set(got) == set(expected) == {"cand_cat", "cand_num", "cand_multi"}
    for name, x in got.items():
        np.testing.assert_array_equal(x, expected[name])


def test_a_tables_model_has_inputs_and_attention_fields_for_its_columns_only(split_files, tmp_path):
    """No history, user or vector inputs for a table: the ONNX signature is the three candidate inputs and AutoInt+
    attends over the four columns (site, price, age, genres), nothing else."""
    from mmctr_trainer.config import TrainerConfig
    from mmctr_trainer.export import export_onnx
    from mmctr_trainer.models import build_model

    data = _as_imported(split_files)
    model = build_model("autoint", data.schema, TrainerConfig().model("autoint").to_json()).eval()
    assert model.n_fields == 4
    scorer = OnnxScorer(export_onnx(model, tmp_path / "model.onnx"))
    assert scorer.input_names == data.schema.input_names == ["cand_cat", "cand_num", "cand_multi"]


def test_feature_names_follow_the_repository_name_rule():
    assert [feature_name(c) for c in ("Price ($)", "C1", "2nd", "user-id", "ok_name")] == [
        "price",
        "c1",
        "c_2nd",
        "user_id",
        "ok_name",
    ]


def _write_bad(tmp_path, split: str, index: int, column: str, value: str, split_files, rows) -> dict[str, str]:
    """Copies of the split files with one cell of `split` (data row `index`) replaced by `value`."""
    files = {s: str(p) for s, p in split_files.items()}
    bad = [list(r) for r in rows[split]]
    bad[index][MIXED_COLUMNS.index(column)] = value
    files[split] = str(write_csv(tmp_path / f"{split}.csv", bad, MIXED_COLUMNS))
    return files


@pytest.mark.parametrize(
    ("split", "index", "column", "value", "message"),
    [
        ("valid", 2, "price", "12,5", "valid.csv line 4, column 'price': '12,5' is not a number"),
        ("train", 0, "age", "inf", "train.csv line 2, column 'age': 'inf' is not a finite number"),
        ("test", 9, "age", "NaN", "test.csv line 11, column 'age': 'NaN' is not a finite number"),
        ("train", 5, "clicked", "maybe", "train.csv line 7, column 'clicked': 'maybe' is not a label"),
    ],
)
def test_a_bad_cell_is_refused_naming_file_line_and_column(
    split, index, column, value, message, rows, split_files, tmp_path, capsys
):
    files = _write_bad(tmp_path, split, index, column, value, split_files, rows)
    reg = tmp_path / "reg"
    argv = ["import", *_files_args(files), *COLUMNS, "--registry", str(reg), "--no-register"]
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert message in err and "[train]" not in out and not reg.exists()


def test_a_row_with_the_wrong_number_of_values_is_refused(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("site,price,clicked\ns1,2,1\ns2,3\ns3,4,0\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"ragged.csv line 3: 2 values, the header has 3"):
        TabularSet(path, "clicked", ["site"], numeric={"price": "none"})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--numeric", "price:log2"],
            "--numeric price:log2: unknown transform 'log2'; one of standardize, log1p, none",
        ),
        (["--multi", "genres:0"], "--multi genres:0: the max length must be a whole number >= 1, not '0'"),
        (["--fields", "site", "--numeric", "site"], "column(s) ['site'] named more than once"),
        (["--numeric", "clicked"], "the label column 'clicked' cannot be a feature"),
        ([], "no feature columns: give --fields, --numeric and / or --multi"),
        (["--fields", "Site,site"], "columns 'Site' and 'site' both become the feature name 'site'"),
        (["--numeric", "weight"], "no column(s) ['weight']"),
    ],
)
def test_bad_column_arguments_fail_with_a_message_naming_them(args, message, split_files, capsys):
    argv = ["import", *_files_args(split_files), "--label", "clicked", *args, "--no-register"]
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_min_count_fits_the_categorical_vocabularies_on_the_training_rows(rows, split_files, tmp_path):
    counts = Counter(r[0] for r in rows["train"])  # site, on the training rows only
    n = sorted(counts.values())[len(counts) // 2]  # a threshold that keeps some sites and drops others
    kept = sum(c >= n for c in counts.values())
    assert 0 < kept < len(counts)
    reg = tmp_path / "reg"
    argv = ["import", *_files_args(split_files), *COLUMNS, "--min-count", str(n), "--model", "lr"]
    assert cli.main([*argv, "--config", "tiny", "--max-epochs", "1", "--registry", str(reg), "--no-register"]) == 0
    artifact = next(reg.iterdir())
    fitted = json.loads((artifact / "model.json").read_text())["schema"]["fitted"]
    assert fitted["site"]["encoder"] == "vocabulary" and fitted["site"]["min_count"] == n
    assert fitted["site"]["vocabulary_size"] == kept and fitted["site"]["rows"] == kept + 1
    site = json.loads((artifact / "feature_repo.json").read_text())["features"][0]
    assert site["name"] == "site" and site["fit"] == {"min_count": n}
    assert json.loads((artifact / "metrics.json").read_text())["onnx"]["max_abs_diff"] <= 1e-4
    # --min-count 0: plain hashing, every bucket has a row (unbounded ids)
    hashed = tmp_path / "hashed"
    argv = ["import", *_files_args(split_files), *COLUMNS, "--min-count", "0", "--model", "lr"]
    assert cli.main([*argv, "--config", "tiny", "--max-epochs", "1", "--registry", str(hashed), "--no-register"]) == 0
    artifact = next(hashed.iterdir())
    assert set(json.loads((artifact / "model.json").read_text())["schema"]["fitted"]) == {"age"}
    assert "fit" not in json.loads((artifact / "feature_repo.json").read_text())["features"][0]
