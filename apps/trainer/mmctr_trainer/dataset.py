"""Point-in-time training sets from ClickHouse, streamed in user hash-buckets so memory stays bounded.

For every impression (events FINAL, type = impression) in [from_ms, to_ms):
- label: 1 when a click with the same request_id and item_id (and user) lands in
  [impression ts, impression ts + attribution window];
- history: the user's last L clicked items with ts strictly before the impression, newest first;
- item features (category, tags, fused multimodal vector) of the candidate and of every history item
  as of the impression time: the newest catalogue version with ts_ms <= impression ts (none -> missing);
  the vector is the item_embeddings row of that version's content_hash (zeros when absent);
- split by the impression time: train < train_end_ms <= val < val_end_ms <= test.
Users are streamed in buckets `cityHash64(user_id) % N = k` (18.16 has no window functions): each
bucket's impressions and clicks are fetched, and histories are computed with numpy searchsorted.

On disk (out_dir): meta.json, items.npz (the item-version table) and, per split, raw column files
(np.memmap-able): user_fields int64 [n,U], cand_row int32 [n], cand_pos int64 [n], hist_rows int32 [n,L],
hist_age uint8 [n,L] (age bucket of each history click at the impression time), label uint8 [n], ts_ms int64 [n],
cold uint8 [n]. cand_row / hist_rows index the item-version table
(row 0 = padding); a row's features are gathered at batch time, so a history costs 4 bytes a slot.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .ch import ClickHouse, ident, literal
from .features import (TAG_SLOTS, FeatureSpec, age_buckets, cached_bucket, encode_tags, fit_vector, hour_of_day,
                       position_value)

SPLITS = ("train", "val", "test")
TS_BITS = 42  # ts_ms < 2^42 (year 2109); item index in the high bits
TS_MASK = (1 << TS_BITS) - 1


class ItemTable:
    """Item versions as of any time, plus one 'no version yet' row per item (hashed id only)."""

    def __init__(self, spec: FeatureSpec):
        self.spec = spec
        self.index: dict[str, int] = {}
        self.first_imp_ms: list[int] = []
        # version rows; row 0 is padding (all zeros)
        self.hash_id: list[int] = [0]
        self.cat: list[int] = [0]
        self.tags: list[list[int]] = [[0] * TAG_SLOTS]
        self.mm_row: list[int] = [0]
        self.pseudo_row: list[int] = []
        self.mm: list[np.ndarray] = [np.zeros(spec.mm_dim, dtype=np.float32)]
        self.keys = np.zeros(0, dtype=np.int64)
        self.rows = np.zeros(0, dtype=np.int32)
        self.projection_version = ""
        self.vector_mismatch = 0

    def item_idx(self, item_id: str) -> int:
        i = self.index.get(item_id)
        if i is None:
            i = len(self.index)
            if i >= (1 << (63 - TS_BITS)):
                raise OverflowError("too many items for the version index")
            self.index[item_id] = i
            self.first_imp_ms.append(-1)
            self.pseudo_row.append(self._add_row(item_id, "", [], 0))
        return i

    def _add_row(self, item_id: str, category: str, tags: list[str], mm_row: int) -> int:
        self.hash_id.append(cached_bucket("item_id", item_id, self.spec.item_buckets))
        self.cat.append(cached_bucket("category", category or "", self.spec.category_buckets))
        self.tags.append(encode_tags(self.spec, tags))
        self.mm_row.append(mm_row)
        return len(self.hash_id) - 1

    def load(self, ch: ClickHouse, projection_version: str | None = None) -> "ItemTable":
        db = ident(ch.database)
        pv = projection_version if projection_version is not None else self.spec.projection_version
        if not pv:
            r = ch.all(f"SELECT argMax(projection_version, created_ms) AS pv, count() AS n FROM {db}.item_embeddings")
            pv = r[0]["pv"] if r and int(r[0]["n"]) > 0 else ""
        self.projection_version = pv
        mm_by_content: dict[tuple[str, str], int] = {}
        sql = (
            f"SELECT item_id, content_hash, argMax(fused_vec, created_ms) AS v FROM {db}.item_embeddings FINAL "
            f"WHERE projection_version = {literal(pv)} GROUP BY item_id, content_hash"
        )
        for row in ch.rows(sql):
            vec = row["v"]
            if len(vec) != self.spec.mm_dim:
                self.vector_mismatch += 1
            mm_by_content[(row["item_id"], row["content_hash"])] = len(self.mm)
            self.mm.append(fit_vector(vec, self.spec.mm_dim))
        keys: list[int] = []
        rows: list[int] = []
        for row in ch.rows(
            f"SELECT item_id, ts_ms, category, tags, content_hash FROM {db}.items FINAL ORDER BY item_id, ts_ms"
        ):
            idx = self.item_idx(row["item_id"])
            ts = int(row["ts_ms"])
            mm_row = mm_by_content.get((row["item_id"], row["content_hash"]), 0)
            keys.append((idx << TS_BITS) | min(ts, TS_MASK))
            rows.append(self._add_row(row["item_id"], row["category"], row["tags"], mm_row))
        order = np.argsort(np.asarray(keys, dtype=np.int64), kind="stable")
        self.keys = np.asarray(keys, dtype=np.int64)[order]
        self.rows = np.asarray(rows, dtype=np.int32)[order]
        return self

    def as_of(self, item_idx: np.ndarray, ts_ms: np.ndarray) -> np.ndarray:
        """Version row of each item as of each time (newest ts_ms <= t), else its pseudo row."""
        item_idx = item_idx.astype(np.int64)
        q = (item_idx << TS_BITS) | np.minimum(ts_ms.astype(np.int64), TS_MASK)
        pos = np.searchsorted(self.keys, q, side="right") - 1
        pseudo = np.asarray(self.pseudo_row, dtype=np.int32)[item_idx]
        if len(self.keys) == 0:
            return pseudo
        posc = np.maximum(pos, 0)
        hit = (pos >= 0) & ((self.keys[posc] >> TS_BITS) == item_idx)
        return np.where(hit, self.rows[posc], pseudo).astype(np.int32)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "hash_id": np.asarray(self.hash_id, dtype=np.int64),
            "cat": np.asarray(self.cat, dtype=np.int64),
            "tags": np.asarray(self.tags, dtype=np.int64).reshape(-1, TAG_SLOTS),
            "mm_row": np.asarray(self.mm_row, dtype=np.int32),
            "mm": np.stack(self.mm).astype(np.float32),
        }


@dataclass
class Boundaries:
    from_ms: int
    train_end_ms: int
    val_end_ms: int
    to_ms: int

    def split_of(self, ts: np.ndarray) -> np.ndarray:
        return np.where(ts < self.train_end_ms, 0, np.where(ts < self.val_end_ms, 1, 2))


def compute_boundaries(ch: ClickHouse, train_end_ms: int | None = None, val_end_ms: int | None = None,
                       from_ms: int | None = None, to_ms: int | None = None,
                       fractions: tuple[float, float] = (0.8, 0.9)) -> tuple[Boundaries, int]:
    db = ident(ch.database)
    r = ch.all(
        f"SELECT min(ts_ms) AS lo, max(ts_ms) AS hi, count() AS n, quantiles({fractions[0]}, {fractions[1]})(ts_ms) AS q "
        f"FROM {db}.events FINAL WHERE type = 'impression'"
        + (f" AND ts_ms >= {int(from_ms)}" if from_ms is not None else "")
        + (f" AND ts_ms < {int(to_ms)}" if to_ms is not None else "")
    )[0]
    n = int(r["n"])
    if n == 0:
        raise ValueError(f"no impressions in {ch.database}.events")
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
            s = s if s is not None else next((int(d[k]) for k in ("from_ms", "start_ms", "train_start_ms")
                                              if isinstance(d.get(k), (int, float))), None)
            e = e if e is not None else next((int(d[k]) for k in ("to_ms", "end_ms", "test_end_ms")
                                              if isinstance(d.get(k), (int, float))), None)
    periods = raw.get("periods")
    if isinstance(periods, dict):
        starts = [int(p["start_ms"]) for p in periods.values() if isinstance(p, dict) and isinstance(p.get("start_ms"), (int, float))]
        ends = [int(p["end_ms"]) for p in periods.values() if isinstance(p, dict) and isinstance(p.get("end_ms"), (int, float))]
        if s is None and starts:
            s = min(starts)
        if e is None and ends:
            e = max(ends)
    if s is not None:
        out["from_ms"] = s
    if e is not None:
        out["to_ms"] = e
    return out


class _ColumnWriter:
    def __init__(self, folder: Path, L: int, U: int):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.n = 0
        self.positives = 0
        self.cold = 0
        self.shapes = {"user_fields": [U], "cand_row": [], "cand_pos": [], "hist_rows": [L], "hist_age": [L], "label": [],
                       "ts_ms": [], "cold": []}
        self.dtypes = {"user_fields": "int64", "cand_row": "int32", "cand_pos": "int64", "hist_rows": "int32",
                       "hist_age": "uint8", "label": "uint8", "ts_ms": "int64", "cold": "uint8"}
        self.files = {k: open(folder / f"{k}.bin", "wb") for k in self.shapes}

    def write(self, cols: dict[str, np.ndarray]) -> None:
        for k, fh in self.files.items():
            np.ascontiguousarray(cols[k], dtype=self.dtypes[k]).tofile(fh)
        self.n += len(cols["label"])
        self.positives += int(cols["label"].sum())
        self.cold += int(cols["cold"].sum())

    def close(self) -> dict[str, Any]:
        for fh in self.files.values():
            fh.close()
        return {"rows": self.n, "positives": self.positives, "cold_rows": self.cold,
                "columns": {k: {"dtype": self.dtypes[k], "shape": self.shapes[k]} for k in self.shapes}}


@dataclass
class BuildResult:
    out_dir: Path
    meta: dict[str, Any] = field(default_factory=dict)


def build_training_set(ch: ClickHouse, spec: FeatureSpec, out_dir: str | Path, *,
                       train_end_ms: int | None = None, val_end_ms: int | None = None,
                       from_ms: int | None = None, to_ms: int | None = None,
                       chunk_rows: int = 200_000, attribution_window_ms: int | None = None,
                       projection_version: str | None = None,
                       log: Callable[[str], None] = print) -> BuildResult:
    t0 = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    db = ident(ch.database)
    L, U = spec.history_length, len(spec.user_fields)
    window = int(attribution_window_ms if attribution_window_ms is not None else spec.attribution_window_ms)
    bounds, n_imp = compute_boundaries(ch, train_end_ms, val_end_ms, from_ms, to_ms)
    log(f"[build] {n_imp} impressions; split train < {bounds.train_end_ms} <= val < {bounds.val_end_ms} <= test")
    items = ItemTable(spec).load(ch, projection_version)
    log(f"[build] {len(items.index)} catalogue items, {len(items.keys)} versions, {len(items.mm) - 1} vectors "
        f"(projection '{items.projection_version}')")
    first_imp: dict[str, int] = {}
    for row in ch.rows(f"SELECT item_id, min(ts_ms) AS t FROM {db}.events FINAL WHERE type = 'impression' GROUP BY item_id"):
        first_imp[row["item_id"]] = int(row["t"])
    writers = {s: _ColumnWriter(out / s, L, U) for s in SPLITS}
    n_buckets = max(1, math.ceil(n_imp / max(1, chunk_rows)))
    pos_field = spec.candidate_field("position")
    time_filter = f"ts_ms >= {bounds.from_ms} AND ts_ms < {bounds.to_ms}"
    for k in range(n_buckets):
        where_user = f"cityHash64(user_id) % {n_buckets} = {k}"
        imp_sql = (
            "SELECT user_id, ts_ms, item_id, position, device, placement, country, "
            f"arrayExists(x -> x >= ts_ms AND x <= ts_ms + {window}, click_ts) AS label FROM ("
            f" SELECT user_id, ts_ms, item_id, request_id, position, device, placement, country FROM {db}.events FINAL"
            f" WHERE type = 'impression' AND {where_user} AND {time_filter}"
            ") ANY LEFT JOIN ("
            f" SELECT request_id, item_id, user_id, groupArray(ts_ms) AS click_ts FROM {db}.events FINAL"
            f" WHERE type = 'click' AND {where_user} GROUP BY request_id, item_id, user_id"
            ") USING (request_id, item_id, user_id) ORDER BY user_id, ts_ms"
        )
        imps = ch.all(imp_sql)
        if not imps:
            continue
        clicks = ch.all(
            f"SELECT user_id, ts_ms, item_id FROM {db}.events FINAL WHERE type = 'click' AND {where_user} "
            f"AND ts_ms < {bounds.to_ms} ORDER BY user_id, ts_ms"
        )
        cols = _bucket_columns(spec, items, first_imp, bounds, imps, clicks, pos_field.clip)
        split = bounds.split_of(cols["ts_ms"])
        for s_i, s in enumerate(SPLITS):
            m = split == s_i
            if m.any():
                writers[s].write({c: v[m] for c, v in cols.items()})
        log(f"[build] bucket {k + 1}/{n_buckets}: {len(imps)} impressions, {len(clicks)} clicks "
            f"({time.time() - t0:.1f}s)")
    split_meta = {s: w.close() for s, w in writers.items()}
    np.savez(out / "items.npz", **items.arrays())
    meta = {
        "format": "mmctr-trainset-1",
        "database": ch.database,
        "feature_spec": spec.to_json(),
        "feature_spec_version": spec.version,
        "boundaries": bounds.__dict__,
        "attribution_window_ms": window,
        "projection_version": items.projection_version,
        "vectors_resized": items.vector_mismatch,
        "items": len(items.index),
        "item_rows": len(items.hash_id),
        "splits": split_meta,
        "built_at_ms": int(time.time() * 1000),
        "build_seconds": round(time.time() - t0, 3),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    log(f"[build] done: " + ", ".join(f"{s} {m['rows']} rows ({m['positives']} clicks)" for s, m in split_meta.items()))
    return BuildResult(out, meta)


def _bucket_columns(spec: FeatureSpec, items: ItemTable, first_imp: dict[str, int], bounds: Boundaries,
                    imps: list[dict[str, Any]], clicks: list[dict[str, Any]],
                    pos_clip: tuple[int, int] | None) -> dict[str, np.ndarray]:
    L = spec.history_length
    n = len(imps)
    users: dict[str, int] = {}
    imp_user = np.empty(n, dtype=np.int64)
    imp_ts = np.empty(n, dtype=np.int64)
    imp_item = np.empty(n, dtype=np.int64)
    user_fields = np.empty((n, len(spec.user_fields)), dtype=np.int64)
    cand_pos = np.empty(n, dtype=np.int64)
    label = np.empty(n, dtype=np.uint8)
    cold = np.empty(n, dtype=np.uint8)
    fb = [f.buckets for f in spec.user_fields]
    pos_b = spec.candidate_field("position").buckets
    for i, r in enumerate(imps):
        uid = r["user_id"]
        imp_user[i] = users.setdefault(uid, len(users))
        ts = int(r["ts_ms"])
        imp_ts[i] = ts
        imp_item[i] = items.item_idx(r["item_id"])
        user_fields[i, 0] = cached_bucket("user_id", uid, fb[0])
        user_fields[i, 1] = cached_bucket("device", r["device"], fb[1])
        user_fields[i, 2] = cached_bucket("placement", r["placement"], fb[2])
        user_fields[i, 3] = cached_bucket("country", r["country"], fb[3])
        user_fields[i, 4] = cached_bucket("hour_of_day", hour_of_day(ts), fb[4])
        cand_pos[i] = cached_bucket("position", position_value(int(r["position"]), pos_clip), pos_b)
        label[i] = 1 if int(r["label"]) else 0
        cold[i] = 1 if first_imp.get(r["item_id"], ts) >= bounds.val_end_ms else 0
    cand_row = items.as_of(imp_item, imp_ts)

    # histories: clicks sorted by (user, ts); for each impression the clicks of its user strictly before ts
    m = len(clicks)
    c_user = np.empty(m, dtype=np.int64)
    c_ts = np.empty(m, dtype=np.int64)
    c_item = np.empty(m, dtype=np.int64)
    for j, r in enumerate(clicks):
        u = users.get(r["user_id"])
        c_user[j] = -1 if u is None else u
        c_ts[j] = int(r["ts_ms"])
        c_item[j] = items.item_idx(r["item_id"])
    keep = c_user >= 0
    c_user, c_ts, c_item = c_user[keep], c_ts[keep], c_item[keep]
    c_key = (c_user << TS_BITS) | np.minimum(c_ts, TS_MASK)
    order = np.argsort(c_key, kind="stable")
    c_key, c_item, c_ts = c_key[order], c_item[order], c_ts[order]
    start = np.searchsorted(c_key, imp_user << TS_BITS, side="left")
    end = np.searchsorted(c_key, (imp_user << TS_BITS) | np.minimum(imp_ts, TS_MASK), side="left")  # strictly before
    idx = end[:, None] - 1 - np.arange(L)[None, :]  # newest first
    valid = idx >= start[:, None]
    hist_rows = np.zeros((n, L), dtype=np.int32)
    hist_age = np.zeros((n, L), dtype=np.uint8)
    if valid.any():
        vi = np.nonzero(valid)
        hist_rows[vi] = items.as_of(c_item[idx[vi]], imp_ts[vi[0]])
        if spec.age_boundaries_ms:
            hist_age[vi] = age_buckets(imp_ts[vi[0]] - c_ts[idx[vi]], spec.age_boundaries_ms)
    return {"user_fields": user_fields, "cand_row": cand_row, "cand_pos": cand_pos, "hist_rows": hist_rows,
            "hist_age": hist_age, "label": label, "ts_ms": imp_ts, "cold": cold}


class TrainSet:
    """A built training set on disk: memory-mapped columns, batches gathered on demand."""

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
            "hist_mm": (np.zeros((*hist.shape, it["mm"].shape[1]), dtype=np.float32) if self.zero_mm
                        else it["mm"][it["mm_row"][hist]]),
            "hist_age": age,
            "cand_fields": np.stack([it["hash_id"][cand], it["cat"][cand], np.asarray(c["cand_pos"][idx])], axis=1),
            "cand_tags": it["tags"][cand],
            "cand_mm": (np.zeros((len(cand), it["mm"].shape[1]), dtype=np.float32) if self.zero_mm
                        else it["mm"][it["mm_row"][cand]]),
            "label": np.asarray(c["label"][idx]).astype(np.float32),
        }

    def batches(self, split: str, batch_size: int, shuffle: bool = False,
                rng: np.random.Generator | None = None, limit: int | None = None) -> Iterator[dict[str, np.ndarray]]:
        n = self.rows(split) if limit is None else min(limit, self.rows(split))
        order = (rng or np.random.default_rng()).permutation(n) if shuffle else np.arange(n)
        for s in range(0, n, batch_size):
            idx = np.sort(order[s:s + batch_size]) if shuffle else order[s:s + batch_size]
            yield self.gather(split, idx)
