"""Writes a tiny train / valid / test set in the peer's CSV format, with a signal a working model
learns (test AUC well above 0.5): the click probability rises with one gender and when the movie is
in the user's history. A smoke check of the peer environment, not a benchmark.

    python bench/quality/tiny_csv.py /tmp/tiny
    bench/quality/.venv-fuxictr/bin/python bench/quality/fuxictr_peer.py /tmp/tiny --epochs 3 --batch-size 256
"""

import csv
import random
import sys
from pathlib import Path

COLUMNS = ["label", "c_user_id", "c_gender", "c_movie_id", "n_age", "n_year", "m_genres", "s_movie_id"]


def row(rng: random.Random) -> list:
    user, movie = rng.randint(1, 50), rng.randint(1, 80)
    history = rng.sample(range(1, 81), rng.randint(0, 8))
    p = 0.1 + 0.5 * (user % 2 == 0) + 0.35 * (movie in history)
    genres = f"g{movie % 5}^g{movie % 7}"
    label = int(rng.random() < p)
    return [label, user, "MF"[user % 2], movie, 18 + user % 40, 1950 + movie % 48, genres, "^".join(map(str, history))]


def main(out: Path) -> None:
    rng = random.Random(7)
    out.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 3000), ("valid", 500), ("test", 500)):
        with (out / f"{split}.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(COLUMNS)
            w.writerows(row(rng) for _ in range(n))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: tiny_csv.py OUT_DIR")
    main(Path(sys.argv[1]))
