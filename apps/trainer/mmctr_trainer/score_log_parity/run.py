"""The `mmctr-train parity` command: artifact, item catalogue, windows of score_log, checker, result."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..ch import ClickHouse
from ..dataset import EntityTables
from ..dataset.aggregate_slots import AggregateSlots
from ..feature_repo import load_feature_repo
from ..schema import ModelSchema
from .aggregates import AggregateParity
from .artifact import OnnxRunner, ParityError, production_version, resolve_artifact
from .assembly import ItemLookup, LoggedEncoder
from .checker import ParityChecker
from .query import plan_windows, read_rows


@dataclass
class ParityOptions:
    model_version: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    limit: int | None = None
    tolerance: float = 1e-4
    chunk_rows: int = 2000
    include_degraded: bool = False
    registry: str | None = None
    artifact: str | None = None
    model_root: str | None = None
    model_file: str | None = None
    projection_version: str | None = None
    threads: int = 1
    prior_ctr: float | None = None
    progress_every_s: float = 5.0


def run_parity(
    ch: ClickHouse, opts: ParityOptions, progress: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    t0 = time.time()
    version = opts.model_version or production_version(ch)
    folder = resolve_artifact(ch, version, artifact=opts.artifact, registry=opts.registry, model_root=opts.model_root)
    repo = load_feature_repo(folder / "feature_repo.json")
    schema = ModelSchema.from_repo(repo)
    model_file = opts.model_file or os.environ.get("SCORER_MODEL_FILE") or "model.onnx"
    runner = OnnxRunner(folder / model_file, schema, threads=opts.threads)
    pv = (
        opts.projection_version
        if opts.projection_version is not None
        else (os.environ.get("SCORER_PROJECTION_VERSION") or None)
    )
    prior = opts.prior_ctr if opts.prior_ctr is not None else float(os.environ.get("SCORER_PRIOR_CTR") or 0.02)
    try:  # a layout the builder's queries or the score log cannot serve
        tables = EntityTables(repo, schema, log=lambda _m: None).load(ch, pv)
        items = tables.candidate
        lookup = ItemLookup(items)
        encoder = LoggedEncoder(repo, schema, tables)
        aggregates = AggregateParity(ch, repo, schema) if AggregateSlots(schema) else None
        checker = ParityChecker(
            encoder, lookup, runner, opts.tolerance, opts.include_degraded, prior, aggregates=aggregates
        )
    except ValueError as e:
        raise ParityError(f"{folder}: {e}") from e
    n_planned, windows = plan_windows(ch, version, opts.since_ms, opts.until_ms, opts.chunk_rows)
    s = checker.stats
    seen = 0
    last = time.time()
    for i, rows in enumerate(read_rows(ch, repo, version, windows)):
        if opts.limit is not None:
            rows = rows[: max(0, opts.limit - seen)]
        seen += len(rows)
        for j in range(0, len(rows), max(1, opts.chunk_rows)):
            checker.check(rows[j : j + opts.chunk_rows])
        now = time.time()
        done = i + 1 == len(windows) or (opts.limit is not None and seen >= opts.limit)
        if progress and (now - last >= opts.progress_every_s or done):
            last = now
            progress(
                {
                    "event": "parity.progress",
                    "model_version": version,
                    "window": i + 1,
                    "windows": len(windows),
                    "rows_read": seen,
                    "rows_planned": n_planned if opts.limit is None else min(n_planned, opts.limit),
                    "rows_checked": s.rows_checked,
                    "candidates_checked": s.candidates_checked,
                    "max_abs_diff": s.max_abs_diff,
                    "candidates_over_tolerance": s.over_tolerance,
                    "elapsed_s": round(now - t0, 2),
                    "rows_per_s": round(s.rows_checked / max(1e-9, now - t0), 1),
                }
            )
        if done:
            break
    out = {
        "model_version": version,
        "database": ch.database,
        "artifact": str(folder),
        "model_file": model_file,
        "engine": runner.engine,
        "feature_spec_version": schema.version,
        "item_features": "as of each request's ts_ms (dataset.EntityTables, the training-set builder's join)",
        "projection_version": items.projection_version,
        "catalogue_items": lookup.n_catalogue,
        "since_ms": opts.since_ms,
        "until_ms": opts.until_ms,
        "limit": opts.limit,
        "include_degraded": opts.include_degraded,
        "rows_read": seen,
    }
    out.update(s.summary())
    out["seconds"] = round(time.time() - t0, 3)
    return out
