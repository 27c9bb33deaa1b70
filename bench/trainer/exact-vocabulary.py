"""Artifact size of a fitted vocabulary before and after exact vocabularies, in one run: the same synthetic CSV
(bench/trainer/vocabulary.py's: 10 categorical fields, 5,344 distinct values, skewed counts) imported at
`--min-count N` by the trainer of a given commit (`--before`, extracted with `git archive`: its vocabulary is one of
hash buckets, a bucket -> row constant in every graph) and by the working tree's (exact: the graphs take rows, the
keys are in vocabulary.json). Prints each artifact's files, sizes and test AUC, and the after / before ratios.

    nice -n 5 .venv/bin/python bench/trainer/exact-vocabulary.py --before <commit> [--rows 20000]
        [--model autoint] [--config default] [--min-count 1]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vocabulary import add_import_args, import_argv, size_mb, write_splits  # noqa: E402  (bench/trainer/vocabulary.py)

REPO = Path(__file__).resolve().parents[2]
RUN = "import sys, mmctr_trainer; from mmctr_trainer import cli; print('[trainer]', mmctr_trainer.__file__); "
RUN += "sys.exit(cli.main(sys.argv[1:]))"


def extract_trainer(rev: str, into: Path) -> Path:
    """apps/trainer (and the repository schema it validates with) of commit `rev` under `into` (the working tree's
    checkout is left alone)."""
    paths = ["apps/trainer", "libs/feature-repo/schema"]
    tar = subprocess.run(["git", "archive", rev, *paths], cwd=REPO, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        t.extractall(into, filter="data")
    return into / "apps" / "trainer"


def import_with(trainer: Path, args: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(trainer)}
    subprocess.run([sys.executable, "-c", RUN, *args], env=env, check=True, stdout=sys.stderr)  # stdout: the JSON


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="the commit whose trainer builds the 'before' artifact")
    add_import_args(ap)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mmctr-exact-vocab-"))
    files = write_splits(work, args.rows)
    base = [*import_argv(files, args.model, args.config), "--min-count", str(args.min_count)]
    trainers = {"before": extract_trainer(args.before, work / "before"), "after": REPO / "apps" / "trainer"}
    result = {}
    for name, trainer in trainers.items():
        reg = work / f"registry-{name}"
        import_with(trainer, [*base, "--registry", str(reg)])
        art = next(reg.iterdir())
        metrics = json.loads((art / "metrics.json").read_text())
        fitted = json.loads((art / "model.json").read_text())["schema"]["fitted"]
        result[name] = {
            "files_mb": {p.name: round(size_mb(p), 3) for p in sorted(art.iterdir())},
            "artifact_mb": size_mb(art),
            "graphs_mb": sum(size_mb(p) for p in art.glob("*.onnx")),
            "embedding_rows": sum(f["rows"] for f in fitted.values()),
            "test_auc": metrics["test"]["auc"],
            "onnx_parity": metrics["onnx"]["max_abs_diff"],
        }
    b, a = result["before"], result["after"]
    result["ratios"] = {
        "artifact": a["artifact_mb"] / b["artifact_mb"],
        "graphs": a["graphs_mb"] / b["graphs_mb"],
        "model_onnx": a["files_mb"]["model.onnx"] / b["files_mb"]["model.onnx"],
    }
    result["setup"] = {
        "before": args.before,
        "model": args.model,
        "config": args.config,
        "rows": args.rows,
        "min_count": args.min_count,
        "load_average": os.getloadavg()[0],
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
