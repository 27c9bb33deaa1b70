"""Collects the MovieLens bench's results: our registered artifacts (metrics.json, model.json) and the FuxiCTR
peer's JSON per grid point; picks each model's grid point by validation AUC; prints one table and writes
bench/results/quality-summary.json.

  .venv/bin/python bench/quality/summarize.py REGISTRY PEER_DIR OUT_JSON DATASET COMMIT [TRAINSET]

With TRAINSET (the training set the models trained on), each of our models' mean predicted CTR on the test
split (its model.onnx) stands beside the observed CTR: calibration.

Prints the chosen mmctr version with the best validation AUC on the last line as `best <version>`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

NAMES = {"lr": "LR", "autoint": "AutoInt+", "din": "DIN", "qin": "QIN"}


def mean_prediction(artifact: Path, trainset: Path | None) -> float | None:
    """The artifact's mean predicted CTR on the test split (None without a training set)."""
    if trainset is None:
        return None
    from mmctr_trainer.dataset import TrainSet
    from mmctr_trainer.onnx_scorer import OnnxScorer

    return float(OnnxScorer(artifact / "model.onnx", threads=1).predict(TrainSet(trainset), "test").mean())


def ours(registry: Path, trainset: Path | None) -> list[dict[str, Any]]:
    rows = []
    for folder in sorted(p for p in registry.iterdir() if (p / "metrics.json").is_file()):
        m = json.loads((folder / "metrics.json").read_text())
        rows.append(
            {
                "system": "mmctr",
                "model": NAMES.get(m["model"], m["model"]),
                "version": folder.name,
                "val_auc": m["val"]["auc"],
                "val_logloss": m["val"]["logloss"],
                "test_auc": m["test"]["auc"],
                "test_logloss": m["test"]["logloss"],
                "train_s": m.get("train_seconds"),
                "params": m.get("parameters"),
                "test_ctr": m["test"]["positives"] / m["test"]["rows"],
                "test_mean_pred": mean_prediction(folder, trainset),
                "lr": m["training"]["lr"],
                "embedding_dim": m["params"].get("embedding_dim"),
            }
        )
    return rows


def peer(folder: Path) -> list[dict[str, Any]]:
    rows = []
    for f in sorted(folder.glob("*.json")):
        doc = json.loads(f.read_text())
        for m in doc["models"]:
            rows.append(
                {
                    "system": "fuxictr",
                    "model": m["model"],
                    "val_auc": m["valid"]["auc"],
                    "val_logloss": m["valid"]["logloss"],
                    "test_auc": m["test"]["auc"],
                    "test_logloss": m["test"]["logloss"],
                    "train_s": m["train_seconds"],
                    "params": m["params"],
                    "lr": m["hyper_parameters"]["learning_rate"],
                    "embedding_dim": m["hyper_parameters"]["embedding_dim"],
                }
            )
    return rows


def best_per_model(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each (system, model)'s grid point with the best validation AUC."""
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        k = (r["system"], r["model"])
        if k not in best or r["val_auc"] > best[k]["val_auc"]:
            best[k] = r
    return list(best.values())


def fmt(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| system | model | lr | emb | val AUC | test AUC | test log-loss | train s | params | mean pred / CTR (test) |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        calib = f"{fmt(r.get('test_mean_pred'), '.4f')} / {fmt(r.get('test_ctr'), '.4f')}"
        lines.append(
            f"| {r['system']} | {r['model']} | {r['lr']} | {r['embedding_dim']} | {r['val_auc']:.4f} | "
            f"{r['test_auc']:.4f} | {r['test_logloss']:.4f} | {fmt(r['train_s'], '.1f')} | "
            f"{fmt(r['params'], ',')} | {calib} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) not in (5, 6):
        print(__doc__, file=sys.stderr)
        return 2
    registry, peer_dir, out, dataset, commit = Path(argv[0]), Path(argv[1]), Path(argv[2]), argv[3], argv[4]
    trainset = Path(argv[5]) if len(argv) == 6 else None
    everything = ours(registry, trainset) + peer(peer_dir)
    if not everything:
        print(f"summarize: no results under {registry} or {peer_dir}", file=sys.stderr)
        return 1
    chosen = sorted(best_per_model(everything), key=lambda r: (r["system"], -r["test_auc"]))
    print("every grid point:\n" + table(everything) + "\n\nchosen on validation AUC:\n" + table(chosen))
    keys = ("system", "model", "test_auc", "test_logloss", "train_s", "params", "test_mean_pred", "test_ctr")
    summary = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": commit,
        "dataset": dataset,
        "rows": [{k: r.get(k) for k in keys} for r in chosen],
    }
    out.write_text(json.dumps(summary, indent=1) + "\n")
    mm = [r for r in chosen if r["system"] == "mmctr"]
    if mm:
        print("best " + max(mm, key=lambda r: r["val_auc"])["version"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
