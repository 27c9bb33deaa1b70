"""Replays the MovieLens test period through the scorer: one POST /v1/score per test rating (the user, the rated
movie as the one candidate, the rating's time as ts_ms), in time order, and compares the served AUC with the
offline one of the same model.

  .venv/bin/python bench/quality/replay.py SCORER_URL TEST_FROM_MS ARTIFACT_DIR [--sample N] [--threads K]

The database is CLICKHOUSE_DATABASE at CLICKHOUSE_URL. --sample N replays every k-th rating (N of them, spread
over the period). Prints one JSON document: requests, degraded answers, served and offline test AUC, |Δ|."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from mmctr_trainer.ch import ClickHouse
from mmctr_trainer.metrics import auc

# the label: a rating of 4 or 5 is a click (feature-repos/movielens, attribution window 1 s, same time)
SQL = (
    "SELECT user_id, movie_id, ts_ms, rating >= 4 AS label FROM ml_events FINAL "
    "WHERE type = 'impression' AND ts_ms >= {from_ms} ORDER BY ts_ms, user_id, movie_id"
)


def post(req: urllib.request.Request, tries: int = 5) -> dict[str, Any]:
    """The answer, after waiting Retry-After on a 503 (the scorer shedding load) up to `tries` times."""
    for _ in range(tries - 1):
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                return json.load(res)
        except urllib.error.HTTPError as e:
            if e.code != 503:
                raise
            time.sleep(float(e.headers.get("retry-after") or 1))
    with urllib.request.urlopen(req, timeout=30) as res:
        return json.load(res)


def score(url: str, i: int, r: dict[str, Any]) -> dict[str, Any]:
    body = {
        "request_id": f"ml-replay-{i}",
        "user_id": r["user_id"],
        "ts_ms": int(r["ts_ms"]),
        "candidates": [{"item_id": r["movie_id"]}],
    }
    req = urllib.request.Request(
        f"{url}/v1/score", json.dumps(body).encode(), {"content-type": "application/json"}, method="POST"
    )
    return post(req)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scorer")
    ap.add_argument("from_ms", type=int)
    ap.add_argument("artifact", type=Path)
    ap.add_argument("--sample", type=int, default=0, help="replay N ratings spread over the period (0: all)")
    ap.add_argument("--threads", type=int, default=2, help="requests in flight")
    args = ap.parse_args(argv)
    ch = ClickHouse.from_env(database=os.environ.get("CLICKHOUSE_DATABASE"))
    rows = ch.all(SQL.format(from_ms=int(args.from_ms)))
    if not rows:
        print(f"replay: no impressions at or after {args.from_ms} in {ch.database}", file=sys.stderr)
        return 2
    if 0 < args.sample < len(rows):
        rows = [rows[int(k * len(rows) / args.sample)] for k in range(args.sample)]
    with ThreadPoolExecutor(args.threads) as pool:
        answers = list(pool.map(lambda ir: score(args.scorer, *ir), enumerate(rows)))
    labels = np.asarray([int(r["label"]) for r in rows])
    served = np.asarray([a["scores"][0]["ctr"] for a in answers])
    offline = json.loads((args.artifact / "metrics.json").read_text())["test"]
    out = {
        "requests": len(rows),
        "degraded": sum(bool(a["degraded"]) for a in answers),
        "model_versions": sorted({a["model_version"] for a in answers}),
        "served_auc": auc(labels, served),
        "served_mean_ctr": float(served.mean()),
        "observed_ctr": float(labels.mean()),
        "offline_test_auc": offline["auc"],
    }
    out["abs_diff_auc"] = abs(out["served_auc"] - out["offline_test_auc"])
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
