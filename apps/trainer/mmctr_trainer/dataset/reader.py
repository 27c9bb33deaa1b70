"""A built training set on disk: memory-mapped columns, batches gathered on demand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..data_source import DataSource
from ..feature_repo import parse_feature_repo
from ..schema import ModelSchema
from .entities import SidePlan, group_inputs, side_plans
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
        fitted = sorted(
            {s["feature"] for g in (self.schema.user, self.schema.candidate) for s in g["categorical"] if "fit" in s}
        )
        if fitted and self.meta.get("format") == "mmctr-trainset-1":
            raise ValueError(
                f"{self.folder}: built before exact vocabularies (fitted {', '.join(fitted)}: hash buckets, not value "
                "keys); rebuild it (mmctr-train train --rebuild, or mmctr-train build)"
            )
        self.tables = {e: _load(self.folder / f) for e, f in self.meta.get("tables", self._old_tables()).items()}
        self.plans = side_plans(self.schema)
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

    def _old_tables(self) -> dict[str, str]:
        """A set built before other entities' tables: the candidate's alone."""
        return {self.schema.layout["candidate_entity"]: "items.npz"}

    def limit_history(self, k: int) -> None:
        """Gather only the newest k slots of each sequence (0: all). Exact for a model that reads only k."""
        self.max_history = max(0, int(k))

    def rows(self, split: str) -> int:
        return int(self.meta["splits"][split]["rows"])

    def labels(self, split: str) -> np.ndarray:
        return np.asarray(self.cols[split]["label"])

    def cold(self, split: str) -> np.ndarray:
        return np.asarray(self.cols[split]["cold"])

    def _side_rows(self, plan: SidePlan, c: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
        """{entity: rows} of one side for the rows idx (the newest max_history slots of a sequence); a side
        without stored rows ({}) reads the row columns only."""
        k = self.max_history or None
        names = {e: plan.column(e) for e in (plan.entity, *plan.joins)}
        cut = (slice(None), slice(None, k)) if plan.prefix not in ("user", "cand") else (slice(None),)
        return {e: np.asarray(c[n][idx])[cut] for e, n in names.items() if n in c}

    def _trim(self, rows: dict[str, np.ndarray], age: np.ndarray | None, base: str):
        """Sequences are newest-first prefixes (padding row 0 after them): cut the batch to its longest one.
        Exact for every model (empty slots are masked) and much cheaper to gather."""
        live = np.flatnonzero((rows[base] > 0).any(0))
        cut = max(1, int(live[-1]) + 1 if len(live) else 1)
        return {e: r[:, :cut] for e, r in rows.items()}, (age[:, :cut] if age is not None else None)

    def gather(self, split: str, idx: np.ndarray) -> dict[str, np.ndarray]:
        c = self.cols[split]
        user, cand, *seqs = self.plans
        row_values = {f: np.asarray(c[f"row_{f}"][idx]) for f in self.row_features}
        n = (len(idx),)
        out = {
            **group_inputs(user.group, "user", self.tables, self._side_rows(user, c, idx), row_values, n),
            **group_inputs(cand.group, "cand", self.tables, self._side_rows(cand, c, idx), row_values, n, self.zero_mm),
        }
        k = self.max_history or None
        for s in seqs:
            rows = self._side_rows(s, c, idx)
            age = np.asarray(c[f"{s.prefix}_age"][idx, :k], dtype=np.int64) if "age" in s.group else None
            if self.trim_history:
                rows, age = self._trim(rows, age, s.entity)
            out.update(group_inputs(s.group, s.prefix, self.tables, rows, {}, rows[s.entity].shape, self.zero_mm))
            if age is not None:
                out[f"{s.prefix}_age"] = age
        return {**{n: out[n] for n in self.schema.input_names}, "label": np.asarray(c["label"][idx]).astype(np.float32)}


def _load(path: Path) -> dict[str, np.ndarray]:
    z = np.load(path)
    return {k: z[k] for k in z.files}
