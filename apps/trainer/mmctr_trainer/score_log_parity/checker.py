"""Checks chunks of logged rows: which are compared, the inputs rebuilt from the entity tables as of each request,
the recomputed CTRs against the served ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .aggregates import AggregateParity
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
        encoder: LoggedEncoder,
        lookup: ItemLookup,
        run: Callable[[dict[str, np.ndarray]], np.ndarray],
        tolerance: float = 1e-4,
        include_degraded: bool = False,
        prior_ctr: float = 0.02,
        aggregates: AggregateParity | None = None,
    ):
        self.schema = encoder.schema
        self.encoder = encoder
        self.prior_ctr = float(prior_ctr)
        self.lookup = lookup
        self.run = run
        self.include_degraded = include_degraded
        self.stats = ParityStats(tolerance=float(tolerance), aggregates=aggregates.stats if aggregates else None)
        self.aggregates = aggregates

    def _skipped(self, r: LoggedRow) -> bool:
        """Counts a row that is not compared: another layout, malformed, degraded (unless asked), a prior answer."""
        s = self.stats
        if r.feature_spec_version and r.feature_spec_version != self.schema.version:
            s.spec_mismatch_rows += 1
        elif not (len(r.item_ids) == len(r.positions) == len(r.ctrs)) or not r.item_ids:
            s.malformed_rows += 1
        elif r.candidate_context is not None and len(r.candidate_context) != len(r.item_ids):
            s.malformed_rows += 1
        elif r.sequences is None and len(self.schema.sequences) > 1:  # logged with one history
            s.malformed_rows += 1
        elif self.encoder.aggregates_missing(r):  # the layout reads an aggregate window the row lacks
            s.malformed_rows += 1
        elif r.degraded and not self.include_degraded:
            s.degraded_rows_skipped += 1
            s.degraded_candidates_skipped += len(r.item_ids)
        elif r.degraded and is_prior_answer(np.asarray(r.ctrs, dtype=np.float64), self.prior_ctr):
            s.prior_rows_skipped += 1
            s.degraded_candidates_skipped += len(r.item_ids)
        else:
            return False
        return True

    def check(self, rows: Sequence[LoggedRow]) -> None:
        checked = [r for r in rows if not self._skipped(r)]
        for r in checked:
            self._check(r)
        if self.aggregates is not None:  # the logged values, recomputed offline (not a degraded row's defaults)
            self.aggregates.check([r for r in checked if not r.degraded])

    def _check(self, r: LoggedRow) -> None:
        s = self.stats
        e = self.encoder.encode(r)
        offline = self.run(e.feeds)
        c_unknown, c_changed = self.lookup.flags(e.cand_idx, e.cand_rows)
        h_unknown, h_changed = self.lookup.flags(e.hist_idx, e.hist_rows)
        s.history_refs += len(e.hist_idx)
        s.candidate_refs += len(e.cand_idx)
        s.unknown_refs += int(c_unknown.sum() + h_unknown.sum())
        s.changed_after_request_refs += int(c_changed.sum() + h_changed.sum())
        s.without_vector_refs += self.lookup.without_vector(e.cand_rows, c_unknown)
        s.without_vector_refs += self.lookup.without_vector(e.hist_rows, h_unknown)
        s.degraded_rows_checked += 1 if r.degraded else 0
        flags = {
            "unknown_item": c_unknown,
            "changed_after_request": c_changed,
            "history_changed_after_request": np.full(len(e.cand_idx), bool(h_changed.any())),
        }
        s.add_row(r, offline, np.asarray(r.ctrs, dtype=np.float64), flags)
