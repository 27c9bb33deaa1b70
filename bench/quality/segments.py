"""Where our chosen MovieLens models win and lose: test AUC and log-loss per segment of the test split, means over
each model's seeds (the versions in the summary's `per_seed`).

  PYTHONPATH=apps/trainer .venv/bin/python bench/quality/segments.py SUMMARY_JSON REGISTRY TRAINSET CSV_DIR

Segments: users whose id token appears in train.csv (known) or not (unseen: their id reads a row no train example
updated), and rows with an empty or a non-empty clicked-movie history (`s_movie_id`). The CSV files are the rows of
the training set in its order (export-csv), so row i of test.csv is prediction i. Prints a markdown table."""

from __future__ import annotations

import csv
import json
import statistics
import sys
from pathlib import Path

import numpy as np

from mmctr_trainer.dataset import TrainSet
from mmctr_trainer.metrics import auc, logloss
from mmctr_trainer.onnx_scorer import OnnxScorer


def segments(csv_dir: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    with (csv_dir / "train.csv").open(newline="") as f:
        known_users = {r["c_user_id"] for r in csv.DictReader(f)}
    with (csv_dir / "test.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    labels = np.array([float(r["label"]) for r in rows])
    known = np.array([r["c_user_id"] in known_users for r in rows])
    history = np.array([r["s_movie_id"] != "" for r in rows])
    masks = {
        "all": np.ones(len(rows), dtype=bool),
        "known users": known,
        "unseen users": ~known,
        "with history": history,
        "no history": ~history,
    }
    return labels, masks


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    summary, registry, trainset, csv_dir = (Path(a) for a in argv)
    labels, masks = segments(csv_dir)
    data = TrainSet(trainset)
    if data.rows("test") != len(labels):
        raise SystemExit(
            f"{csv_dir}/test.csv has {len(labels)} rows, the training set's test split {data.rows('test')}"
        )
    print(
        "| model | "
        + " | ".join(f"{k} ({int(m.sum()):,} rows, CTR {labels[m].mean():.3f})" for k, m in masks.items())
        + " |"
    )
    print("|---|" + "---|" * len(masks))
    for row in json.loads(summary.read_text())["rows"]:
        if row["system"] != "mmctr":
            continue
        per: dict[str, list[tuple[float, float]]] = {k: [] for k in masks}
        for s in row["per_seed"]:
            pred = (
                OnnxScorer(registry / s["version"] / "model.onnx", threads=1).predict(data, "test").astype(np.float64)
            )
            for k, m in masks.items():
                per[k].append((auc(labels[m], pred[m]) or float("nan"), logloss(labels[m], pred[m])))
        cells = [
            f"{statistics.fmean(a for a, _ in v):.4f} / {statistics.fmean(ll for _, ll in v):.4f}" for v in per.values()
        ]
        print(f"| {row['model']} (lr {row['lr']}, {len(row['per_seed'])} seeds) | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
