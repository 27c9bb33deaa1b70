"""Serving/training parity: recompute the scorer's answers from `score_log` with the trainer's own code.

For every logged request of one model version (score_log FINAL) the model inputs are rebuilt in Python:
user fields with `features.py` hashing (hour_of_day from the logged ts_ms), the logged history ids (≤ L,
newest first) and candidate ids with their logged positions (clipped per spec), and the item features
(category, tags, fused vector) as of the request time, taken from ClickHouse by the training-set builder's
own `ItemTable` (newest `items` version with ts_ms <= t, the vector of that version's content_hash; an
item without a version then is out of vocabulary: hashed id, category / tags 0, zero vector, exactly what
the scorer feeds for an unknown item). The registered artifact's `model.onnx` runs on onnxruntime's Python
API with the serving shapes (user tensors batch 1, all candidates in one batch); the artifact holds no
torch weights, so the trainer's torch model cannot be rebuilt from it. The recomputed CTRs are compared
with the served ones.

Rows are read in ts_ms windows of about `chunk_rows` rows (primary-key ranges of score_log), so memory is
bounded by one window plus the item catalogue (which the training-set builder holds in memory too).

Degraded rows: the scorer does not log why a response was degraded (history timeout, failed Redis item
fetch, inference error). After a failed item fetch some candidates were scored as unknown although
ClickHouse knows them, so the logged features do not fully describe what was served: degraded rows are
skipped and counted unless `include_degraded` (then answers where every CTR is the scorer's prior,
SCORER_PRIOR_CTR, i.e. inference failed, are still skipped: no model produced them).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence
from urllib.parse import unquote, urlparse

import numpy as np

from .ch import ClickHouse, ident, literal
from .dataset import TS_BITS, ItemTable
from .features import (INPUT_NAMES, OPTIONAL_INPUTS, TAG_SLOTS, FeatureSpec, age_buckets, cached_bucket, encode_user_fields,
                       load_feature_spec, position_value)
from .onnx_scorer import OnnxScorer

ROW_COLUMNS = ("request_id, ts_ms, user_id, model_version, feature_spec_version, device, placement, country, "
               "history_item_ids, history_ts_ms, item_ids, positions, ctrs, degraded")
WORST_KEPT = 5


class ParityError(RuntimeError):
    """A problem that stops the check before any row is compared (no artifact, no model row, ...)."""


# ---------------------------------------------------------------- artifact


def resolve_artifact(ch: ClickHouse | None, version: str, *, artifact: str | None = None, registry: str | None = None,
                     model_root: str | None = None) -> Path:
    """The artifact folder of `version`: --artifact, else <registry>/<version>, else the `models` row's
    artifact_uri (absolute, file:// or relative to model_root / SCORER_MODEL_ROOT / the working directory,
    as the scorer resolves it), else <MMCTR_REGISTRY or .local/registry>/<version>."""
    if artifact:
        return _checked(Path(artifact))
    if registry:
        return _checked(Path(registry) / version)
    if ch is not None:
        rows = ch.all(f"SELECT artifact_uri FROM {ident(ch.database)}.models_current WHERE version = {literal(version)}")
        if rows:
            uri = rows[0]["artifact_uri"]
            if uri.startswith("file://"):
                p = Path(unquote(urlparse(uri).path))
            else:
                p = Path(uri)
                if not p.is_absolute():
                    p = Path(model_root or os.environ.get("SCORER_MODEL_ROOT") or ".") / p
            return _checked(p)
    from .registry import registry_root

    return _checked(registry_root(None) / version)


def _checked(folder: Path) -> Path:
    if not (folder / "feature_spec.json").exists():
        raise ParityError(f"{folder}: no feature_spec.json (not a model artifact folder)")
    return folder.resolve()


def production_version(ch: ClickHouse) -> str:
    rows = ch.all(f"SELECT version FROM {ident(ch.database)}.models_current WHERE status = 'production' "
                  "ORDER BY latest_updated_ms DESC LIMIT 1")
    if not rows:
        raise ParityError(f"no production model in {ch.database}.models; give --model-version")
    return str(rows[0]["version"])


class OnnxRunner(OnnxScorer):
    """An artifact's model.onnx with the serving signature checked; returns the CTRs as a flat float32 array."""

    def __init__(self, path: str | Path, threads: int = 1):
        super().__init__(path, threads=max(1, int(threads)))
        names = {i.name for i in self.session.get_inputs()}
        missing = [n for n in INPUT_NAMES if n not in names and n not in OPTIONAL_INPUTS]
        if missing:
            raise ParityError(f"{path}: inputs {missing} missing (not the serving signature)")

    def __call__(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.run(feeds), dtype=np.float32).reshape(-1)


