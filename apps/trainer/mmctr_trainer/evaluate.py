"""Offline metrics of registered artifacts on data that arrived after they were trained.

The demo trains before the test period is replayed through the scorer; once the replayed events are in
ClickHouse this rebuilds the point-in-time set and runs each version's exported ONNX graph (the exact
artifact the scorer serves) over the test split, so served and offline AUC compare like for like.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .ch import ClickHouse
from .dataset import TrainSet, build_training_set, read_split_meta
from .export import OnnxScorer
from .registry import current
from .schema import load_repo
from .train import evaluate


def evaluate_registered(
    ch: ClickHouse,
    *,
    versions: list[str] | None,
    meta: str | None,
    trainset_dir: str | Path,
    feature_repo: str | None = None,
    chunk_rows: int = 200_000,
    batch_size: int = 8192,
) -> dict[str, Any]:
    rows = {r["version"]: r for r in current(ch)}
    wanted = versions or sorted(rows)
    missing = [v for v in wanted if v not in rows]
    if missing:
        raise SystemExit(f"evaluate: not registered in {ch.database}.models: {', '.join(missing)}")
    bounds = read_split_meta(meta) if meta else {}
    build_training_set(ch, load_repo(feature_repo), trainset_dir, chunk_rows=chunk_rows, **bounds)
    ts = TrainSet(trainset_dir)
    labels, cold = ts.labels("test"), ts.cold("test")
    out = []
    for v in wanted:
        folder = Path(rows[v]["artifact_uri"])
        trained = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        probs = OnnxScorer(folder / "model.onnx").predict(ts, "test", batch_size)
        out.append(
            {
                "version": v,
                "model_type": rows[v]["model_type"],
                "status": rows[v]["status"],
                "val_auc": (trained.get("val") or {}).get("auc"),
                "train_seconds": trained.get("train_seconds"),
                "test": evaluate(labels, probs, cold),
            }
        )
    return {"database": ch.database, "test_rows": int(len(labels)), "boundaries": ts.meta["boundaries"], "models": out}
