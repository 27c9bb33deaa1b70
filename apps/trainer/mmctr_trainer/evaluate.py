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
from .feature_layout import model_layout
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
    repo = load_repo(feature_repo)
    # A model reads the inputs of the layout it was trained on: one from another repository (or another
    # encoding of this one) cannot score this set. Named versions must fit; --all-registered skips the rest.
    layout = _comparable(model_layout(repo))
    misfits = {v: why for v in wanted if (why := _layout_misfit(Path(rows[v]["artifact_uri"]), layout))}
    if versions and misfits:
        raise SystemExit(
            "evaluate: "
            + "; ".join(f"{v}: {why}" for v, why in misfits.items())
            + f" (the set is built with repository {repo['name']} {repo['version']})"
        )
    bounds = read_split_meta(meta) if meta else {}
    build_training_set(ch, repo, trainset_dir, chunk_rows=chunk_rows, **bounds)
    ts = TrainSet(trainset_dir)
    labels, cold = ts.labels("test"), ts.cold("test")
    out = []
    for v in (v for v in wanted if v not in misfits):
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
    return {
        "database": ch.database,
        "test_rows": int(len(labels)),
        "boundaries": ts.meta["boundaries"],
        "models": out,
        "skipped": [{"version": v, "reason": why} for v, why in misfits.items()],
    }


def _comparable(layout: dict[str, Any]) -> dict[str, Any]:
    """A layout without the repository's name and version, which do not change what a model reads."""
    return {k: v for k, v in layout.items() if k != "repository"}


def _layout_misfit(folder: Path, layout: dict[str, Any]) -> str | None:
    path = folder / "layout.json"
    if not path.exists():
        return f"{folder} has no layout.json"
    trained = json.loads(path.read_text(encoding="utf-8"))
    if _comparable(trained) != layout:
        repo = trained.get("repository") or {}
        return f"trained on another layout (repository {repo.get('name')} {repo.get('version')})"
    return None
