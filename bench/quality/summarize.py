"""Collects the MovieLens bench's results: our registered artifacts (metrics.json) and the FuxiCTR peer's JSON per
grid point and seed; picks each model's grid point on validation AUC - validation log-loss averaged over the seeds
(the monitor both systems train with, bench/quality/grid.py); prints one table of means over the seeds and writes
bench/results/quality-summary.json.

  .venv/bin/python bench/quality/summarize.py REGISTRY PEER_DIR OUT_JSON DATASET COMMIT [TRAINSET]
  .venv/bin/python bench/quality/summarize.py choose REGISTRY PEER_DIR

`choose` prints each system's chosen point per model as `<system> <model flag> <lr> <embedding>` lines (run.sh's
MMCTR_QUALITY_BUDGET=chosen: the grid on the first seed picks the point the other seeds train at).

With TRAINSET (the training set the models trained on), each of our models' mean predicted CTR on the test
split (its model.onnx) stands beside the observed CTR: calibration. The peer reports its own.

Prints the target checks, then on the last line `best <version>`: the chosen mmctr model with the best mean
validation value, in its seed with the best validation value (validation only: the test split picks nothing)."""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

NAMES = {"lr": "LR", "autoint": "AutoInt+", "din": "DIN", "qin": "QIN"}
SELECTION = (
    "each model's grid point with the best validation AUC - log-loss averaged over its seeds, among the points "
    "trained on the most seeds"
)


def mean_prediction(artifact: Path, trainset: Path | None) -> float | None:
    """The artifact's mean predicted CTR on the test split (None without a training set)."""
    if trainset is None:
        return None
    from mmctr_trainer.dataset import TrainSet
    from mmctr_trainer.onnx_scorer import OnnxScorer

    return float(OnnxScorer(artifact / "model.onnx", threads=1).predict(TrainSet(trainset), "test").mean())


