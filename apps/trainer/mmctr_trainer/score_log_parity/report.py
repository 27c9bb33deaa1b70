"""Parity statistics (differences, skipped rows, item-reference diagnostics, the worst candidates) and their
text / JSON-lines output."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from .aggregates import AggregateStats, WorstDiffs
from .assembly import LoggedRow


@dataclass(kw_only=True)
class ParityStats(WorstDiffs):
    """The running counts of one parity check against its `tolerance` (max |served - recomputed| CTR)."""

    tolerance: float
    aggregates: AggregateStats | None = None  # the logged aggregate values recomputed offline (a layout with some)
    rows_checked: int = 0
    candidates_checked: int = 0
    sum_abs_diff: float = 0.0
    over_tolerance: int = 0
    rows_over_tolerance: int = 0
    degraded_rows_skipped: int = 0
    degraded_candidates_skipped: int = 0
    degraded_rows_checked: int = 0
    prior_rows_skipped: int = 0
    spec_mismatch_rows: int = 0
    malformed_rows: int = 0
    history_refs: int = 0
    candidate_refs: int = 0
    unknown_refs: int = 0
    changed_after_request_refs: int = 0
    without_vector_refs: int = 0

    def add_row(
        self, row: LoggedRow, offline: np.ndarray, served: np.ndarray, cand_flags: dict[str, np.ndarray]
    ) -> None:
        d = np.abs(offline.astype(np.float64) - served)
        self.rows_checked += 1
        self.candidates_checked += len(d)
        self.sum_abs_diff += float(d.sum())
        over = int((d > self.tolerance).sum())
        self.over_tolerance += over
        self.rows_over_tolerance += 1 if over else 0
        if not len(d):
            return
        self.note(
            d,
            lambda j: {
                "request_id": row.request_id,
                "ts_ms": row.ts_ms,
                "user_id": row.user_id,
                "index": j,
                "item_id": row.item_ids[j],
                "position": row.positions[j],
                "served": float(served[j]),
                "offline": float(offline[j]),
                "abs_diff": float(d[j]),
                **{k: bool(v[j]) for k, v in cand_flags.items()},
            },
        )

    @property
    def ok(self) -> bool:
        return (
            self.rows_checked > 0
            and self.over_tolerance == 0
            and self.spec_mismatch_rows == 0
            and self.malformed_rows == 0
            and (self.aggregates is None or self.aggregates.ok)
        )

    def summary(self) -> dict[str, Any]:
        n = self.candidates_checked
        return {
            "ok": self.ok,
            "tolerance": self.tolerance,
            "rows_checked": self.rows_checked,
            "candidates_checked": n,
            "max_abs_diff": self.max_abs_diff,
            "mean_abs_diff": self.sum_abs_diff / n if n else None,
            "candidates_over_tolerance": self.over_tolerance,
            "rows_over_tolerance": self.rows_over_tolerance,
            "degraded_rows_skipped": self.degraded_rows_skipped,
            "degraded_candidates_skipped": self.degraded_candidates_skipped,
            "degraded_rows_checked": self.degraded_rows_checked,
            "prior_rows_skipped": self.prior_rows_skipped,
            "spec_mismatch_rows": self.spec_mismatch_rows,
            "malformed_rows": self.malformed_rows,
            "item_refs": {
                "history": self.history_refs,
                "candidates": self.candidate_refs,
                "unknown": self.unknown_refs,
                "changed_after_request": self.changed_after_request_refs,
                "without_vector": self.without_vector_refs,
            },
            "worst": self.worst,
            **({"aggregates": self.aggregates.summary()} if self.aggregates is not None else {}),
        }


def format_result(r: dict[str, Any]) -> str:
    refs = r["item_refs"]
    lines = [
        f"parity {r['model_version']} ({r['engine']}, {r['model_file']}) on {r['database']}.score_log",
        f"  rows checked {r['rows_checked']}, candidates {r['candidates_checked']}; "
        f"max |dp| {r['max_abs_diff']:.3g} (tolerance {r['tolerance']:g}), mean |dp| {r['mean_abs_diff'] or 0:.3g}",
        f"  over tolerance: {r['candidates_over_tolerance']} candidates in {r['rows_over_tolerance']} rows; "
        f"degraded rows skipped {r['degraded_rows_skipped']} ({r['degraded_candidates_skipped']} candidates); "
        f"spec mismatches {r['spec_mismatch_rows']}; malformed {r['malformed_rows']}",
        f"  item refs: {refs['history']} history + {refs['candidates']} candidates; unknown {refs['unknown']}, "
        f"changed after the request {refs['changed_after_request']}, without vector {refs['without_vector']}",
    ]
    agg = r.get("aggregates")
    if agg is not None:
        lines.append(
            f"  aggregates recomputed offline: {agg['values_compared']} values of {agg['rows']} requests, "
            f"equal {agg['values_equal']}, max |d| {agg['max_abs_diff']:.3g}"
            + (f", undeclared {agg['undeclared_values']}" if agg["undeclared_values"] else "")
        )
        for w in agg["worst"]:
            lines.append(
                f"  aggregate differs: {w['request_id']} {w['value']} ({w['side']}"
                + (f" {w['item_id']}" if "item_id" in w else "")
                + f") logged {w['logged']:.9g} offline {w['offline']:.9g}"
            )
    for w in r["worst"] if r["max_abs_diff"] > r["tolerance"] else []:
        lines.append(
            f"  worst: {w['request_id']} item {w['item_id']} served {w['served']:.6f} offline "
            f"{w['offline']:.6f} |dp| {w['abs_diff']:.3g} unknown={w['unknown_item']} "
            f"changed_after_request={w['changed_after_request']}"
        )
    lines.append("  PASS" if r["ok"] else "  FAIL" + ("" if r["rows_checked"] else " (no rows checked)"))
    return "\n".join(lines)


def progress_to_stderr(event: dict[str, Any]) -> None:
    print(json.dumps(event), file=sys.stderr, flush=True)
