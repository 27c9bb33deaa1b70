"""train -> export ONNX (+ int8) -> parity / int8 AUC check -> artifact folder -> registry row."""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .ch import ClickHouse
from .config import TrainerConfig
from .data_source import DataSource
from .export import OnnxScorer, batch_graph_name, export_batch_onnx, export_onnx, model_card, quantize_int8
from .metrics import auc
from .registry import git_rev, new_version, register, registry_root, write_artifact
from .schema import ModelSchema
from .train import metrics_table, predict, train_model
from .training.calibration import calibrated
from .vocabulary import VOCABULARY_FILE


class _OnceFilter(logging.Filter):
    """Lets a log message that starts with `prefix` through once per process."""

    def __init__(self, prefix: str):
        super().__init__()
        self.prefix, self.seen = prefix, False

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith(self.prefix):
            return True
        seen, self.seen = self.seen, True
        return not seen


# onnxruntime's quantiser logs this advice on the root logger at every call: twice per model, eight times for
# --model all. Only the embedding Gathers are quantised (export.INT8_OP_TYPES), which it does not concern.
QUANTISER_ADVICE = _OnceFilter("Please consider to run pre-processing before quantization")
logging.getLogger().addFilter(QUANTISER_ADVICE)


class WithoutVectors(DataSource):
    """A data source whose multimodal vectors are zeros (the 'without mm' ablation)."""

    def __init__(self, inner: DataSource):
        self.inner = inner
        self.sort_shuffled = inner.sort_shuffled
        if hasattr(inner, "zero_mm"):
            inner.zero_mm = True  # skip gathering vectors that are zeroed anyway

    def limit_history(self, k: int) -> None:
        if hasattr(self.inner, "limit_history"):
            self.inner.limit_history(k)

    def rows(self, split: str) -> int:
        return self.inner.rows(split)

    def labels(self, split: str) -> np.ndarray:
        return self.inner.labels(split)

    def cold(self, split: str) -> np.ndarray:
        return self.inner.cold(split)

    def gather(self, split: str, idx: np.ndarray) -> dict[str, np.ndarray]:
        b = self.inner.gather(split, idx)
        for n in b:
            if n.endswith("_vec"):
                b[n] = np.zeros(b[n].shape, dtype=np.float32)  # calloc: cheaper than zeros_like
        return b


def train_export_register(
    *,
    model_name: str,
    schema: ModelSchema,
    data: DataSource,
    config: TrainerConfig,
    repo_json: dict[str, Any] | None,
    data_range: dict[str, Any],
    ch: ClickHouse | None,
    registry: str | None = None,
    out: str | None = None,
    max_epochs: int | None = None,
    parity_rows: int = 10_000,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    res = train_model(model_name, schema, data, config, log=log, max_epochs=max_epochs)
    metrics = res.metrics
    version = new_version(model_name)
    model = calibrated(res.model, res.calibration)  # the calibration is part of every exported graph
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = export_onnx(model, Path(tmp) / "model.onnx")
        int8_path = quantize_int8(onnx_path, Path(tmp) / "model.int8.onnx")
        batch_path = export_batch_onnx(model, Path(tmp) / batch_graph_name("model.onnx"))
        batch_int8_path = quantize_int8(batch_path, Path(tmp) / batch_graph_name("model.int8.onnx"))
        t0 = time.time()
        ebs = config.training.eval_batch_size
        n = min(parity_rows, data.rows("test")) or min(parity_rows, data.rows("val"))
        split = "test" if data.rows("test") else "val"
        p_torch = predict(model, data, split, ebs, limit=n)
        p_onnx = OnnxScorer(onnx_path).predict(data, split, ebs, limit=n)
        metrics["onnx"] = {"parity_rows": int(n), "max_abs_diff": float(np.abs(p_torch - p_onnx).max()) if n else None}
        labels = data.labels("test")
        p32 = OnnxScorer(onnx_path).predict(data, "test", ebs)
        p8 = OnnxScorer(int8_path).predict(data, "test", ebs)
        a32, a8 = auc(labels, p32), auc(labels, p8)
        metrics["int8"] = {
            "test_auc": a8,
            "test_auc_fp32_onnx": a32,
            "test_auc_delta": (a8 - a32) if a8 is not None and a32 is not None else None,
            "size_bytes": int8_path.stat().st_size,
            "fp32_size_bytes": onnx_path.stat().st_size,
        }
        log(
            f"[export] onnx parity max |dp| {metrics['onnx']['max_abs_diff']} over {n} rows; int8 AUC delta "
            f"{metrics['int8']['test_auc_delta']} ({time.time() - t0:.1f}s)"
        )
        root = Path(out).resolve() if out else registry_root(registry)
        rev = git_rev()
        card = model_card(res.model)
        card.update({"version": version, "git_rev": rev, "data": data_range})
        card["calibration"] = res.calibration.to_json() if res.calibration else None
        folder = write_artifact(
            root,
            version,
            {
                "model.onnx": onnx_path,
                "model.int8.onnx": int8_path,
                batch_path.name: batch_path,
                batch_int8_path.name: batch_int8_path,
                # the fitted vocabularies: the graphs take rows, the scorer maps values to them (vocabulary.py)
                **({VOCABULARY_FILE: Path(tmp) / VOCABULARY_FILE} if (Path(tmp) / VOCABULARY_FILE).exists() else {}),
            },
            {
                "layout.json": schema.layout,
                **({"feature_repo.json": repo_json} if repo_json is not None else {}),
                "model.json": card,
                "metrics.json": metrics,
                "data.json": data_range,
                "git_rev.txt": {"git_rev": rev},
            },
        )
    log(f"[registry] artifact {folder}")
    if ch is not None:
        register(
            ch,
            version=version,
            model_type=model_name,
            artifact_uri=str(folder),
            feature_spec_version=schema.version,
            metrics=_summary(metrics),
            train_from_ms=int(data_range.get("from_ms", 0)),
            train_to_ms=int(data_range.get("to_ms", 0)),
            git_revision=rev,
        )
        log(f"[registry] {ch.database}.models: {version} candidate")
    log("\n" + metrics_table([metrics]))
    return {"version": version, "artifact": str(folder), "metrics": metrics}


def _summary(metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        k: metrics[k]
        for k in (
            "model",
            "val",
            "test",
            "train_seconds",
            "epochs",
            "best_epoch",
            "monitor",
            "stop",
            "calibration",
            "onnx",
            "int8",
            "parameters",
        )
        if k in metrics
    }


def dumps(x: Any) -> str:
    return json.dumps(x, indent=1, default=str)
