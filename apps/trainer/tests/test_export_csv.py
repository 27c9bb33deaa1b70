"""The CSV export of a built training set (bench/quality): the MovieLens repository's set, built from a few
hand-made ratings in a real ClickHouse, written as train/valid/test CSV files: the same rows in the same
order, the labels, each slot's value and the clicked-movie sequence as of each rating."""

from __future__ import annotations

import csv
import subprocess
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmctr_trainer.ch import ClickHouse
from mmctr_trainer.cli import main as cli_main
from mmctr_trainer.dataset import TrainSet, build_training_set
from mmctr_trainer.export_csv import export_csv
from mmctr_trainer.features import REPO_ROOT
from mmctr_trainer.schema import load_repo
from mmctr_trainer.slots import encode_categorical, encode_multi, encode_numeric

ML_REPO = REPO_ROOT / "feature-repos" / "movielens"
T = 1_800_000_000_000
S = 1000
USERS = [{"user_id": "1", "age": 30, "gender": "F", "occupation": "engineer", "zip_prefix": "021"}]
MOVIES = [
    {"movie_id": "10", "title": "A", "year": 1995, "genres": ["Action", "Comedy"]},
    {"movie_id": "20", "title": "B", "year": 1990, "genres": ["Drama"]},
    {"movie_id": "30", "title": "C", "year": 0, "genres": []},
]
# (user, movie, ts, rating); a rating >= 4 is a click at the same time
RATINGS = [
    ("1", "10", T, 5),  # train
    ("1", "20", T + 10 * S, 2),  # train, no click
    ("1", "30", T + 20 * S, 4),  # validation: its sequence holds movie 10 only (20 was not clicked)
    ("2", "10", T + 30 * S, 1),  # test: user 2 has no profile (defaults) and no clicks
    ("1", "20", T + 40 * S, 5),  # test: its sequence is 30 then 10 (newest first)
]


def event_rows() -> list[dict[str, Any]]:
    rows = []
    for u, m, ts, rating in RATINGS:
        kinds = ("impression", "click") if rating >= 4 else ("impression",)
        for k in kinds:
            rows.append(
                {
                    "event_id": f"{k}-{u}-{m}-{ts}",
                    "type": k,
                    "ts_ms": ts,
                    "event_time": ts // 1000,
                    "user_id": u,
                    "movie_id": m,
                    "rating": rating,
                }
            )
    return rows


def stamped(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "ts_ms": T - S, "updated_at": (T - S) // 1000} for r in rows]


@pytest.fixture(scope="module")
def ml_db():
    name = f"mmctr_mlcsv_{uuid.uuid4().hex[:8]}"
    mmctr = str(REPO_ROOT / "bin" / "mmctr")
    for args in (["migrate"], ["features", "apply", str(ML_REPO)]):
        subprocess.run([mmctr, *args, "--database", name], cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL)
    db = ClickHouse.from_env(database=name)
    try:
        db.insert("ml_events", event_rows())
        db.insert("ml_users", stamped(USERS))
        db.insert("ml_movies", stamped(MOVIES))
        yield db
    finally:
        db.command(f"DROP DATABASE IF EXISTS {name}", database="default")


@pytest.fixture(scope="module")
def exported(ml_db, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ml-set")
    build_training_set(ml_db, load_repo(ML_REPO), folder, train_end_ms=T + 15 * S, val_end_ms=T + 25 * S, log=print)
    out = tmp_path_factory.mktemp("ml-csv")
    summary = export_csv(folder, out)
    return TrainSet(folder, trim_history=False), out, summary


def read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def slot(ts: TrainSet, side: str, kind: str, feature: str) -> dict[str, Any]:
    return next(s for s in ts.schema.layout[side][kind] if s["feature"] == feature)


def test_columns_follow_the_peer_format(exported) -> None:
    _ts, _out, summary = exported
    assert summary["columns"] == [
        "label",
        "c_user_id",
        "c_age_band",
        "c_gender",
        "c_occupation",
        "c_zip_prefix",
        "n_age",
        "c_movie_id",
        "n_year",
        "m_genres",
        "s_movie_id",
    ]
    assert summary["rows"] == {"train.csv": 2, "valid.csv": 1, "test.csv": 2}


def test_same_rows_labels_and_order_as_the_set(exported) -> None:
    ts, out, _ = exported
    movie = slot(ts, "candidate", "categorical", "movie_id")
    for split, name in (("train", "train.csv"), ("val", "valid.csv"), ("test", "test.csv")):
        rows = read(out / name)
        assert [int(r["label"]) for r in rows] == ts.labels(split).tolist()
        ids = ts.gather(split, np.arange(ts.rows(split)))["cand_cat"][:, 0]
        assert [r["c_movie_id"] for r in rows] == [str(int(v)) for v in ids]
        assert all(r["c_movie_id"] != str(encode_categorical(movie, "")) for r in rows)


def test_values_and_sequences_as_of_each_rating(exported) -> None:
    ts, out, _ = exported
    movie = slot(ts, "candidate", "categorical", "movie_id")
    genres = slot(ts, "candidate", "multi_categorical", "genres")
    year = slot(ts, "candidate", "numeric", "year")
    age = slot(ts, "user", "numeric", "age")
    occupation = slot(ts, "user", "categorical", "occupation")
    m = {k: str(encode_categorical(movie, k)) for k in ("10", "20", "30")}

    (val,) = read(out / "valid.csv")
    assert (val["label"], val["c_movie_id"], val["s_movie_id"]) == ("1", m["30"], m["10"])
    assert val["m_genres"] == "" and float(val["n_year"]) == pytest.approx(encode_numeric(year, 0, 0.0), rel=1e-6)
    assert float(val["n_age"]) == pytest.approx(encode_numeric(age, 30, 0.0), rel=1e-6)
    assert val["c_occupation"] == str(encode_categorical(occupation, "engineer"))

    test = {r["c_movie_id"]: r for r in read(out / "test.csv")}
    assert test[m["20"]]["s_movie_id"] == f"{m['30']}^{m['10']}"
    assert test[m["20"]]["label"] == "1" and test[m["10"]]["label"] == "0"
    assert test[m["10"]]["s_movie_id"] == ""  # user 2 never clicked
    assert test[m["10"]]["c_occupation"] == "0"  # no profile: the default '' is unknown
    expected = "^".join(str(v) for v in encode_multi(genres, ["Action", "Comedy"]) if v)
    assert test[m["10"]]["m_genres"] == expected


def test_cli_refuses_a_folder_without_a_training_set(tmp_path, capsys) -> None:
    assert cli_main(["export-csv", "--trainset", str(tmp_path), "--out", str(tmp_path / "csv")]) == 2
    assert "no meta.json (not a built training set)" in capsys.readouterr().err
