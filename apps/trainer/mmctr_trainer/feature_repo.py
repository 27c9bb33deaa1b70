"""Feature repository loader: the Python twin of libs/feature-repo (TypeScript).

A repository file is checked against libs/feature-repo/schema/feature-repo.v1.schema.json with a small
checker of the schema subset that file uses, then by the same semantic checks as the TypeScript loader.
Every message names the path inside the file (``features.item_price.transform: unknown transform 'log2'
...``) and is worded exactly as the TypeScript loader words it: both run libs/feature-repo/test-vectors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .aggregates import AggregationCheckHelpers, check_aggregations

REPO_ROOT = Path(__file__).resolve().parents[3]
SCHEMA_PATH = REPO_ROOT / "libs" / "feature-repo" / "schema" / "feature-repo.v1.schema.json"
REPO_FILE = "repo.json"

# Keywords the checker implements; annotation keywords are ignored. A schema using anything else is refused,
# so the checker cannot silently skip a rule the TypeScript (ajv) side enforces.
SUPPORTED_KEYWORDS = frozenset(
    {
        "$ref",
        "type",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "exclusiveMinimum",
        "allOf",
        "if",
        "then",
    }
)
ANNOTATIONS = frozenset({"$schema", "$id", "title", "description", "definitions"})
ENVELOPE = ("event_id", "type", "ts_ms")
_NAME_SEGMENT = re.compile(r"^[a-z][a-z0-9_]*$")


class FeatureRepoError(ValueError):
    def __init__(self, source: str, errors: list[str]):
        self.source = source
        self.errors = errors
        super().__init__(f"{source}: invalid feature repository\n" + "\n".join(f"  {e}" for e in errors))


# ----- rendering shared with the TypeScript loader -----


def _num(v: float | int) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return str(int(v))
    return str(v) if isinstance(v, int) else repr(v)


def _json(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, (int, float)):
        return _num(v)
    if isinstance(v, list):
        return "[" + ",".join(_json(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_json(x)}" for k, x in v.items()) + "}"
    return json.dumps(v, ensure_ascii=False)


def quote(v: Any) -> str:
    """A value as messages quote it: strings in single quotes, the rest as compact JSON."""
    return f"'{v}'" if isinstance(v, str) else _json(v)


def render_path(doc: Any, segments: Iterable[str | int]) -> str:
    out = ""
    node = doc
    for seg in segments:
        if isinstance(seg, int):
            el = node[seg] if isinstance(node, list) and seg < len(node) else None
            name = el.get("name") if isinstance(el, dict) else None
            if isinstance(name, str) and _NAME_SEGMENT.match(name):
                out += ("." if out else "") + name
            else:
                out += f"[{seg}]"
            node = el
        else:
            out += ("." if out else "") + seg
            node = node.get(seg) if isinstance(node, dict) else None
    return out or "(root)"


# ----- the schema subset -----


def _is_integer(v: Any) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_TYPE_CHECKS = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "number": _is_number,
    "integer": _is_integer,
    "null": lambda v: v is None,
}


def check_schema_keywords(schema: Any) -> None:
    """Raise when the schema uses a keyword this checker does not implement."""

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, sub in node.items():
                if key == "properties" or key == "definitions":
                    for name, s in sub.items():
                        walk(s, f"{where}/{key}/{name}")
                elif key in SUPPORTED_KEYWORDS:
                    if key in ("items", "additionalProperties", "if", "then"):
                        walk(sub, f"{where}/{key}")
                    elif key == "allOf":
                        for i, s in enumerate(sub):
                            walk(s, f"{where}/allOf/{i}")
                elif key not in ANNOTATIONS:
                    raise ValueError(f"feature repo schema: keyword '{key}' at {where or '/'} is not supported")

    walk(schema, "")


class _SchemaChecker:
    def __init__(self, schema: dict[str, Any]):
        check_schema_keywords(schema)
        self.root = schema

    def _ref(self, ref: str) -> dict[str, Any]:
        node: Any = self.root
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        return node

    def valid(self, schema: dict[str, Any], value: Any) -> bool:
        out: list[tuple[list[str | int], str]] = []
        self.check(schema, value, [], out)
        return not out

    def check(self, schema: dict[str, Any], v: Any, path: list[str | int], out: list) -> None:
        """Every keyword applies independently (as ajv with allErrors): object rules to objects only, etc."""
        if "$ref" in schema:
            self.check(self._ref(schema["$ref"]), v, path, out)
        if "type" in schema:
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_TYPE_CHECKS[t](v) for t in types):
                out.append((path, f"must be {' or '.join(types)}"))
        if "enum" in schema and not any(_same(v, x) for x in schema["enum"]):
            allowed = ", ".join(_plain(x) for x in schema["enum"])
            what = path[-1] if path and isinstance(path[-1], str) else "value"
            out.append((path, f"unknown {what} {quote(v)} (expected one of: {allowed})"))
        if "const" in schema and not _same(v, schema["const"]):
            out.append((path, f"must be {quote(schema['const'])}"))
        if isinstance(v, dict):
            props = schema.get("properties", {})
            for key, sub in props.items():
                if key in v:
                    self.check(sub, v[key], [*path, key], out)
            for key in schema.get("required", []):
                if key not in v:
                    out.append((path, f"missing required property '{key}'"))
            if schema.get("additionalProperties") is False:
                for key in v:
                    if key not in props:
                        out.append((path, f"unknown property '{key}'"))
        if isinstance(v, list):
            if "items" in schema:
                for i, x in enumerate(v):
                    self.check(schema["items"], x, [*path, i], out)
            if "minItems" in schema and len(v) < schema["minItems"]:
                out.append((path, f"must have at least {schema['minItems']} items"))
            if "maxItems" in schema and len(v) > schema["maxItems"]:
                out.append((path, f"must have at most {schema['maxItems']} items"))
        if isinstance(v, str):
            if "minLength" in schema and len(v) < schema["minLength"]:
                out.append((path, f"must have at least {schema['minLength']} characters"))
            if "maxLength" in schema and len(v) > schema["maxLength"]:
                out.append((path, f"must have at most {schema['maxLength']} characters"))
            if "pattern" in schema and not re.search(schema["pattern"], v):
                out.append((path, f"must match pattern {schema['pattern']}"))
        if _is_number(v):
            if "minimum" in schema and v < schema["minimum"]:
                out.append((path, f"must be >= {_num(schema['minimum'])}"))
            if "exclusiveMinimum" in schema and v <= schema["exclusiveMinimum"]:
                out.append((path, f"must be > {_num(schema['exclusiveMinimum'])}"))
        for sub in schema.get("allOf", []):
            self.check(sub, v, path, out)
        if "if" in schema and "then" in schema and self.valid(schema["if"], v):
            self.check(schema["then"], v, path, out)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _plain(v: Any) -> str:
    return v if isinstance(v, str) else _json(v)


_checker: _SchemaChecker | None = None


def _schema_checker() -> _SchemaChecker:
    global _checker
    if _checker is None:
        _checker = _SchemaChecker(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    return _checker


def schema_errors(doc: Any) -> list[str]:
    out: list[tuple[list[str | int], str]] = []
    checker = _schema_checker()
    checker.check(checker.root, doc, [], out)
    return sorted({f"{render_path(doc, p)}: {m}" for p, m in out})


# ----- semantic checks (same rules and wording as libs/feature-repo/src/semantic.ts) -----


def resolve_reference(repo: Mapping[str, Any], ref: str) -> tuple[str, str | None] | None:
    """(attribute type, entity or None) of a `namespace.attribute` reference, None when unknown."""
    ns, attr = ref.split(".", 1)
    if ns == "context":
        if attr == "ts_ms":
            return ("int", None)
        a = _find(repo["context"]["attributes"], attr)
        return (a["type"], None) if a else None
    entity = _find(repo["entities"], ns)
    if entity:
        if attr == entity["key"]:
            return ("string", entity["name"])
        a = _find(entity.get("attributes", []), attr)
        return (a["type"], entity["name"]) if a else None
    ev = _find(repo["event_types"], ns)
    if ev:
        if attr == "ts_ms":
            return ("int", None)
        keys = {(_find(repo["entities"], en) or {}).get("key") for en in ev["entities"]}
        if attr in keys:
            return ("string", None)
        a = _find(ev.get("attributes", []), attr)
        return (a["type"], None) if a else None
    return None


def feature_entity(repo: Mapping[str, Any], f: Mapping[str, Any]) -> str | None:
    if f["kind"] == "vector":
        m = _find(repo.get("embeddings", []), f["embedding"])
        return m["entity"] if m else None
    if f["kind"] in ("sequence", "aggregate"):
        return None
    r = resolve_reference(repo, f["source"])
    return r[1] if r else None


def _find(items: Iterable[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    return next((x for x in items if x["name"] == name), None)


def _default_matches(t: str, v: Any) -> bool:
    if t == "string":
        return isinstance(v, str)
    if t == "int":
        return _is_integer(v)
    if t == "float":
        return _is_number(v)
    if t == "bool":
        return isinstance(v, bool)
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def semantic_errors(repo: Mapping[str, Any]) -> list[str]:
    errors: list[str] = []

    def err(path: str, msg: str) -> None:
        errors.append(f"{path}: {msg}")

    entities = {e["name"]: e for e in reversed(repo["entities"])}
    events = {t["name"]: t for t in reversed(repo["event_types"])}
    embeddings = {m["name"]: m for m in reversed(repo.get("embeddings", []))}
    features = {f["name"]: f for f in reversed(repo["features"])}

    def duplicates(path: str, items: Iterable[Mapping[str, Any]]) -> None:
        seen: set[str] = set()
        for i, el in enumerate(items):
            if el["name"] in seen:
                err(f"{path}[{i}]", f"duplicate name '{el['name']}'")
            seen.add(el["name"])

    def check_default(path: str, a: Mapping[str, Any]) -> None:
        if "default" not in a:
            return
        if a.get("required"):
            err(f"{path}.default", "a required attribute has no default")
        elif not _default_matches(a["type"], a["default"]):
            err(f"{path}.default", f"{quote(a['default'])} is not a {a['type']}")

    def check_range(path: str, r: list[float] | None) -> None:
        if r is not None and r[0] >= r[1]:
            err(path, f"lower bound {_num(r[0])} must be below upper bound {_num(r[1])}")

    def increasing(path: str, xs: list[float] | None) -> None:
        for i, x in enumerate(xs or []):
            if i > 0 and x <= xs[i - 1]:  # type: ignore[index]
                err(f"{path}[{i}]", "must be greater than the previous boundary")

    def check_transform(p: str, f: Mapping[str, Any]) -> None:
        """Numeric features and aggregations share their transforms (an aggregation has no stats). A standardize
        without stats is fitted on the training split by the trainer."""
        transform = f.get("transform")
        if transform == "clip" and "clip" not in f:
            err(f"{p}.clip", "required by transform 'clip'")
        if transform == "bucketize" and "boundaries" not in f:
            err(f"{p}.boundaries", "required by transform 'bucketize'")
        if "stats" in f and transform != "standardize":
            err(f"{p}.stats", "only used by transform 'standardize'")
        if "boundaries" in f and transform != "bucketize":
            err(f"{p}.boundaries", "only used by transform 'bucketize'")
        check_range(f"{p}.clip", f.get("clip"))
        increasing(f"{p}.boundaries", f.get("boundaries"))

    duplicates("entities", repo["entities"])
    duplicates("event_types", repo["event_types"])
    duplicates("embeddings", repo.get("embeddings", []))
    duplicates("context.attributes", repo["context"]["attributes"])
    duplicates("features", repo["features"])

    for e in repo["entities"]:
        p = f"entities.{e['name']}"
        duplicates(f"{p}.attributes", e.get("attributes", []))
        for a in e.get("attributes", []):
            if a["name"] == e["key"]:
                err(f"{p}.attributes.{a['name']}", f"'{a['name']}' is the entity key")
            check_default(f"{p}.attributes.{a['name']}", a)

    for t in repo["event_types"]:
        p = f"event_types.{t['name']}"
        for i, en in enumerate(t["entities"]):
            if en not in entities:
                err(f"{p}.entities[{i}]", f"unknown entity '{en}'")
        reserved = {*ENVELOPE, *(entities[en]["key"] if en in entities else "" for en in t["entities"])}
        duplicates(f"{p}.attributes", t.get("attributes", []))
        for a in t.get("attributes", []):
            if a["name"] in reserved:
                err(f"{p}.attributes.{a['name']}", f"'{a['name']}' is reserved")
            check_default(f"{p}.attributes.{a['name']}", a)

    recorded = events.get(repo["context"]["recorded_on"])
    if recorded is None:
        err("context.recorded_on", f"unknown event type '{repo['context']['recorded_on']}'")
    for a in repo["context"]["attributes"]:
        p = f"context.attributes.{a['name']}"
        check_default(p, a)
        if recorded is None:
            continue
        on_event = _find(recorded.get("attributes", []), a["name"])
        if on_event is None:
            err(p, f"not an attribute of event type '{recorded['name']}'")
        elif on_event["type"] != a["type"]:
            err(f"{p}.type", f"'{a['type']}' differs from {recorded['name']}.{a['name']} ('{on_event['type']}')")

    for m in repo.get("embeddings", []):
        p = f"embeddings.{m['name']}"
        if m["entity"] not in entities:
            err(f"{p}.entity", f"unknown entity '{m['entity']}'")
        for i, ref in enumerate(m.get("inputs", [])):
            if resolve_reference(repo, ref) is None:
                err(f"{p}.inputs[{i}]", f"unknown attribute '{ref}'")

    hash_fields: dict[str, str] = {}

    def known(
        path: str, names: list[str], table: Mapping[str, Mapping[str, Any]], what: str
    ) -> Iterator[tuple[int, str, Mapping[str, Any]]]:
        """(index, name, definition) of each name `table` defines; an error for each it does not."""
        for i, name in enumerate(names):
            found = table.get(name)
            if found is None:
                err(f"{path}[{i}]", f"unknown {what} '{name}'")
            else:
                yield i, name, found

    def claim_field(path: str, field: str, owner: str) -> None:
        if field in hash_fields:
            err(path, f"hash field '{field}' is already used by feature '{hash_fields[field]}'")
        else:
            hash_fields[field] = owner

    for f in repo["features"]:
        p = f"features.{f['name']}"
        kind = f["kind"]
        if kind in ("categorical", "numeric", "multi_categorical"):
            src = f["source"]
            r = resolve_reference(repo, src)
            if r is None:
                err(f"{p}.source", f"unknown attribute '{src}'")
            rtype = r[0] if r else None
            if kind == "categorical":
                if rtype in ("float", "string_list"):
                    err(f"{p}.source", f"a categorical feature cannot read {rtype} attribute '{src}'")
                if f["encoding"] == "hash":
                    if "buckets" not in f:
                        err(f"{p}.buckets", "required by encoding 'hash'")
                    if "vocabulary" in f:
                        err(f"{p}.vocabulary", "not used by encoding 'hash'")
                else:
                    if "vocabulary" not in f:
                        err(f"{p}.vocabulary", "required by encoding 'vocabulary'")
                    if "buckets" in f:
                        err(f"{p}.buckets", "not used by encoding 'vocabulary'")
                    if "fit" in f:
                        err(f"{p}.fit", "only used by encoding 'hash' (a fixed vocabulary is not fitted)")
                    seen: set[str] = set()
                    for i, v in enumerate(f.get("vocabulary", [])):
                        if v in seen:
                            err(f"{p}.vocabulary[{i}]", f"duplicate value '{v}'")
                        seen.add(v)
                for key in ("clip", "derive"):
                    if key in f and rtype is not None and rtype != "int":
                        err(f"{p}.{key}", f"needs an int attribute, '{src}' is {rtype}")
                check_range(f"{p}.clip", f.get("clip"))
                claim_field(f"{p}.field", f.get("field", f["name"]), f["name"])
            elif kind == "numeric":
                if rtype is not None and rtype not in ("int", "float"):
                    err(f"{p}.source", f"a numeric feature needs an int or float attribute, '{src}' is {rtype}")
                check_transform(p, f)
            else:
                if rtype is not None and rtype != "string_list":
                    err(f"{p}.source", f"a multi_categorical feature needs a string_list attribute, '{src}' is {rtype}")
                claim_field(f"{p}.field", f.get("field", f["name"]), f["name"])
        elif kind == "sequence":
            owner, target = f["owner"], f["target"]
            if owner not in entities:
                err(f"{p}.owner", f"unknown entity '{owner}'")
            if target not in entities:
                err(f"{p}.target", f"unknown entity '{target}'")
            for i, name, ev in known(f"{p}.event_types", f["event_types"], events, "event type"):
                for en in (owner, target):
                    if en in entities and en not in ev["entities"]:
                        err(f"{p}.event_types[{i}]", f"event type '{name}' does not carry entity '{en}'")
            for i, name, side in known(f"{p}.side_features", f["side_features"], features, "feature"):
                if side["kind"] == "sequence":
                    err(f"{p}.side_features[{i}]", "a sequence cannot be a side feature")
                    continue
                unresolved = "source" in side and resolve_reference(repo, side["source"]) is None
                if target in entities and not unresolved and feature_entity(repo, side) != target:
                    err(f"{p}.side_features[{i}]", f"feature '{name}' is not over entity '{target}'")
            if "age" in f:
                increasing(f"{p}.age.boundaries_ms", f["age"]["boundaries_ms"])
                claim_field(f"{p}.age.field", f["age"]["field"], f["name"])
        elif kind == "aggregate":
            agg = _find(repo.get("aggregations", []), f["aggregation"])
            if agg is None:
                err(f"{p}.aggregation", f"unknown aggregation '{f['aggregation']}'")
            seen_windows: set[str] = set()
            for i, w in enumerate(f.get("windows", [])):
                if w in seen_windows:
                    err(f"{p}.windows[{i}]", f"duplicate window '{w}'")
                elif agg is not None and w not in agg["windows"]:
                    err(f"{p}.windows[{i}]", f"'{w}' is not a window of aggregation '{agg['name']}'")
                seen_windows.add(w)
        else:
            m = embeddings.get(f["embedding"])
            if m is None:
                err(f"{p}.embedding", f"unknown embedding '{f['embedding']}'")
            elif m["width"] != f["width"]:
                err(
                    f"{p}.width",
                    f"width {_num(f['width'])} does not match embedding '{m['name']}' (width {_num(m['width'])})",
                )

    check_aggregations(
        repo,
        AggregationCheckHelpers(
            err=err,
            duplicates=duplicates,
            check_transform=check_transform,
            resolve=lambda ref: resolve_reference(repo, ref),
            value_matches=_default_matches,
            quote=quote,
        ),
    )

    label = repo["label"]
    anchor, positive = label["anchor"], label["positive"]
    if anchor not in events:
        err("label.anchor", f"unknown event type '{anchor}'")
    if positive not in events:
        err("label.positive", f"unknown event type '{positive}'")
    if anchor == positive:
        err("label.positive", "must differ from label.anchor")
    for i, m in enumerate(label.get("match_on", [])):
        if anchor not in events or positive not in events:
            continue
        if resolve_reference(repo, f"{anchor}.{m}") is None or resolve_reference(repo, f"{positive}.{m}") is None:
            err(f"label.match_on[{i}]", f"'{m}' is not an attribute of both '{anchor}' and '{positive}'")

    return sorted(set(errors))


# ----- loading -----


def check_feature_repo(doc: Any) -> list[str]:
    """Every problem of a parsed document: schema errors first; semantic checks once the shape is right."""
    shape = schema_errors(doc)
    return shape if shape else semantic_errors(doc)


def _freeze(v: Any) -> Any:
    if isinstance(v, dict):
        return MappingProxyType({k: _freeze(x) for k, x in v.items()})
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    return v


@dataclass(frozen=True)
class FeatureRepo:
    """A valid repository; every list is a tuple and every object a read-only mapping."""

    name: str
    version: str
    unknown_attributes: str
    entities: tuple[Mapping[str, Any], ...]
    event_types: tuple[Mapping[str, Any], ...]
    embeddings: tuple[Mapping[str, Any], ...]
    context: Mapping[str, Any]
    features: tuple[Mapping[str, Any], ...]
    label: Mapping[str, Any]
    document: Mapping[str, Any]
    aggregations: tuple[Mapping[str, Any], ...] = ()

    def feature(self, name: str) -> Mapping[str, Any]:
        found = _find(self.features, name)
        if found is None:
            raise KeyError(name)
        return found


def parse_feature_repo(doc: Any, source: str = "(document)") -> FeatureRepo:
    errors = check_feature_repo(doc)
    if errors:
        raise FeatureRepoError(source, errors)
    frozen = _freeze(doc)
    return FeatureRepo(
        name=frozen["name"],
        version=frozen["version"],
        unknown_attributes=frozen["unknown_attributes"],
        entities=frozen["entities"],
        event_types=frozen["event_types"],
        embeddings=frozen.get("embeddings", ()),
        context=frozen["context"],
        features=frozen["features"],
        label=frozen["label"],
        document=frozen,
        aggregations=frozen.get("aggregations", ()),
    )


def resolve_repo_path(path: str | Path) -> Path:
    p = Path(path)
    return p / REPO_FILE if p.is_dir() else p


def load_feature_repo(path: str | Path) -> FeatureRepo:
    """Load a repository file, or a folder holding repo.json; FeatureRepoError lists every problem."""
    file = resolve_repo_path(path)
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise FeatureRepoError(str(file), [f"(root): not valid JSON ({e})"]) from e
    return parse_feature_repo(doc, str(file))