# ---------------------------------------------------------------- item features as of the request time


class ItemLookup:
    """Item rows of an `ItemTable` as of given times, plus the diagnostics that explain a mismatch."""

    def __init__(self, items: ItemTable):
        self.items = items
        self.arr = items.arrays()
        self.item_buckets = items.spec.item_buckets
        n_items = len(items.index)
        self.latest = np.zeros(n_items, dtype=np.int32)
        if len(items.keys):
            owner = items.keys >> TS_BITS
            last = np.r_[owner[1:] != owner[:-1], True]
            self.latest[owner[last]] = items.rows[last]

    def rows(self, ids: Sequence[str], ts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Version row per (id, t) (0 = unknown item), hashed id, and whether the catalogue changed the
        item's features after t (the scorer may then have served a newer version)."""
        idx = np.fromiter((self.items.index.get(i, -1) for i in ids), dtype=np.int64, count=len(ids))
        known = idx >= 0
        rows = np.zeros(len(ids), dtype=np.int32)
        changed = np.zeros(len(ids), dtype=bool)
        if known.any():
            r = self.items.as_of(idx[known], ts[known])
            rows[known] = r
            latest = self.latest[idx[known]]
            a = self.arr
            changed[known] = ((a["cat"][r] != a["cat"][latest]) | (a["mm_row"][r] != a["mm_row"][latest])
                              | (a["tags"][r] != a["tags"][latest]).any(axis=1))
        hid = self.arr["hash_id"][rows].copy()
        for j in np.flatnonzero(~known):
            hid[j] = cached_bucket("item_id", ids[j], self.item_buckets)
        return rows, hid, changed


# ---------------------------------------------------------------- one request


@dataclass
class LoggedRow:
    request_id: str
    ts_ms: int
    user_id: str
    device: str
    placement: str
    country: str
    history_item_ids: list[str]
    item_ids: list[str]
    positions: list[int]
    ctrs: list[float]
    degraded: bool
    feature_spec_version: str = ""
    model_version: str = ""
    history_ts_ms: list[int] = field(default_factory=list)  # click times (fs-2); empty from an older scorer

    @staticmethod
    def from_json(r: dict[str, Any]) -> "LoggedRow":
        return LoggedRow(
            request_id=str(r["request_id"]), ts_ms=int(r["ts_ms"]), user_id=str(r["user_id"]),
            device=str(r.get("device") or ""), placement=str(r.get("placement") or ""), country=str(r.get("country") or ""),
            history_item_ids=[str(x) for x in r.get("history_item_ids") or []],
            item_ids=[str(x) for x in r.get("item_ids") or []],
            positions=[int(x) for x in r.get("positions") or []],
            ctrs=[float(x) for x in r.get("ctrs") or []],
            degraded=bool(int(r.get("degraded") or 0)),
            feature_spec_version=str(r.get("feature_spec_version") or ""),
            model_version=str(r.get("model_version") or ""),
            history_ts_ms=[int(x) for x in r.get("history_ts_ms") or []],
        )


def encode_logged(spec: FeatureSpec, lookup: ItemLookup, row: LoggedRow,
                  hist: tuple[np.ndarray, np.ndarray], cand: tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
    """The serving tensors of one logged request (user inputs batch 1, candidates batch B), from its item
    version rows / hashed ids (ItemLookup.rows) — the same layout the scorer's FeatureAssembler writes."""
    L, D = spec.history_length, spec.mm_dim
    a = lookup.arr
    user_fields = np.array([encode_user_fields(spec, row.user_id, row.device, row.placement, row.country, row.ts_ms)],
                           dtype=np.int64)
    h_rows, h_hid = hist
    n = min(L, len(h_rows))
    hist_ids = np.zeros((1, L), dtype=np.int64)
    hist_cat = np.zeros((1, L), dtype=np.int64)
    hist_tags = np.zeros((1, L, TAG_SLOTS), dtype=np.int64)
    hist_mm = np.zeros((1, L, D), dtype=np.float32)
    if n:
        hr = h_rows[:n]
        hist_ids[0, :n] = h_hid[:n]
        hist_cat[0, :n] = a["cat"][hr]
        hist_tags[0, :n] = a["tags"][hr]
        hist_mm[0, :n] = _vectors(a, hr, D)
    hist_age = np.zeros((1, L), dtype=np.int64)
    k = min(n, len(row.history_ts_ms))
    if k and spec.age_boundaries_ms:
        hist_age[0, :k] = age_buckets(row.ts_ms - np.asarray(row.history_ts_ms[:k], dtype=np.int64), spec.age_boundaries_ms)
    c_rows, c_hid = cand
    pos_f = spec.candidate_field("position")
    pos = np.fromiter((cached_bucket(pos_f.name, position_value(p, pos_f.clip), pos_f.buckets) for p in row.positions),
                      dtype=np.int64, count=len(row.positions))
    return {
        "user_fields": user_fields, "hist_ids": hist_ids, "hist_tags": hist_tags, "hist_cat": hist_cat, "hist_mm": hist_mm,
        "hist_age": hist_age,
        "cand_fields": np.ascontiguousarray(np.stack([c_hid.astype(np.int64), a["cat"][c_rows], pos], axis=1)),
        "cand_tags": np.ascontiguousarray(a["tags"][c_rows]),
        "cand_mm": _vectors(a, c_rows, D),
    }


def _vectors(a: dict[str, np.ndarray], rows: np.ndarray, D: int) -> np.ndarray:
    mm = a["mm"][a["mm_row"][rows]]
    if mm.shape[1] != D:  # the table is already fitted to the spec's D; kept for a foreign table
        out = np.zeros((len(rows), D), dtype=np.float32)
        k = min(D, mm.shape[1])
        out[:, :k] = mm[:, :k]
        return out
    return np.ascontiguousarray(mm, dtype=np.float32)


# ---------------------------------------------------------------- statistics


@dataclass
class ParityStats:
    tolerance: float
    rows_checked: int = 0
    candidates_checked: int = 0
    max_abs_diff: float = 0.0
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
    worst: list[dict[str, Any]] = field(default_factory=list)

    def add_row(self, row: LoggedRow, offline: np.ndarray, served: np.ndarray, cand_flags: dict[str, np.ndarray]) -> None:
        d = np.abs(offline.astype(np.float64) - served)
        self.rows_checked += 1
        self.candidates_checked += len(d)
        self.sum_abs_diff += float(d.sum())
        over = int((d > self.tolerance).sum())
        self.over_tolerance += over
        self.rows_over_tolerance += 1 if over else 0
        if not len(d):
            return
        j = int(np.argmax(d))
        self.max_abs_diff = max(self.max_abs_diff, float(d[j]))
        if len(self.worst) < WORST_KEPT or d[j] > self.worst[-1]["abs_diff"]:
            self.worst.append({
                "request_id": row.request_id, "ts_ms": row.ts_ms, "user_id": row.user_id, "index": j,
                "item_id": row.item_ids[j], "position": row.positions[j], "served": float(served[j]),
                "offline": float(offline[j]), "abs_diff": float(d[j]),
                **{k: bool(v[j]) for k, v in cand_flags.items()},
            })
            self.worst.sort(key=lambda w: -w["abs_diff"])
            del self.worst[WORST_KEPT:]

    @property
    def ok(self) -> bool:
        return (self.rows_checked > 0 and self.over_tolerance == 0 and self.spec_mismatch_rows == 0
                and self.malformed_rows == 0)

    def summary(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "tolerance": self.tolerance,
            "rows_checked": self.rows_checked,
            "candidates_checked": self.candidates_checked,
            "max_abs_diff": self.max_abs_diff,
            "mean_abs_diff": self.sum_abs_diff / self.candidates_checked if self.candidates_checked else None,
            "candidates_over_tolerance": self.over_tolerance,
            "rows_over_tolerance": self.rows_over_tolerance,
            "degraded_rows_skipped": self.degraded_rows_skipped,
            "degraded_candidates_skipped": self.degraded_candidates_skipped,
            "degraded_rows_checked": self.degraded_rows_checked,
            "prior_rows_skipped": self.prior_rows_skipped,
            "spec_mismatch_rows": self.spec_mismatch_rows,
            "malformed_rows": self.malformed_rows,
            "item_refs": {"history": self.history_refs, "candidates": self.candidate_refs,
                          "unknown": self.unknown_refs, "changed_after_request": self.changed_after_request_refs,
                          "without_vector": self.without_vector_refs},
            "worst": self.worst,
        }


def is_prior_answer(ctrs: np.ndarray, prior: float) -> bool:
    """True when every CTR is the scorer's prior (inference failed). A float32 model output is never within
    1e-12 of a prior such as 0.02, which float32 cannot represent."""
    return bool(len(ctrs)) and bool(np.all(np.abs(ctrs - prior) <= 1e-12))


class ParityChecker:
    """Checks chunks of logged rows against a scorer function (feeds -> CTRs)."""

    def __init__(self, spec: FeatureSpec, lookup: ItemLookup, run: Callable[[dict[str, np.ndarray]], np.ndarray],
                 tolerance: float = 1e-4, include_degraded: bool = False, prior_ctr: float = 0.02):
        self.spec = spec
        self.prior_ctr = float(prior_ctr)
        self.lookup = lookup
        self.run = run
        self.include_degraded = include_degraded
        self.stats = ParityStats(tolerance=float(tolerance))

    def check(self, rows: Sequence[LoggedRow]) -> None:
        s = self.stats
        todo: list[LoggedRow] = []
        for r in rows:
            if r.feature_spec_version and r.feature_spec_version != self.spec.version:
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
        L = self.spec.history_length
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
        item_rows, hid, changed = self.lookup.rows(ids, np.asarray(ts, dtype=np.int64))
        no_vec = self.lookup.arr["mm_row"][item_rows] == 0
        unknown = item_rows == 0
        for r, (a, b, c) in zip(todo, spans):
            feeds = encode_logged(self.spec, self.lookup, r, (item_rows[a:b], hid[a:b]), (item_rows[b:c], hid[b:c]))
            offline = self.run(feeds)
            s.history_refs += b - a
            s.candidate_refs += c - b
            s.unknown_refs += int(unknown[a:c].sum())
            s.changed_after_request_refs += int(changed[a:c].sum())
            s.without_vector_refs += int((no_vec[a:c] & ~unknown[a:c]).sum())
            s.degraded_rows_checked += 1 if r.degraded else 0
            flags = {"unknown_item": unknown[b:c], "changed_after_request": changed[b:c],
                     "history_changed_after_request": np.full(c - b, bool(changed[a:b].any()))}
            s.add_row(r, offline, np.asarray(r.ctrs, dtype=np.float64), flags)


# ---------------------------------------------------------------- reading score_log


def _where(version: str, since_ms: int | None, until_ms: int | None) -> str:
    w = f"model_version = {literal(version)}"
    if since_ms is not None:
        w += f" AND ts_ms >= {int(since_ms)}"
    if until_ms is not None:
        w += f" AND ts_ms < {int(until_ms)}"
    return w


def plan_windows(ch: ClickHouse, version: str, since_ms: int | None, until_ms: int | None,
                 chunk_rows: int, slices: int = 100_000) -> tuple[int, list[tuple[int, int]]]:
    """[from, to) ts_ms windows of at most about chunk_rows rows each: row counts per time slice (at most
    `slices` of them), merged greedily in time order (no FINAL: planning only, duplicates just count twice).
    A slice holding more rows than chunk_rows on its own stays one window."""
    db = ident(ch.database)
    where = _where(version, since_ms, until_ms)
    r = ch.all(f"SELECT count() AS n, min(ts_ms) AS lo, max(ts_ms) AS hi FROM {db}.score_log WHERE {where}")[0]
    n = int(r["n"])
    if n == 0:
        return 0, []
    lo, hi = int(r["lo"]), int(r["hi"]) + 1
    width = max(1, math.ceil((hi - lo) / slices))
    windows: list[tuple[int, int]] = []
    start, rows = lo, 0
    sql = (f"SELECT intDiv(ts_ms - {lo}, {width}) AS s, count() AS n FROM {db}.score_log WHERE {where} "
           "GROUP BY s ORDER BY s")
    for b in ch.rows(sql):
        s_from = lo + int(b["s"]) * width
        if rows and rows + int(b["n"]) > chunk_rows:
            windows.append((start, s_from))
            start, rows = s_from, 0
        rows += int(b["n"])
    windows.append((start, hi))
    return n, windows


def read_rows(ch: ClickHouse, version: str, windows: Iterable[tuple[int, int]]) -> Iterator[list[LoggedRow]]:
    """Each window's rows (FINAL: replays collapse), in (ts_ms, request_id) order."""
    db = ident(ch.database)
    for a, b in windows:
        sql = (f"SELECT {ROW_COLUMNS} FROM {db}.score_log FINAL WHERE {_where(version, a, b)} "
               "ORDER BY ts_ms, request_id")
        yield [LoggedRow.from_json(r) for r in ch.rows(sql)]


# ---------------------------------------------------------------- the command


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


def run_parity(ch: ClickHouse, opts: ParityOptions, progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    t0 = time.time()
    version = opts.model_version or production_version(ch)
    folder = resolve_artifact(ch, version, artifact=opts.artifact, registry=opts.registry, model_root=opts.model_root)
    spec = load_feature_spec(folder / "feature_spec.json")
    model_file = opts.model_file or os.environ.get("SCORER_MODEL_FILE") or "model.onnx"
    runner = OnnxRunner(folder / model_file, threads=opts.threads)
    pv = opts.projection_version if opts.projection_version is not None else (os.environ.get("SCORER_PROJECTION_VERSION") or None)
    items = ItemTable(spec).load(ch, pv)
    prior = opts.prior_ctr if opts.prior_ctr is not None else float(os.environ.get("SCORER_PRIOR_CTR") or 0.02)
    checker = ParityChecker(spec, ItemLookup(items), runner, opts.tolerance, opts.include_degraded, prior)
    n_planned, windows = plan_windows(ch, version, opts.since_ms, opts.until_ms, opts.chunk_rows)
    s = checker.stats
    seen = 0
    last = time.time()
    for i, rows in enumerate(read_rows(ch, version, windows)):
        if opts.limit is not None:
            rows = rows[: max(0, opts.limit - seen)]
        seen += len(rows)
        for j in range(0, len(rows), max(1, opts.chunk_rows)):
            checker.check(rows[j:j + opts.chunk_rows])
        now = time.time()
        done = i + 1 == len(windows) or (opts.limit is not None and seen >= opts.limit)
        if progress and (now - last >= opts.progress_every_s or done):
            last = now
            progress({"event": "parity.progress", "model_version": version, "window": i + 1, "windows": len(windows),
                      "rows_read": seen, "rows_planned": n_planned if opts.limit is None else min(n_planned, opts.limit),
                      "rows_checked": s.rows_checked, "candidates_checked": s.candidates_checked,
                      "max_abs_diff": s.max_abs_diff, "candidates_over_tolerance": s.over_tolerance,
                      "elapsed_s": round(now - t0, 2), "rows_per_s": round(s.rows_checked / max(1e-9, now - t0), 1)})
        if done:
            break
    out = {
        "model_version": version, "database": ch.database, "artifact": str(folder), "model_file": model_file,
        "engine": runner.engine, "feature_spec_version": spec.version,
        "item_features": "as of each request's ts_ms (dataset.ItemTable, the training-set builder's join)",
        "projection_version": items.projection_version, "catalogue_items": len(items.index),
        "since_ms": opts.since_ms, "until_ms": opts.until_ms, "limit": opts.limit,
        "include_degraded": opts.include_degraded, "rows_read": seen,
    }
    out.update(s.summary())
    out["seconds"] = round(time.time() - t0, 3)
    return out


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
    for w in r["worst"] if r["max_abs_diff"] > r["tolerance"] else []:
        lines.append(f"  worst: {w['request_id']} item {w['item_id']} served {w['served']:.6f} offline "
                     f"{w['offline']:.6f} |dp| {w['abs_diff']:.3g} unknown={w['unknown_item']} "
                     f"changed_after_request={w['changed_after_request']}")
    lines.append("  PASS" if r["ok"] else "  FAIL" + ("" if r["rows_checked"] else " (no rows checked)"))
    return "\n".join(lines)


def progress_to_stderr(event: dict[str, Any]) -> None:
    print(json.dumps(event), file=sys.stderr, flush=True)
