"""What a model is built for: a repository's model-input layout (feature_layout.model_layout) plus the few facts
the layout leaves to the repository: which categorical slots are the requester's and the candidate's keys (the
user-id and item-id options act on them) and the default each numeric slot takes when its value is missing.

Torch-free: the training-set builder, the parity check and the exporter read it too."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .feature_layout import model_layout
from .feature_repo import REPO_ROOT, FeatureRepo, load_feature_repo

DEFAULT_FEATURE_REPO = REPO_ROOT / "feature-repos" / "demo"
KINDS = ("categorical", "numeric", "multi_categorical", "vector")
# the input suffix of each kind's slots: <prefix>_cat, <prefix>_num, ...
SUFFIX = {"categorical": "cat", "numeric": "num", "multi_categorical": "multi", "vector": "vec"}
USER, CANDIDATE = "user", "cand"


def feature_repo_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The repository the trainer runs with: `path`, else FEATURE_REPO, else the built-in demo."""
    return Path(path or os.environ.get("FEATURE_REPO") or DEFAULT_FEATURE_REPO)


def load_repo(path: str | os.PathLike[str] | None = None) -> FeatureRepo:
    return load_feature_repo(feature_repo_path(path))


def repo_document(repo: FeatureRepo) -> dict[str, Any]:
    """A repository's document as plain JSON (dicts and lists)."""

    def plain(v: Any) -> Any:
        if isinstance(v, Mapping):
            return {k: plain(x) for k, x in v.items()}
        return [plain(x) for x in v] if isinstance(v, (list, tuple)) else v

    return plain(repo.document)


def group_slots(group: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(kind, slot) of a side or sequence, in layout order: categorical, numeric, multi, vector."""
    for kind in KINDS:
        for slot in group[kind]:
            yield kind, slot


def slot_key(slot: Mapping[str, Any]) -> str:
    """What names a slot among its side's: its feature, and for an aggregate feature's slots (one per window) the
    window too (`item_ctr@24h`)."""
    return f"{slot['feature']}@{slot['window']}" if "window" in slot else slot["feature"]


def is_aggregate_slot(slot: Mapping[str, Any]) -> bool:
    """Whether a slot reads a window of an aggregation (source `aggregate.<aggregation>`)."""
    return "window" in slot


def slots_of(group: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The slots of a side or sequence, in layout order."""
    return [slot for _kind, slot in group_slots(group)]


def _key_feature(repo: FeatureRepo, group: Mapping[str, Any], entity: str) -> str | None:
    key = next(e["key"] for e in repo.entities if e["name"] == entity)
    return next((s["feature"] for s in group["categorical"] if s["source"] == f"{entity}.{key}"), None)


def _attribute_default(repo: FeatureRepo, source: str) -> float:
    ns, attr = source.split(".", 1)
    owner = repo.context if ns == "context" else next((e for e in repo.entities if e["name"] == ns), {})
    a = next((x for x in owner.get("attributes", ()) if x["name"] == attr), None)
    d = a.get("default") if a else None
    return float(d) if isinstance(d, (int, float)) and not isinstance(d, bool) else 0.0


@dataclass(frozen=True)
class ModelSchema:
    """A layout (the exported graph's inputs, in order) and the model facts read off its repository."""

    layout: dict[str, Any]
    request_key: str | None = None  # the requester's key feature (user_id in the demo)
    candidate_key: str | None = None  # the candidate's key feature (item_id in the demo)
    defaults: dict[str, float] = field(default_factory=dict)  # numeric feature -> value when missing
    # Encoders fitted on the training split (fitting.py): feature -> summary, recorded in model.json; empty until
    # fitted. `vocab_keys` holds each fitted vocabulary's sorted value keys (vocabulary.py; the artifact's
    # vocabulary.json, not model.json).
    fitted: dict[str, dict[str, Any]] = field(default_factory=dict)
    vocab_keys: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @staticmethod
    def from_repo(repo: FeatureRepo) -> ModelSchema:
        layout = model_layout(repo)
        numeric = [s for g in (layout["user"], layout["candidate"], *layout["sequences"]) for s in g["numeric"]]
        return ModelSchema(
            layout=layout,
            request_key=_key_feature(repo, layout["user"], layout["request_entity"]),
            candidate_key=_key_feature(repo, layout["candidate"], layout["candidate_entity"]),
            defaults={s["feature"]: _attribute_default(repo, s["source"]) for s in numeric},
        )

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> ModelSchema:
        return ModelSchema(
            dict(d["layout"]),
            d.get("request_key"),
            d.get("candidate_key"),
            dict(d.get("defaults", {})),
            dict(d.get("fitted", {})),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "request_key": self.request_key,
            "candidate_key": self.candidate_key,
            "defaults": self.defaults,
            **({"fitted": self.fitted} if self.fitted else {}),
        }

    def table_size(self, slot: Mapping[str, Any]) -> int:
        """Rows of a categorical slot's embedding table: its fitted vocabulary's V + 1, else the slot's size."""
        fit = self.fitted.get(slot["feature"], {})
        return int(fit.get("rows", slot["size"]))

    @property
    def version(self) -> str:
        return str(self.layout["repository"]["version"])

    @property
    def inputs(self) -> list[dict[str, Any]]:
        return self.layout["inputs"]

    @property
    def input_names(self) -> list[str]:
        return [i["name"] for i in self.inputs]

    @property
    def user(self) -> dict[str, Any]:
        return self.layout["user"]

    @property
    def candidate(self) -> dict[str, Any]:
        return self.layout["candidate"]

    @property
    def sequences(self) -> list[dict[str, Any]]:
        return self.layout["sequences"]

    def user_inputs(self) -> list[str]:
        """Per-request inputs (batch Bu): user slots and every sequence's."""
        return [i["name"] for i in self.inputs if i["shape"][0] == "Bu"]

    def sequence_inputs(self) -> list[str]:
        """Inputs with a sequence axis (dim 1): [Bu, L, ...]."""
        own = {f"{s['name']}_{x}" for s in self.sequences for x in (*SUFFIX.values(), "age")}
        return [n for n in self.input_names if n in own]

    def has(self, name: str) -> bool:
        return name in self.input_names

    def sequence_features(self) -> set[str]:
        return {slot["feature"] for s in self.sequences for _k, slot in group_slots(s)}
