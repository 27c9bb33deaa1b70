"""Feature hashing and the encodings every slot kind shares: the Python twin of libs/features (TypeScript).

bucket(field, value, buckets) = 1 + (fnv1a64(utf8(field + "\\x1f" + value)) mod (buckets - 1)),
0 reserved for padding / missing (an empty value maps to 0). Both languages check every case of
libs/features/golden/hash-vectors.json; slots.py encodes each slot kind with these.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = 0xFFFFFFFFFFFFFFFF
SEPARATOR = "\x1f"

REPO_ROOT = Path(__file__).resolve().parents[3]


def fnv1a64(data: bytes) -> int:
    h = FNV_OFFSET
    for b in data:
        h ^= b
        h = (h * FNV_PRIME) & MASK64
    return h


def bucket(field_name: str, value: str, buckets: int) -> int:
    """Hash bucket of a categorical value in [1, buckets - 1]; 0 for an empty value."""
    if buckets < 2:
        raise ValueError(f"buckets must be >= 2, got {buckets}")
    if value is None or value == "":
        return 0
    h = fnv1a64((field_name + SEPARATOR + value).encode("utf-8"))
    return 1 + h % (buckets - 1)


@lru_cache(maxsize=1_000_000)
def cached_bucket(field_name: str, value: str, buckets: int) -> int:
    return bucket(field_name, value, buckets)


def value_key(field_name: str, value: str) -> int:
    """The identity of a value of a fitted categorical (its vocabulary is exact): fnv1a64(field + "\\x1f" + value)
    as a signed int64, 0 for an empty value. Training sets hold it; the fitted vocabulary is the sorted keys."""
    if value is None or value == "":
        return 0
    h = fnv1a64((field_name + SEPARATOR + value).encode("utf-8"))
    return h - (1 << 64) if h >> 63 else h


@lru_cache(maxsize=1_000_000)
def cached_key(field_name: str, value: str) -> int:
    return value_key(field_name, value)


def age_buckets(age_ms: np.ndarray, boundaries_ms: Sequence[int]) -> np.ndarray:
    """1 + the number of boundaries <= age (a negative age counts as 0), per element of an int64 ms array;
    0 is kept for empty / unknown."""
    return 1 + np.searchsorted(np.asarray(boundaries_ms, dtype=np.int64), np.maximum(age_ms, 0), side="right")


def age_bucket(age_ms: int, boundaries_ms: Sequence[int]) -> int:
    """age_buckets of one age."""
    return int(age_buckets(np.asarray([int(age_ms)], dtype=np.int64), boundaries_ms)[0])


def fit_vector(vec: Sequence[float] | None, dim: int) -> np.ndarray:
    out = np.zeros(dim, dtype=np.float32)
    if vec is not None and len(vec) > 0:
        v = np.asarray(vec, dtype=np.float32)[:dim]
        out[: v.shape[0]] = v
    return out
