"""A built training set on disk: memory-mapped columns, batches gathered on demand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..data_source import DataSource
from ..feature_repo import parse_feature_repo
from ..schema import ModelSchema
from .items import group_inputs
from .splits import SPLITS


class TrainSet(DataSource):
    """A built training set on disk: memory-mapped columns, batches gathered on demand as the layout's inputs."""

    sort_shuffled = True

    def __init__(self, folder: str | Path, trim_history: bool = True):
        self.folder = Path(folder)
        self.trim_history = trim_history
        self.max_history = 0  # > 0: gather only the newest slots (set to a model's history_length cap)
        self.zero_mm = False  # True: zero vectors without gathering them (the --no-mm ablation)
        self.meta = json.loads((self.folder / "meta.json").read_text(encoding="utf-8"))
        if "feature_repo" not in self.meta:
            raise ValueError(f"{self.folder}: built before feature repositories (no feature_repo in meta.json)")
        self.repo = parse_feature_repo(self.meta["feature_repo"], str(self.folder / "meta.json"))
        self.schema = ModelSchema.from_repo(self.repo)
        z = np.load(self.folder / "items.npz")
        self.item = {k: z[k] for k in z.files}
        self.cols: dict[str, dict[str, np.ndarray]] = {}
        for s in SPLITS:
            sm = self.meta["splits"][s]
            n = sm["rows"]
            cols = {}
            for c, info in sm["columns"].items():
                shape = (n, *info["shape"])
                if n == 0:
                    cols[c] = np.zeros(shape, dtype=info["dtype"])
                else:
                    cols[c] = np.memmap(self.folder / s / f"{c}.bin", dtype=info["dtype"], mode="r", shape=shape)
            self.cols[s] = cols
        self.row_features = [c[len("row_") :] for c in self.cols["train"] if c.startswith("row_")]

    def limit_history(self, k: int) -> None:
        """Gather only the newest k slots of each sequence (0: all). Exact for a model that reads only k."""
        self.max_history = max(0, int(k))

    def rows(self, split: str) -> int:
        return int(self.meta["splits"][split]["rows"])

    def labels(self, split: str) -> np.ndarray:
        return np.asarray(self.cols[split]["label"])

    def cold(self, split: str) -> np.ndarray:
        return np.asarray(self.cols[split]["cold"])

    def gather(self, split: str, idx: np.ndarray) -> dict[str, np.ndarray]:
        c = self.cols[split]
        it = self.item
        cand = np.asarray(c["cand_row"][idx])
        row_values = {f: np.asarray(c[f"row_{f}"][idx]) for f in self.row_features}
        out = {
            **group_inputs(self.schema.user, "user", it, cand, row_values),
            **group_inputs(self.schema.candidate, "cand", it, cand, row_values, self.zero_mm),
        }
        k = self.max_history or None
        for s in self.schema.sequences:
            name = s["name"]
            rows = np.asarray(c[f"{name}_rows"][idx, :k])
            age = np.asarray(c[f"{name}_age"][idx, :k], dtype=np.int64) if "age" in s else None
            if self.trim_history:
                # Sequences are newest-first prefixes (padding row 0 after them): cut the batch to its longest one.
                # Exact for every model (empty slots are masked) and much cheaper to gather.
                live = np.flatnonzero((rows > 0).any(0))
                cut = max(1, int(live[-1]) + 1 if len(live) else 1)
                rows, age = rows[:, :cut], (age[:, :cut] if age is not None else None)
            out.update(group_inputs(s, name, it, rows, {}, self.zero_mm))
            if age is not None:
                out[f"{name}_age"] = age
        return {**{n: out[n] for n in self.schema.input_names}, "label": np.asarray(c["label"][idx]).astype(np.float32)}
