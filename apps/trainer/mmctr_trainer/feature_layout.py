"""The model-input layout of a feature repository: the Python twin of libs/feature-repo/src/layout.ts.

Inputs are grouped by side and kind, so one exported graph shape fits any repository:

    user_{cat,num,multi,vec}     [Bu, n]     once per request
    <seq>_{cat,num,multi,vec}    [Bu, L, n]  one per behaviour sequence, plus <seq>_age [Bu, L]
    cand_{cat,num,multi,vec}     [B, n]      one row per candidate

An input exists only when a feature uses it. `model_layout(repo)` returns the same JSON as the TypeScript
side; both compare against libs/feature-repo/test-vectors/layout/.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .feature_repo import FeatureRepo, feature_entity

Slot = dict[str, Any]
Group = dict[str, list[Slot]]


class LayoutError(ValueError):
    pass


def _empty_group() -> Group:
    return {"categorical": [], "numeric": [], "multi_categorical": [], "vector": []}


def _find(items: Any, name: str) -> Mapping[str, Any] | None:
    return next((x for x in items if x["name"] == name), None)


def _join_via(repo: FeatureRepo, side: str, entity: str) -> str | None:
    """The side entity's attribute named like `entity`'s key (`ad.advertiser_id`); None for the side itself."""
    if entity == side:
        return None
    other = _find(repo.entities, entity)
    own = _find(repo.entities, side)
    key = other["key"] if other else None
    hop = _find(own.get("attributes", ()), key) if own and key else None
    return f"{side}.{key}" if hop else None


def _placement(repo: FeatureRepo, f: Mapping[str, Any], requester: str, candidate: str) -> tuple[str, str | None]:
    if f["kind"] != "vector" and f["source"].startswith("context."):
        attr = _find(repo.context["attributes"], f["source"][len("context.") :])
        return ("candidate" if attr is not None and attr["scope"] == "candidate" else "user", None)
    entity = feature_entity(repo.document, f)
    if entity is None:
        raise LayoutError(f"features.{f['name']}: not reachable from a score request")
    for side, name in (("candidate", candidate), ("user", requester)):
        if entity == name:
            return (side, None)
        via = _join_via(repo, name, entity)
        if via:
            return (side, via)
    raise LayoutError(
        f"features.{f['name']}: entity '{entity}' is neither '{requester}' nor '{candidate}' "
        "nor joined to them by a key attribute"
    )


def _aggregate_side(repo: FeatureRepo, f: Mapping[str, Any], requester: str, candidate: str) -> str:
    """The candidate's side when any entity of the aggregation's key is the candidate (its value depends on the
    candidate), the user's when all are the requester."""
    a = _find(repo.aggregations, f["aggregation"])
    if a is None:
        raise LayoutError(f"features.{f['name']}: unknown aggregation '{f['aggregation']}'")
    entities = [k.split(".", 1)[0] for k in a["key"]]
    if candidate in entities:
        return "candidate"
    if all(e == requester for e in entities):
        return "user"
    keyed = ", ".join(f"'{e}'" for e in entities)
    raise LayoutError(
        f"features.{f['name']}: aggregation '{a['name']}' is keyed by {keyed}, neither the requester "
        f"'{requester}' alone nor with the candidate '{candidate}'"
    )


def _add_aggregate_slots(group: Group, repo: FeatureRepo, f: Mapping[str, Any]) -> None:
    """One slot per window of an aggregate feature: numeric, or bucketised ids for transform bucketize."""
    a = _find(repo.aggregations, f["aggregation"])
    assert a is not None
    for window in f.get("windows", a["windows"]):
        at = {"feature": f["name"], "source": f"aggregate.{a['name']}", "window": window}
        if a.get("transform") == "bucketize":
            group["categorical"].append(
                {
                    **at,
                    "encoding": "bucketize",
                    "size": len(a["boundaries"]) + 2,
                    **_clip(a),
                    "boundaries": list(a["boundaries"]),
                }
            )
        else:
            group["numeric"].append({**at, "transform": a.get("transform", "none"), **_clip(a)})


def _clip(f: Mapping[str, Any]) -> dict[str, Any]:
    return {"clip": [f["clip"][0], f["clip"][1]]} if "clip" in f else {}


