"""The train / validation / test split by impression time: boundaries from explicit timestamps, a data
generator's meta.json or the impressions' time quantiles."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import store
from ..ch import ClickHouse

SPLITS = ("train", "val", "test")


@dataclass
class Boundaries:
    from_ms: int
    train_end_ms: int
    val_end_ms: int
    to_ms: int

    def split_of(self, ts: np.ndarray) -> np.ndarray:
        return np.where(ts < self.train_end_ms, 0, np.where(ts < self.val_end_ms, 1, 2))


def compute_boundaries(
    ch: ClickHouse,
    src: store.EventSource,
    train_end_ms: int | None = None,
    val_end_ms: int | None = None,
    from_ms: int | None = None,
    to_ms: int | None = None,
    fractions: tuple[float, float] = (0.8, 0.9),
) -> tuple[Boundaries, int]:
    r = store.impression_span(ch, src, fractions, from_ms, to_ms)
    n = int(r["n"])
    if n == 0:
        raise ValueError(f"no '{src.anchor}' events in {ch.database}.{src.table}")
    lo, hi = int(r["lo"]), int(r["hi"])
    q = [int(float(x)) for x in r["q"]]
    b = Boundaries(
        from_ms=int(from_ms) if from_ms is not None else lo,
        train_end_ms=int(train_end_ms) if train_end_ms is not None else q[0],
        val_end_ms=int(val_end_ms) if val_end_ms is not None else q[1],
        to_ms=int(to_ms) if to_ms is not None else hi + 1,
    )
    if not (b.from_ms <= b.train_end_ms <= b.val_end_ms <= b.to_ms):
        raise ValueError(f"split boundaries out of order: {b}")
    return b, n


def read_split_meta(path: str | Path) -> dict[str, int]:
    """Split timestamps from a data generator's meta.json. Accepts train_end_ms / val_end_ms (also nested
    under 'split', 'splits' or 'periods', or as validation_start_ms / test_start_ms)."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))

    def find(d: Any, names: tuple[str, ...]) -> int | None:
        if isinstance(d, dict):
            for k, v in d.items():
                if k in names and isinstance(v, (int, float)):
                    return int(v)
            for v in d.values():
                got = find(v, names)
                if got is not None:
                    return got
        return None

    out: dict[str, int] = {}
    t = find(raw, ("train_end_ms", "validation_start_ms", "val_start_ms"))
    v = find(raw, ("val_end_ms", "validation_end_ms", "test_start_ms"))
    if t is None or v is None:
        raise ValueError(f"{path}: no train_end_ms / val_end_ms (or validation_start_ms / test_start_ms)")
    out["train_end_ms"], out["val_end_ms"] = t, v
    # The whole range: explicit keys at the top level or under split(s), else the union of `periods`
    # ({name: {start_ms, end_ms}}). Never a nested period's own start / end (that would cut the data).
    s = e = None
    for d in (raw, raw.get("split"), raw.get("splits")):
        if isinstance(d, dict):
            s = (
                s
                if s is not None
                else next(
                    (
                        int(d[k])
                        for k in ("from_ms", "start_ms", "train_start_ms")
                        if isinstance(d.get(k), (int, float))
                    ),
                    None,
                )
            )
            e = (
                e
                if e is not None
                else next(
                    (int(d[k]) for k in ("to_ms", "end_ms", "test_end_ms") if isinstance(d.get(k), (int, float))), None
                )
            )
    periods = raw.get("periods")
    if isinstance(periods, dict):
        starts = [
            int(p["start_ms"])
            for p in periods.values()
            if isinstance(p, dict) and isinstance(p.get("start_ms"), (int, float))
        ]
        ends = [
            int(p["end_ms"])
            for p in periods.values()
            if isinstance(p, dict) and isinstance(p.get("end_ms"), (int, float))
        ]
        if s is None and starts:
            s = min(starts)
        if e is None and ends:
            e = max(ends)
    if s is not None:
        out["from_ms"] = s
    if e is not None:
        out["to_ms"] = e
    return out
