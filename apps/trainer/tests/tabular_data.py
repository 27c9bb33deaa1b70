"""Synthetic tabular CTR files: the click rate depends on (site + app) mod 3, so a model has something to learn."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

COLUMNS = ["ts", "site", "app", "hour", "clicked"]


def ctr_rows(n: int, seed: int = 1, start: int = 0) -> list[list[object]]:
    r = np.random.default_rng(seed)
    rows: list[list[object]] = []
    for i in range(start, start + n):
        site, app = int(r.integers(0, 8)), int(r.integers(0, 5))
        rows.append([i, f"s{site}", f"a{app}", i % 24, int(r.random() < (0.6 if (site + app) % 3 == 0 else 0.1))])
    return rows


def write_csv(path: Path, rows: list[list[object]], columns: list[str] = COLUMNS) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        w.writerows(rows)
    return path


MIXED_COLUMNS = ["site", "price", "age", "genres", "clicked"]
GENRES = ["drama", "comedy", "action", "horror", "docs", "kids"]


def mixed_rows(n: int, seed: int = 1) -> list[list[object]]:
    """Rows with a categorical (site, noise), two numeric (price, age) and a multi-valued column (genres, `|`
    separated, 1 to 4 values): the click rate rises with log(price) and with a 'comedy' among the genres."""
    r = np.random.default_rng(seed)
    rows: list[list[object]] = []
    for _ in range(n):
        price = float(np.exp(r.uniform(0.0, 6.0)))
        genres = list(r.choice(GENRES, size=int(r.integers(1, 5)), replace=False))
        logit = (np.log1p(price) - 3.0) + (2.0 if "comedy" in genres else -1.0)
        clicked = int(r.random() < 1.0 / (1.0 + np.exp(-logit)))
        rows.append([f"s{int(r.integers(0, 6))}", f"{price:.2f}", int(r.integers(18, 70)), "|".join(genres), clicked])
    return rows
