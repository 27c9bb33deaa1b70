"""Feature spec, hashing and encoding: the Python twin of libs/features (TypeScript).

bucket(field, value, buckets) = 1 + (fnv1a64(utf8(field + "\\x1f" + value)) mod (buckets - 1)),
0 reserved for padding / missing (an empty value maps to 0). Both languages check every case of
libs/features/golden/hash-vectors.json.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .feature_repo import load_feature_repo

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = 0xFFFFFFFFFFFFFFFF
SEPARATOR = "\x1f"
TAG_SLOTS = 5

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_SPEC_PATH = REPO_ROOT / "libs" / "features" / "feature_spec.json"
DEFAULT_FEATURE_REPO = REPO_ROOT / "feature-repos" / "demo"


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


@dataclass(frozen=True)
class Field:
    name: str
    buckets: int
    clip: tuple[int, int] | None = None


@dataclass
class FeatureSpec:
    version: str
    user_fields: list[Field]
    candidate_fields: list[Field]
    tag_field: str
    tag_max: int
    tag_buckets: int
    history_length: int
    mm_dim: int
    projection_version: str
    attribution_window_ms: int
    # history.age.boundaries_ms (fs-2); empty for an older spec (no hist_age input then)
    age_boundaries_ms: tuple[int, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def user_names(self) -> list[str]:
        return [f.name for f in self.user_fields]

    @property
    def candidate_names(self) -> list[str]:
        return [f.name for f in self.candidate_fields]

    def user_field(self, name: str) -> Field:
        return next(f for f in self.user_fields if f.name == name)

    def candidate_field(self, name: str) -> Field:
        return next(f for f in self.candidate_fields if f.name == name)

    @property
    def item_buckets(self) -> int:
        return self.candidate_field("item_id").buckets

    @property
    def category_buckets(self) -> int:
        return self.candidate_field("category").buckets

    @property
    def age_buckets(self) -> int:
        """Size of the history-age table: 0 = empty slot / unknown, then one bucket per interval."""
        return len(self.age_boundaries_ms) + 2

    def to_json(self) -> dict[str, Any]:
        return self.raw

    @staticmethod
    def from_json(raw: dict[str, Any]) -> FeatureSpec:
        def fields(items: Iterable[dict[str, Any]]) -> list[Field]:
            out = []
            for f in items:
                clip = tuple(f["clip"]) if "clip" in f else None
                out.append(Field(str(f["name"]), int(f["buckets"]), clip))  # type: ignore[arg-type]
            return out

        spec = FeatureSpec(
            version=str(raw["version"]),
            user_fields=fields(raw["user_fields"]),
            candidate_fields=fields(raw["candidate_fields"]),
            tag_field=str(raw["tags"].get("field", "tag")),
            tag_max=int(raw["tags"].get("max", TAG_SLOTS)),
            tag_buckets=int(raw["tags"]["buckets"]),
            history_length=int(raw["history"]["length"]),
            mm_dim=int(raw["multimodal"]["dim"]),
            projection_version=str(raw["multimodal"].get("projection_version", "")),
            attribution_window_ms=int(raw.get("label", {}).get("attribution_window_ms", 1_800_000)),
            age_boundaries_ms=tuple(int(b) for b in raw["history"].get("age", {}).get("boundaries_ms", [])),
            raw=raw,
        )
        b = spec.age_boundaries_ms
        if "age" in raw["history"] and not b:
            raise ValueError("history.age.boundaries_ms must not be empty")
        if any(x <= 0 for x in b) or any(x >= y for x, y in zip(b, b[1:], strict=False)):
            raise ValueError("history.age.boundaries_ms must be positive and strictly increasing")
        if spec.user_names != ["user_id", "device", "placement", "country", "hour_of_day"]:
            raise ValueError(f"unsupported user_fields {spec.user_names}")
        if spec.candidate_names != ["item_id", "category", "position"]:
            raise ValueError(f"unsupported candidate_fields {spec.candidate_names}")
        if spec.tag_max != TAG_SLOTS:
            raise ValueError("tags.max must be 5 (the serving signature has 5 tag slots)")
        return spec


def load_feature_spec(path: str | os.PathLike[str] | None = None) -> FeatureSpec:
    p = Path(path or os.environ.get("MMCTR_FEATURE_SPEC") or DEFAULT_SPEC_PATH)
    with open(p, encoding="utf-8") as fh:
        return FeatureSpec.from_json(json.load(fh))


def feature_repo_record(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """`{name, version, features}` of the repository the trainer runs with (FEATURE_REPO, default the demo's):
    what an artifact records so the scorer can tell whether its running repository supplies every feature."""
    repo = load_feature_repo(path or os.environ.get("FEATURE_REPO") or DEFAULT_FEATURE_REPO)
    return {"name": repo.name, "version": repo.version, "features": [f["name"] for f in repo.features]}


def with_overrides(spec: FeatureSpec, **changes: Any) -> FeatureSpec:
    """A copy of the spec with some numbers changed (tests use tiny tables); version gets a suffix."""
    raw = json.loads(json.dumps(spec.raw))
    for key, value in changes.items():
        if key == "history_length":
            raw["history"]["length"] = value
        elif key == "mm_dim":
            raw["multimodal"]["dim"] = value
        elif key == "buckets":
            for group in ("user_fields", "candidate_fields"):
                for f in raw[group]:
                    if f["name"] in value:
                        f["buckets"] = value[f["name"]]
            if "tag" in value:
                raw["tags"]["buckets"] = value["tag"]
        elif key == "version":
            raw["version"] = value
        else:
            raise KeyError(key)
    return FeatureSpec.from_json(raw)


def hour_of_day(ts_ms: int) -> str:
    return str((int(ts_ms) // 3_600_000) % 24)


def position_value(position: int | None, clip: tuple[int, int] | None) -> str:
    if position is None:
        return ""
    p = int(position)
    if clip is not None:
        p = min(max(p, clip[0]), clip[1])
    return str(p)


def age_buckets(age_ms: np.ndarray, boundaries_ms: Sequence[int]) -> np.ndarray:
    """1 + the number of boundaries <= age (a negative age counts as 0), per element of an int64 ms array;
    0 is kept for empty / unknown."""
    return 1 + np.searchsorted(np.asarray(boundaries_ms, dtype=np.int64), np.maximum(age_ms, 0), side="right")


def age_bucket(age_ms: int, boundaries_ms: Sequence[int]) -> int:
    """age_buckets of one age."""
    return int(age_buckets(np.asarray([int(age_ms)], dtype=np.int64), boundaries_ms)[0])


def encode_tags(spec: FeatureSpec, tags: Sequence[str] | None) -> list[int]:
    out = [cached_bucket(spec.tag_field, t, spec.tag_buckets) for t in (tags or []) if t]
    out = out[: spec.tag_max]
    return out + [0] * (spec.tag_max - len(out))


def fit_vector(vec: Sequence[float] | None, dim: int) -> np.ndarray:
    out = np.zeros(dim, dtype=np.float32)
    if vec is not None and len(vec) > 0:
        v = np.asarray(vec, dtype=np.float32)[:dim]
        out[: v.shape[0]] = v
    return out


def encode_user_fields(
    spec: FeatureSpec, user_id: str, device: str, placement: str, country: str, ts_ms: int
) -> list[int]:
    values = {
        "user_id": user_id,
        "device": device,
        "placement": placement,
        "country": country,
        "hour_of_day": hour_of_day(ts_ms),
    }
    return [cached_bucket(f.name, values[f.name] or "", f.buckets) for f in spec.user_fields]


def encode_candidate_fields(spec: FeatureSpec, item_id: str, category: str, position: int | None) -> list[int]:
    pos_field = spec.candidate_field("position")
    values = {"item_id": item_id, "category": category, "position": position_value(position, pos_field.clip)}
    return [cached_bucket(f.name, values[f.name] or "", f.buckets) for f in spec.candidate_fields]


def encode_user(spec: FeatureSpec, user: dict[str, Any]) -> dict[str, np.ndarray]:
    """Serving-shaped user tensors (batch 1) from raw values.

    user = {user_id, device, placement, country, ts_ms, history: [{item_id, category, tags, mm, ts_ms}] newest first}
    (a history entry without ts_ms gets age bucket 0, unknown)
    """
    L, D = spec.history_length, spec.mm_dim
    user_fields = np.array(
        [
            encode_user_fields(
                spec,
                user.get("user_id", ""),
                user.get("device", ""),
                user.get("placement", ""),
                user.get("country", ""),
                int(user.get("ts_ms", 0)),
            )
        ],
        dtype=np.int64,
    )
    u = user_tensors(spec, user_fields)
    now = int(user.get("ts_ms", 0))
    for i, h in enumerate(list(user.get("history") or [])[:L]):
        u["hist_ids"][0, i] = cached_bucket("item_id", h.get("item_id", ""), spec.item_buckets)
        u["hist_cat"][0, i] = cached_bucket("category", h.get("category", "") or "", spec.category_buckets)
        u["hist_tags"][0, i] = encode_tags(spec, h.get("tags"))
        u["hist_mm"][0, i] = fit_vector(h.get("mm"), D)
        if h.get("ts_ms") is not None and spec.age_boundaries_ms:
            u["hist_age"][0, i] = age_bucket(now - int(h["ts_ms"]), spec.age_boundaries_ms)
    return u


def user_tensors(spec: FeatureSpec, user_fields: np.ndarray) -> dict[str, np.ndarray]:
    """The user inputs (batch 1) with an empty history (every slot padding), for the caller to fill."""
    L, D = spec.history_length, spec.mm_dim
    return {
        "user_fields": user_fields,
        "hist_ids": np.zeros((1, L), dtype=np.int64),
        "hist_tags": np.zeros((1, L, TAG_SLOTS), dtype=np.int64),
        "hist_cat": np.zeros((1, L), dtype=np.int64),
        "hist_mm": np.zeros((1, L, D), dtype=np.float32),
        "hist_age": np.zeros((1, L), dtype=np.int64),
    }


def encode_candidates(spec: FeatureSpec, candidates: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Serving-shaped candidate tensors (batch B): cand_fields [B, 3], cand_tags [B, 5], cand_mm [B, D]."""
    B = len(candidates)
    cand_fields = np.zeros((B, len(spec.candidate_fields)), dtype=np.int64)
    cand_tags = np.zeros((B, TAG_SLOTS), dtype=np.int64)
    cand_mm = np.zeros((B, spec.mm_dim), dtype=np.float32)
    for i, c in enumerate(candidates):
        cand_fields[i] = encode_candidate_fields(
            spec, c.get("item_id", ""), c.get("category", "") or "", c.get("position")
        )
        cand_tags[i] = encode_tags(spec, c.get("tags"))
        cand_mm[i] = fit_vector(c.get("mm"), spec.mm_dim)
    return {"cand_fields": cand_fields, "cand_tags": cand_tags, "cand_mm": cand_mm}


SERVING_INPUTS = [
    ("user_fields", "int64", ["1", "U"]),
    ("hist_ids", "int64", ["1", "L"]),
    ("hist_tags", "int64", ["1", "L", "5"]),
    ("hist_cat", "int64", ["1", "L"]),
    ("hist_mm", "float32", ["1", "L", "D"]),
    ("hist_age", "int64", ["1", "L"]),
    ("cand_fields", "int64", ["B", "C"]),
    ("cand_tags", "int64", ["B", "5"]),
    ("cand_mm", "float32", ["B", "D"]),
]
INPUT_NAMES = [n for n, _, _ in SERVING_INPUTS]
# Per-request inputs (batch 1 at serving, broadcast over the candidates) and the history's [*, L, ...] ones.
USER_INPUTS = [n for n, _, shape in SERVING_INPUTS if shape[0] == "1"]
HISTORY_INPUTS = [n for n in USER_INPUTS if n.startswith("hist_")]
# Inputs a graph may lack: exported before history ages (feature spec fs-1).
OPTIONAL_INPUTS = frozenset({"hist_age"})


def serving_signature(spec: FeatureSpec) -> dict[str, Any]:
    dims = {
        "U": len(spec.user_fields),
        "L": spec.history_length,
        "D": spec.mm_dim,
        "C": len(spec.candidate_fields),
        "5": TAG_SLOTS,
        "1": 1,
    }
    inputs = []
    for name, dtype, shape in SERVING_INPUTS:
        inputs.append({"name": name, "dtype": dtype, "shape": [dims[s] if s != "B" else "B" for s in shape]})
    return {
        "inputs": inputs,
        "outputs": [{"name": "ctr", "dtype": "float32", "shape": ["B"]}],
        "notes": "user-level inputs have batch 1 and broadcast over the B candidates; hist mask = hist_ids > 0",
        "user_field_order": spec.user_names,
        "candidate_field_order": spec.candidate_names,
    }