def _add_slot(group: Group, repo: FeatureRepo, f: Mapping[str, Any], via: str | None) -> None:
    at = {"via": via} if via else {}
    kind = f["kind"]
    if kind == "categorical":
        hashed = f["encoding"] == "hash"
        group["categorical"].append(
            {
                "feature": f["name"],
                "source": f["source"],
                **at,
                **({"field": f.get("field", f["name"])} if hashed else {}),
                "encoding": f["encoding"],
                "size": f["buckets"] if hashed else len(f["vocabulary"]) + 1,
                **_clip(f),
                **({"derive": f["derive"]} if "derive" in f else {}),
                **({"vocabulary": list(f["vocabulary"])} if "vocabulary" in f else {}),
                **({"fit": {"min_count": f["fit"]["min_count"]}} if "fit" in f else {}),
            }
        )
    elif kind == "numeric" and f["transform"] == "bucketize":
        # Bucketised numbers are ids: 1 + count of boundaries <= value, 0 = missing.
        group["categorical"].append(
            {
                "feature": f["name"],
                "source": f["source"],
                **at,
                "encoding": "bucketize",
                "size": len(f["boundaries"]) + 2,
                **_clip(f),
                "boundaries": list(f["boundaries"]),
            }
        )
    elif kind == "numeric":
        stats = f.get("stats")
        group["numeric"].append(
            {
                "feature": f["name"],
                "source": f["source"],
                **at,
                "transform": f["transform"],
                **_clip(f),
                **({"stats": {"mean": stats["mean"], "std": stats["std"]}} if stats else {}),
            }
        )
    elif kind == "multi_categorical":
        group["multi_categorical"].append(
            {
                "feature": f["name"],
                "source": f["source"],
                **at,
                "field": f.get("field", f["name"]),
                "size": f["buckets"],
                "max_length": f["max_length"],
                "pooling": f["pooling"],
                "offset": sum(s["max_length"] for s in group["multi_categorical"]),
            }
        )
    else:  # vector
        group["vector"].append(
            {
                "feature": f["name"],
                "embedding": f["embedding"],
                "entity": feature_entity(repo.document, f),
                **at,
                "width": f["width"],
                "offset": sum(s["width"] for s in group["vector"]),
            }
        )


def _group_inputs(prefix: str, g: Group, lead: list[Any]) -> list[dict[str, Any]]:
    out = []
    if g["categorical"]:
        out.append({"name": f"{prefix}_cat", "dtype": "int64", "shape": [*lead, len(g["categorical"])]})
    if g["numeric"]:
        out.append({"name": f"{prefix}_num", "dtype": "float32", "shape": [*lead, len(g["numeric"])]})
    if g["multi_categorical"]:
        width = sum(s["max_length"] for s in g["multi_categorical"])
        out.append({"name": f"{prefix}_multi", "dtype": "int64", "shape": [*lead, width]})
    if g["vector"]:
        out.append(
            {"name": f"{prefix}_vec", "dtype": "float32", "shape": [*lead, sum(s["width"] for s in g["vector"])]}
        )
    return out


def _request_entities(repo: FeatureRepo) -> tuple[str, str]:
    """The requesting and the candidate entity: the label's anchor event names them in that order."""
    anchor = _find(repo.event_types, repo.label["anchor"])
    if anchor is None or len(anchor["entities"]) != 2:
        raise LayoutError(
            f"label.anchor: event type '{repo.label['anchor']}' must name exactly two entities "
            "(the requester, then the candidate)"
        )
    return anchor["entities"][0], anchor["entities"][1]


def _sequence(repo: FeatureRepo, f: Mapping[str, Any], requester: str) -> dict[str, Any]:
    if f["owner"] != requester:
        raise LayoutError(f"features.{f['name']}.owner: sequences belong to the requester '{requester}'")
    seq: dict[str, Any] = {
        "name": f["name"],
        "owner": f["owner"],
        "target": f["target"],
        "event_types": list(f["event_types"]),
        "length": f["length"],
        **_empty_group(),
    }
    if "age" in f:
        seq["age"] = {"field": f["age"]["field"], "boundaries_ms": list(f["age"]["boundaries_ms"])}
    for name in f["side_features"]:
        side = _find(repo.features, name)
        if side is None or side["kind"] in ("sequence", "aggregate"):
            raise LayoutError(f"features.{f['name']}.side_features: '{name}' is not a feature of the target")
        entity = feature_entity(repo.document, side)
        via = None if entity is None else _join_via(repo, f["target"], entity)
        if entity != f["target"] and via is None:
            raise LayoutError(f"features.{f['name']}.side_features: '{name}' does not describe '{f['target']}'")
        _add_slot(seq, repo, side, via)
    return seq


def model_layout(repo: FeatureRepo) -> dict[str, Any]:
    requester, candidate = _request_entities(repo)
    user, cand = _empty_group(), _empty_group()
    for f in repo.features:
        if f["kind"] == "aggregate":
            side = _aggregate_side(repo, f, requester, candidate)
            _add_aggregate_slots(user if side == "user" else cand, repo, f)
        elif f["kind"] != "sequence":
            side, via = _placement(repo, f, requester, candidate)
            _add_slot(user if side == "user" else cand, repo, f, via)
    sequences = [_sequence(repo, f, requester) for f in repo.features if f["kind"] == "sequence"]
    inputs = _group_inputs("user", user, ["Bu"])
    for s in sequences:
        inputs += _group_inputs(s["name"], s, ["Bu", s["length"]])
        if "age" in s:
            inputs.append({"name": f"{s['name']}_age", "dtype": "int64", "shape": ["Bu", s["length"]]})
    inputs += _group_inputs("cand", cand, ["B"])
    return {
        "repository": {"name": repo.name, "version": repo.version},
        "request_entity": requester,
        "candidate_entity": candidate,
        "user": user,
        "sequences": sequences,
        "candidate": cand,
        "inputs": inputs,
    }
