"""Checks chunks of logged rows: which are compared, one catalogue lookup per chunk, the recomputed CTRs
against the served ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..schema import ModelSchema
from .assembly import ItemLookup, LoggedEncoder, LoggedRow
from .report import ParityStats


def is_prior_answer(ctrs: np.ndarray, prior: float) -> bool:
    """True when every CTR is the scorer's prior (inference failed). A float32 model output is never within
    1e-12 of a prior such as 0.02, which float32 cannot represent."""
    return bool(len(ctrs)) and bool(np.all(np.abs(ctrs - prior) <= 1e-12))


class ParityChecker:
    """Checks chunks of logged rows against a scorer function (feeds -> CTRs)."""

    def __init__(
        self,
        schema: ModelSchema,
        lookup: ItemLookup,
        run: Callable[[dict[str, np.ndarray]], np.ndarray],
        tolerance: float = 1e-4,
        include_degraded: bool = False,
        prior_ctr: float = 0.02,
    ):
        self.schema = schema
        self.encoder = LoggedEncoder(schema, lookup)
        self.prior_ctr = float(prior_ctr)
        self.lookup = lookup
        self.run = run
        self.include_degraded = include_degraded
        self.stats = ParityStats(tolerance=float(tolerance))

    def check(self, rows: Sequence[LoggedRow]) -> None:
        s = self.stats
        todo: list[LoggedRow] = []
        for r in rows:
            if r.feature_spec_version and r.feature_spec_version != self.schema.version:
                s.spec_mismatch_rows += 1
            elif not (len(r.item_ids) == len(r.positions) == len(r.ctrs)) or not r.item_ids:
                s.malformed_rows += 1
            elif r.degraded and not self.include_degraded:
                s.degraded_rows_skipped += 1
                s.degraded_candidates_skipped += len(r.item_ids)
            elif r.degraded and is_prior_answer(np.asarray(r.ctrs, dtype=np.float64), self.prior_ctr):
                s.prior_rows_skipped += 1
                s.degraded_candidates_skipped += len(r.item_ids)
            else:
                todo.append(r)
        if not todo:
            return
        # One catalogue lookup for the whole chunk (history truncated to L, as fed).
        L = max((s["length"] for s in self.schema.sequences), default=0)
        ids: list[str] = []
        ts: list[int] = []
        spans = []
        for r in todo:
            h = r.history_item_ids[:L]
            start = len(ids)
            ids.extend(h)
            ids.extend(r.item_ids)
            ts.extend([r.ts_ms] * (len(h) + len(r.item_ids)))
            spans.append((start, start + len(h), start + len(h) + len(r.item_ids)))
        item_rows, unknown, changed = self.lookup.rows(ids, np.asarray(ts, dtype=np.int64))
        no_vec = self.lookup.arr["mm_row"][item_rows] == 0
        for r, (a, b, c) in zip(todo, spans, strict=True):
            feeds = self.encoder.encode(r, item_rows[a:b], item_rows[b:c])
            offline = self.run(feeds)
            s.history_refs += b - a
            s.candidate_refs += c - b
            s.unknown_refs += int(unknown[a:c].sum())
            s.changed_after_request_refs += int(changed[a:c].sum())
            s.without_vector_refs += int((no_vec[a:c] & ~unknown[a:c]).sum())
            s.degraded_rows_checked += 1 if r.degraded else 0
            flags = {
                "unknown_item": unknown[b:c],
                "changed_after_request": changed[b:c],
                "history_changed_after_request": np.full(c - b, bool(changed[a:b].any())),
            }
            s.add_row(r, offline, np.asarray(r.ctrs, dtype=np.float64), flags)
