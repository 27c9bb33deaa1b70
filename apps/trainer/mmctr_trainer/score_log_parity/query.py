"""Reading score_log in ts_ms windows of about chunk_rows rows (the SQL is in store.py)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

from .. import store
from ..ch import ClickHouse
from ..feature_repo import FeatureRepo
from .assembly import LoggedRow, legacy_context_columns


def plan_windows(
    ch: ClickHouse, version: str, since_ms: int | None, until_ms: int | None, chunk_rows: int, slices: int = 100_000
) -> tuple[int, list[tuple[int, int]]]:
    """[from, to) ts_ms windows of at most about chunk_rows rows each: row counts per time slice (at most
    `slices` of them), merged greedily in time order (no FINAL: planning only, duplicates just count twice).
    A slice holding more rows than chunk_rows on its own stays one window."""
    r = store.score_log_span(ch, version, since_ms, until_ms)
    n = int(r["n"])
    if n == 0:
        return 0, []
    lo, hi = int(r["lo"]), int(r["hi"]) + 1
    width = max(1, math.ceil((hi - lo) / slices))
    windows: list[tuple[int, int]] = []
    start, rows = lo, 0
    for b in store.score_log_slice_counts(ch, version, since_ms, until_ms, lo, width):
        s_from = lo + int(b["s"]) * width
        if rows and rows + int(b["n"]) > chunk_rows:
            windows.append((start, s_from))
            start, rows = s_from, 0
        rows += int(b["n"])
    windows.append((start, hi))
    return n, windows


def read_rows(
    ch: ClickHouse, repo: FeatureRepo, version: str, windows: Iterable[tuple[int, int]]
) -> Iterator[list[LoggedRow]]:
    """Each window's rows (FINAL: replays collapse), in (ts_ms, request_id) order, with the table's fixed context
    columns of the repository's request context (rows logged before context_json hold it there) and, once the
    table has it (migration 0019), aggregates_json."""
    have = [n for n, _t in store.table_columns(ch, "score_log")]
    legacy = legacy_context_columns(repo, have)
    extra = [*legacy, *(["aggregates_json"] if "aggregates_json" in have else [])]
    for a, b in windows:
        yield [LoggedRow.from_json(r, legacy) for r in store.score_log_rows(ch, version, a, b, extra)]
