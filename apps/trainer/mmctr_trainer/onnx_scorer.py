"""A model.onnx on onnxruntime's CPU provider with the scorer's session settings. Torch-free, so that the
score-log parity check can use it without loading torch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .vocabulary import Vocabularies

if TYPE_CHECKING:
    from .data_source import DataSource


class OnnxScorer:
    def __init__(self, path: str | Path, threads: int = 2):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        # onnxruntime's defaults, spelled out: they are what apps/scorer uses.
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.engine = f"onnxruntime {ort.__version__} (Python, CPU)"
        self.input_names = [i.name for i in self.session.get_inputs()]
        # fixed dims of each input (None where dynamic): sequences have their layout length
        self.fixed = {i.name: [d if isinstance(d, int) else None for d in i.shape] for i in self.session.get_inputs()}
        # The graph takes the fitted features' vocabulary rows; the inputs hold their value keys (vocabulary.py).
        self.vocabularies = Vocabularies.beside(path)

    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        if self.vocabularies is not None:
            inputs = self.vocabularies.rows(inputs)
        feeds = {n: np.ascontiguousarray(_pad(inputs[n], self.fixed[n])) for n in self.input_names}
        return self.session.run(["ctr"], feeds)[0]

    def predict(self, data: DataSource, split: str, batch_size: int = 4096, limit: int | None = None) -> np.ndarray:
        out = [self.run(b) for b in data.batches(split, batch_size, limit=limit)]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def _pad(x: np.ndarray, dims: list[int | None]) -> np.ndarray:
    """x zero-padded at the end of each axis shorter than the graph's fixed size (a training batch's sequences are
    cut to its longest one; the slots after it are empty, which zeros are)."""
    pad = [(0, (d - n) if d is not None and n < d else 0) for n, d in zip(x.shape, dims, strict=True)]
    return np.pad(x, pad) if any(p for _, p in pad) else x