def ours(registry: Path, trainset: Path | None) -> list[dict[str, Any]]:
    """One row per registered artifact (one model, grid point and seed)."""
    rows = []
    for folder in sorted(p for p in registry.iterdir() if (p / "metrics.json").is_file()):
        m = json.loads((folder / "metrics.json").read_text())
        rows.append(
            {
                "system": "mmctr",
                "model": NAMES.get(m["model"], m["model"]),
                "version": folder.name,
                "seed": m["training"]["seed"],
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
    """One row per model of each peer JSON (one grid point and seed per file)."""
    rows = []
    for f in sorted(folder.glob("*.json")):
        # the peer prints its document as the last line; ray's workers may print warnings to stdout before it
        lines = [line for line in f.read_text().splitlines() if line.startswith('{"peer"')]
        if not lines:
            raise SystemExit(f"summarize: {f} holds no peer result (the peer failed? see its log)")
        doc = json.loads(lines[-1])
        for m in doc["models"]:
            hp = m["hyper_parameters"]
            rows.append(
                {
                    "system": "fuxictr",
                    "model": m["model"],
                    "seed": hp["seed"],
                    "val_auc": m["valid"]["auc"],
                    "val_logloss": m["valid"]["logloss"],
                    "test_auc": m["test"]["auc"],
                    "test_logloss": m["test"]["logloss"],
                    "train_s": m["train_seconds"],
                    "params": m["params"],
                    "test_ctr": m["test"].get("ctr"),
                    "test_mean_pred": m["test"].get("mean_pred"),
                    "lr": hp["learning_rate"],
                    "embedding_dim": hp["embedding_dim"],
                }
            )
    return rows


def monitor(r: dict[str, Any]) -> float:
    """The validation value both systems stop, checkpoint and choose on."""
    return r["val_auc"] - r["val_logloss"]


def _mean(vals: list[float | None]) -> float | None:
    return None if any(v is None for v in vals) else statistics.fmean(vals)  # type: ignore[arg-type]


def _sd(vals: list[float]) -> float:
    return statistics.stdev(vals) if len(vals) > 1 else 0.0


def points(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (system, model, lr, embedding): means over its seeds, the spread and the seeds' own rows."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["system"], r["model"], r["lr"], r["embedding_dim"])].append(r)
    out = []
    for (system, model, lr, emb), runs in groups.items():
        runs.sort(key=lambda r: r["seed"])
        out.append(
            {
                "system": system,
                "model": model,
                "lr": lr,
                "embedding_dim": emb,
                "seeds": [r["seed"] for r in runs],
                "val_auc": _mean([r["val_auc"] for r in runs]),
                "val_logloss": _mean([r["val_logloss"] for r in runs]),
                "val_monitor": _mean([monitor(r) for r in runs]),
                "test_auc": _mean([r["test_auc"] for r in runs]),
                "test_auc_sd": _sd([r["test_auc"] for r in runs]),
                "test_logloss": _mean([r["test_logloss"] for r in runs]),
                "test_logloss_sd": _sd([r["test_logloss"] for r in runs]),
                "test_mean_pred": _mean([r["test_mean_pred"] for r in runs]),
                "test_ctr": runs[0]["test_ctr"],
                "train_s": _mean([r["train_s"] for r in runs]),
                "params": runs[0]["params"],
                "per_seed": [
                    {
                        k: r.get(k)
                        for k in ("seed", "version", "val_auc", "val_logloss", "test_auc", "test_logloss")
                        + ("test_mean_pred", "train_s")
                    }
                    for r in runs
                ],
            }
        )
    return out


def chosen(pts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each (system, model)'s grid point with the best mean validation AUC - log-loss among its points with the
    most seeds (with the grid on one seed and the chosen points on every seed, those points)."""
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for p in pts:
        k = (p["system"], p["model"])
        if k not in best or (len(p["seeds"]), p["val_monitor"]) > (len(best[k]["seeds"]), best[k]["val_monitor"]):
            best[k] = p
    return sorted(best.values(), key=lambda p: (p["system"], -p["val_monitor"]))


def fmt(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| system | model | lr | emb | seeds | val AUC - log-loss | test AUC (± sd) | test log-loss (± sd) "
        "| mean pred / CTR (test) | train s | params |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        calib = f"{fmt(r['test_mean_pred'], '.4f')} / {fmt(r['test_ctr'], '.4f')}"
        lines.append(
            f"| {r['system']} | {r['model']} | {r['lr']} | {r['embedding_dim']} | {len(r['seeds'])} | "
            f"{r['val_monitor']:.4f} | {r['test_auc']:.4f} ± {r['test_auc_sd']:.4f} | "
            f"{r['test_logloss']:.4f} ± {r['test_logloss_sd']:.4f} | {calib} | {fmt(r['train_s'], '.1f')} | "
            f"{fmt(r['params'], ',')} |"
        )
    return "\n".join(lines)


def targets(rows: list[dict[str, Any]]) -> list[str]:
    """The bench's targets on the chosen rows: each system's best is its best mean validation value."""
    by = {(r["system"], r["model"]): r for r in rows}
    mine = [r for r in rows if r["system"] == "mmctr"]
    theirs = [r for r in rows if r["system"] == "fuxictr"]
    out = []
    if mine and theirs:
        a, b = mine[0], theirs[0]  # chosen() sorts each system by its validation value
        ok_auc, ok_ll = a["test_auc"] >= b["test_auc"], a["test_logloss"] <= b["test_logloss"] + 0.002
        out.append(
            f"target best vs best: mmctr {a['model']} {a['test_auc']:.4f} / {a['test_logloss']:.4f} vs fuxictr "
            f"{b['model']} {b['test_auc']:.4f} / {b['test_logloss']:.4f}: AUC {'met' if ok_auc else 'NOT met'}, "
            f"log-loss <= theirs + 0.002 {'met' if ok_ll else 'NOT met'}"
        )
    qin = by.get(("mmctr", "QIN"))
    others = [by[k] for k in (("mmctr", "DIN"), ("mmctr", "AutoInt+")) if k in by]
    if qin and others:
        ok = all(qin["test_auc"] >= o["test_auc"] for o in others)
        vs = ", ".join(f"{o['model']} {o['test_auc']:.4f}" for o in others)
        out.append(f"target QIN >= DIN, AutoInt+: QIN {qin['test_auc']:.4f} vs {vs}: {'met' if ok else 'NOT met'}")
    seeds = {tuple(r["seeds"]) for r in rows}
    if len(seeds) > 1:
        out.append(f"WARNING: the chosen rows ran different seeds {sorted(seeds)}: the means are not comparable")
    return out


def choose(registry: Path, peer_dir: Path) -> int:
    """The chosen points so far, one `<system> <model flag> <lr> <embedding>` line each."""
    flags = {name: flag for flag, name in NAMES.items()}
    for r in chosen(points(ours(registry, None) + peer(peer_dir))):
        print(r["system"], flags[r["model"]], r["lr"], r["embedding_dim"])
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["choose"] and len(argv) == 3:
        return choose(Path(argv[1]), Path(argv[2]))
    if len(argv) not in (5, 6):
        print(__doc__, file=sys.stderr)
        return 2
    registry, peer_dir, out, dataset, commit = Path(argv[0]), Path(argv[1]), Path(argv[2]), argv[3], argv[4]
    trainset = Path(argv[5]) if len(argv) == 6 else None
    pts = points(ours(registry, trainset) + peer(peer_dir))
    if not pts:
        print(f"summarize: no results under {registry} or {peer_dir}", file=sys.stderr)
        return 1
    pts.sort(key=lambda p: (p["system"], p["model"], p["lr"], p["embedding_dim"]))
    rows = chosen(pts)
    print("every grid point (means over the seeds):\n" + table(pts))
    print(f"\nchosen ({SELECTION}):\n" + table(rows) + "\n")
    print("\n".join(targets(rows)))
    keys = ("system", "model", "test_auc", "test_logloss", "train_s", "params", "test_mean_pred", "test_ctr")
    extra = ("test_auc_sd", "test_logloss_sd", "val_auc", "val_logloss", "lr", "embedding_dim", "seeds", "per_seed")
    summary = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": commit,
        "dataset": dataset,
        "selection": SELECTION,
        "rows": [{k: r.get(k) for k in keys + extra} for r in rows],
    }
    out.write_text(json.dumps(summary, indent=1) + "\n")
    mm = [r for r in rows if r["system"] == "mmctr"]
    if mm:
        best = max(mm[0]["per_seed"], key=monitor)
        print("best " + best["version"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
