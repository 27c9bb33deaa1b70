"""The aggregate window values a scorer logged (score_log.aggregates_json), recomputed offline: every logged
value, as of the logged as_of_ms, for the logged requester and each logged candidate, by the training-set
builder's AggregateReader (dataset/aggregate_values.py). Online counters and offline values count the same
closed buckets (docs/features.md, "Aggregations"), so every value must be equal; a value of an aggregation or
window the repository does not declare counts as differing. Degraded rows are not recomputed: their values may
be the declared defaults the scorer fell back to."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..ch import ClickHouse
from ..dataset.aggregate_slots import AggregateSlots
from ..dataset.aggregate_values import AggregateReader
from ..feature_repo import FeatureRepo
from ..schema import ModelSchema
from ..store import EventSource
from .assembly import LoggedRow

WORST_KEPT = 5


@dataclass(kw_only=True)
class WorstDiffs:
    """The largest |difference| seen and the WORST_KEPT worst entries, largest first."""

    max_abs_diff: float = 0.0
    worst: list[dict[str, Any]] = field(default_factory=list)

    def note(self, d: np.ndarray, entry: Callable[[int], dict[str, Any]]) -> None:
        """Notes the largest of one row's differences `d` (not empty): `entry(j)` (carrying `abs_diff`) joins
        `worst` when it is among them."""
        j = int(np.argmax(d))
        self.max_abs_diff = max(self.max_abs_diff, float(d[j]))
        if len(self.worst) < WORST_KEPT or float(d[j]) > self.worst[-1]["abs_diff"]:
            self.worst.append(entry(j))
            self.worst.sort(key=lambda w: -w["abs_diff"])
            del self.worst[WORST_KEPT:]


@dataclass(kw_only=True)
class AggregateStats(WorstDiffs):
    """The counts of the logged values compared, named as the summary reports them."""

    rows: int = 0
    values_compared: int = 0
    values_equal: int = 0
    undeclared_values: int = 0

    @property
    def ok(self) -> bool:
        return self.values_compared == self.values_equal and self.undeclared_values == 0

    def add(self, row: LoggedRow, key: str, side: str, logged: np.ndarray, offline: np.ndarray) -> None:
        logged = np.asarray(logged, dtype=np.float64)
        d = np.abs(logged - offline)
        self.values_compared += len(d)
        self.values_equal += int((logged == offline).sum())
        if not len(d) or not d.max() > 0:
            return

        def entry(j: int) -> dict[str, Any]:
            e = {"request_id": row.request_id, "value": key, "side": side, "logged": float(logged[j])}
            e.update({"offline": float(offline[j]), "abs_diff": float(d[j])})
            if side == "candidate":
                e["item_id"] = row.item_ids[j]
            return e

        self.note(d, entry)

    def summary(self) -> dict[str, Any]:
        keys = ("ok", "rows", "values_compared", "values_equal", "undeclared_values", "max_abs_diff", "worst")
        return {k: getattr(self, k) for k in keys}


class AggregateParity:
    """Recomputes the logged aggregate values of chunks of rows; the aggregations' events are read once."""

    def __init__(self, ch: ClickHouse, repo: FeatureRepo, schema: ModelSchema):
        self.ch, self.repo = ch, repo
        self.names = AggregateSlots(schema).aggregations()
        self.windows = {a["name"]: list(a["windows"]) for a in repo.aggregations if a["name"] in self.names}
        src = EventSource.of(repo)
        self.user_key, self.item_key = src.requester_key, src.candidate_key
        self.reader: AggregateReader | None = None
        self.stats = AggregateStats()

    def _column(self, key: str) -> tuple[str, int] | None:
        """(aggregation, window index) of a logged `<aggregation>@<window>`; None when the layout reads no such."""
        name, _, window = key.rpartition("@")
        windows = self.windows.get(name, [])
        return (name, windows.index(window)) if window in windows else None

    def check(self, rows: Sequence[LoggedRow]) -> None:
        rows = [r for r in rows if r.aggregates is not None and r.item_ids]
        if not rows:
            return
        if self.reader is None:
            self.reader = AggregateReader(self.ch, self.repo, self.names)
        # one anchor per candidate: the user's values are read at each request's first candidate
        starts = np.cumsum([0, *(len(r.item_ids) for r in rows)])
        anchors = {
            "ts_ms": np.repeat([int(r.aggregates["as_of_ms"]) for r in rows], np.diff(starts)),  # type: ignore[index]
            self.user_key: [r.user_id for r in rows for _i in r.item_ids],
            self.item_key: [i for r in rows for i in r.item_ids],
        }
        offline = self.reader.windows(anchors)
        s = self.stats
        for r, a in zip(rows, starts[:-1], strict=True):
            s.rows += 1
            logged: dict[str, Any] = r.aggregates  # type: ignore[assignment]
            values = [(k, "user", [v], slice(a, a + 1)) for k, v in logged.get("user", {}).items()]
            values += [(k, "candidate", v, slice(a, a + len(v))) for k, v in logged.get("candidates", {}).items()]
            for key, side, logged_values, rows_at in values:
                col = self._column(key)
                if col is None:
                    s.undeclared_values += len(logged_values)
                    continue
                s.add(r, key, side, np.asarray(logged_values), offline[col[0]][rows_at, col[1]])
