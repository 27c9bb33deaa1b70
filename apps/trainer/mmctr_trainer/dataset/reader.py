"""A built training set on disk: memory-mapped columns, batches gathered on demand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..data_source import DataSource
from .splits import SPLITS


class TrainSet(DataSource):
    """A built training set on disk: memory-mapped columns, batches gathered on demand."""

    sort_shuffled = True

    def __init__(self, folder: str | Path, trim_history: bool = True):
        self.folder = Path(folder)
        self.trim_history = trim_history
        self.max_history = 0  # > 0: gather only the newest slots (set to a model's history_length cap)
        self.zero_mm = False  # True: zero vectors without gathering them (the --no-mm ablation)
        self.meta = json.loads((self.folder / "meta.json").read_text(encoding="utf-8"))
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

    def limit_history(self, k: int) -> None:
        """Gather only the newest k history slots (0: all). Exact for a model that reads only k."""
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
        k = self.max_history or None
        hist = np.asarray(c["hist_rows"][idx, :k])
        # a set built before history ages (feature spec fs-1) has none: bucket 0, "unknown"
        age = np.asarray(c["hist_age"][idx, :k], dtype=np.int64) if "hist_age" in c else np.zeros(hist.shape, np.int64)
        if self.trim_history:
            # Histories are newest-first prefixes (padding row 0 after them): cut the batch to its longest one.
            # Exact for every model (padding slots are masked by hist_ids > 0) and much cheaper to gather.
            live = np.flatnonzero((hist > 0).any(0))
            cut = max(1, int(live[-1]) + 1 if len(live) else 1)
            hist, age = hist[:, :cut], age[:, :cut]
        return {
            "user_fields": np.asarray(c["user_fields"][idx]),
            "hist_ids": it["hash_id"][hist],
            "hist_tags": it["tags"][hist],
            "hist_cat": it["cat"][hist],
            "hist_mm": (
                np.zeros((*hist.shape, it["mm"].shape[1]), dtype=np.float32)
                if self.zero_mm
                else it["mm"][it["mm_row"][hist]]
            ),
            "hist_age": age,
            "cand_fields": np.stack([it["hash_id"][cand], it["cat"][cand], np.asarray(c["cand_pos"][idx])], axis=1),
            "cand_tags": it["tags"][cand],
            "cand_mm": (
                np.zeros((len(cand), it["mm"].shape[1]), dtype=np.float32)
                if self.zero_mm
                else it["mm"][it["mm_row"][cand]]
            ),
            "label": np.asarray(c["label"][idx]).astype(np.float32),
        }
