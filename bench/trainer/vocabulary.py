"""Fitted vocabularies against plain hashing on an imported CSV: artifact size, ONNX Runtime load time and
scoring time, the hashed artifact being the same run's baseline.

A synthetic table shaped like a small public CTR set (10 categorical fields, a few thousand distinct values in
all, skewed counts) is imported twice with the same model and config, `--buckets 65536`: `--min-count 0` (every bucket
has an embedding row) and `--min-count N` (the buckets seen N times in the training rows get a row, the rest
share the out-of-vocabulary row; the bucket -> row map is a constant the graph gathers). The scorer's feature
assembly is the same for both (it hashes the cells either way): the lookup the vocabulary adds runs inside the
graph, which is what the scoring time measures.

    nice -n 5 .venv/bin/python bench/trainer/vocabulary.py [--rows 20000] [--model autoint] [--config default]
        [--min-count 1] [--candidates 100] [--rounds 7]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from mmctr_trainer import cli
from mmctr_trainer.onnx_scorer import OnnxScorer
from mmctr_trainer.tabular import TabularSet

FIELDS = [f"f{i}" for i in range(10)]
DISTINCT = [3, 7, 24, 60, 150, 300, 500, 900, 1400, 2000]  # 5,344 values in all


def write_splits(folder: Path, rows: int, seed: int = 7) -> dict[str, Path]:
    """train / valid / test CSVs (80 / 10 / 10): Zipf-like values per field, a click driven by three fields."""
    rng = random.Random(seed)
    weights = [[1 / (k + 1) for k in range(n)] for n in DISTINCT]
    effect = {f: [rng.gauss(0, 1) for _ in range(n)] for f, n in zip(FIELDS[:3], DISTINCT[:3], strict=True)}
    sizes = {"train": rows * 8 // 10, "valid": rows // 10, "test": rows // 10}
    paths = {}
    for split, n in sizes.items():
        paths[split] = folder / f"{split}.csv"
        with paths[split].open("w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow([*FIELDS, "clicked"])
            for _ in range(n):
                values = [rng.choices(range(k), w)[0] for k, w in zip(DISTINCT, weights, strict=True)]
                z = sum(effect[f][v] for f, v in zip(FIELDS[:3], values[:3], strict=True)) - 1.0
                click = int(rng.random() < 1 / (1 + np.exp(-z)))
                out.writerow([f"{f}_{v}" for f, v in zip(FIELDS, values, strict=True)] + [click])
    return paths


def size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def median_ms(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def add_import_args(ap: argparse.ArgumentParser) -> None:
    """The options of the synthetic table's imports (this bench and exact-vocabulary.py)."""
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--model", default="autoint")
    ap.add_argument("--config", default="default")
    ap.add_argument("--min-count", type=int, default=1)


def import_argv(files: dict[str, Path], model: str, config: str) -> list[str]:
    """`mmctr-train import` of write_splits' files, one epoch, --buckets 65536, not registered (no --min-count)."""
    argv = ["import", "--label", "clicked", "--fields", ",".join(FIELDS), "--no-register"]
    argv += [a for s in ("train", "valid", "test") for a in (f"--{s}", str(files[s]))]
    return argv + ["--model", model, "--config", config, "--max-epochs", "1", "--buckets", "65536"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_import_args(ap)
    ap.add_argument("--candidates", type=int, default=100, help="rows per scoring call (one request)")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mmctr-vocab-"))
    files = write_splits(work, args.rows)
    base = import_argv(files, args.model, args.config)
    runs = {"hashed": ["--min-count", "0"], f"min-count {args.min_count}": ["--min-count", str(args.min_count)]}
    # Each artifact is scored on the rows as its import encoded them: fitted columns hold value keys.
    fitted_min_count = {"hashed": None, f"min-count {args.min_count}": args.min_count}
    artifacts = {}
    for name, extra in runs.items():
        reg = work / name.replace(" ", "-")
        if cli.main([*base, *extra, "--registry", str(reg)]) != 0:
            raise SystemExit(f"import ({name}) failed")
        artifacts[name] = next(reg.iterdir())
    splits = {"train": files["train"], "val": files["valid"], "test": files["test"]}
    result = {}
    for name, art in artifacts.items():
        data = TabularSet(splits, "clicked", FIELDS, min_count=fitted_min_count[name])
        batch = next(data.batches("test", args.candidates))
        card = json.loads((art / "model.json").read_text())
        metrics = json.loads((art / "metrics.json").read_text())
        load = median_ms(lambda a=art: OnnxScorer(a / "model.onnx", threads=1), args.rounds)
        scorer = OnnxScorer(art / "model.onnx", threads=1)
        scorer.run(batch)  # warm-up
        score = median_ms(lambda s=scorer, b=batch: [s.run(b) for _ in range(20)], args.rounds) / 20
        fitted = card["schema"].get("fitted", {})
        result[name] = {
            "artifact_mb": size_mb(art),
            "model_onnx_mb": size_mb(art / "model.onnx"),
            "int8_onnx_mb": size_mb(art / "model.int8.onnx") if (art / "model.int8.onnx").exists() else None,
            "embedding_rows": sum(f["rows"] for f in fitted.values()) if fitted else 65536 * len(FIELDS),
            "load_ms": load,
            "score_ms": score,
            "test_auc": metrics["test"]["auc"],
            "test_logloss": metrics["test"]["logloss"],
        }
    hashed = result["hashed"]
    print(f"\n{args.model}, config {args.config}, 1 epoch, {args.rows} rows, {args.candidates} candidates per call")
    print("| artifact | embedding rows | artifact MB | model.onnx MB | int8 MB | load ms | score ms | test AUC |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in result.items():
        ratio = "" if name == "hashed" else f" ({r['score_ms'] / hashed['score_ms']:.2f}×)"
        print(
            f"| {name} | {r['embedding_rows']:,} | {r['artifact_mb']:.1f} | {r['model_onnx_mb']:.1f} | "
            f"{r['int8_onnx_mb'] or 0:.1f} | {r['load_ms']:.0f} | {r['score_ms']:.2f}{ratio} | {r['test_auc']:.4f} |"
        )
    print(f"load average {os.getloadavg()[0]:.1f}; work folder {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
