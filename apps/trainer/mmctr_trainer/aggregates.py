"""Windowed aggregates: the Python twin of libs/aggregates and of libs/feature-repo/src/aggregations.ts.

Bucket arithmetic (docs/features.md, "Aggregations"): buckets of width ``b`` are aligned to the Unix epoch;
the value of a window ``W`` as of time ``t`` counts the events with ``c - W <= ts < c`` where
``c = bucket_start(t, b)``: the ``W / b`` closed buckets before the one holding ``t`` (the bucket still open at
``t`` never counts, so the value is the same for every ``t`` in ``[c, c + b)``). Both languages run
libs/aggregates/test-vectors/buckets.json.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION = re.compile(r"^([1-9][0-9]{0,5})([mhd])$")


def duration_ms(d: str) -> int:
    """Milliseconds of a duration (``90m``, ``24h``, ``7d``)."""
    m = _DURATION.match(d)
    if m is None:
        raise ValueError(f"invalid duration '{d}' (expected <n>m, <n>h or <n>d)")
    return int(m.group(1)) * _UNIT_MS[m.group(2)]


def bucket_start(ts_ms: int, bucket_ms: int) -> int:
    """Start of the epoch-aligned bucket holding ``ts_ms``."""
    return ts_ms // bucket_ms * bucket_ms


def window_range(t_ms: int, window_ms: int, bucket_ms: int) -> tuple[int, int]:
    """``(from, to)``: the window counts events with ``from <= ts < to``."""
    c = bucket_start(t_ms, bucket_ms)
    return c - window_ms, c


def window_buckets(t_ms: int, window_ms: int, bucket_ms: int) -> list[int]:
    """Starts of the ``W / b`` buckets the window reads as of ``t``, oldest first (never the one holding ``t``)."""
    start, end = window_range(t_ms, window_ms, bucket_ms)
    return list(range(start, end, bucket_ms))


def expire_at(start_ms: int, bucket_ms: int, up_to_ms: int) -> int:
    """When the bucket starting at ``start_ms`` expires: one bucket after no window of its tier reads it.

    The slack keeps a window whole for a read that lands after the boundary following its ``t`` (request
    latency, a client's ts_ms slightly in the past, a Redis clock ahead): a read as of any ``t`` in bucket
    ``c`` finds every bucket it needs until ``c + 2b``.
    """
    return start_ms + 2 * bucket_ms + up_to_ms


def tier_for(window_ms: int, granularity: Sequence[Mapping[str, str]]) -> Mapping[str, str]:
    """The first tier whose ``up_to`` covers the window (the repository checks that one exists)."""
    for tier in granularity:
        if duration_ms(tier["up_to"]) >= window_ms:
            return tier
    raise ValueError(f"no granularity tier covers a window of {window_ms} ms")


def smoothed_ratio(numerator: float, denominator: float, smoothing: Sequence[float], default: float) -> float:
    """``(numerator + a) / (denominator + b)``, or ``default`` when that denominator is 0."""
    a, b = smoothing
    return default if denominator + b == 0 else (numerator + a) / (denominator + b)


def aggregation_op(a: Mapping[str, Any]) -> str | None:
    """``count``, ``sum`` or ``ratio``; None for an op object naming neither or both of sum / ratio."""
    op = a["op"]
    if isinstance(op, str):
        return "count" if op == "count" else None
    kinds = [k for k in ("sum", "ratio") if k in op]
    return kinds[0] if len(kinds) == 1 else None


# ----- repository checks (same rules and wording as libs/feature-repo/src/aggregations.ts) -----


@dataclass(frozen=True)
class AggregationCheckHelpers:
    """What the repository's semantic checks lend these ones."""

    err: Callable[[str, str], None]
    duplicates: Callable[[str, Iterable[Mapping[str, Any]]], None]
    check_transform: Callable[[str, Mapping[str, Any]], None]
    resolve: Callable[[str], tuple[str, str | None] | None]
    value_matches: Callable[[str, Any], bool]
    quote: Callable[[Any], str]


def check_aggregations(repo: Mapping[str, Any], h: AggregationCheckHelpers) -> None:
    items = repo.get("aggregations", [])
    h.duplicates("aggregations", items)
    by_name = {a["name"]: a for a in reversed(items)}
    for a in items:
        p = f"aggregations.{a['name']}"
        op = aggregation_op(a)
        if op is None:
            h.err(f"{p}.op", "needs exactly one of 'sum', 'ratio'")
        elif op == "ratio":
            _check_ratio(p, a, by_name, h)
        else:
            _check_counted(repo, p, a, op, h)
        if isinstance(a["op"], Mapping) and "smoothing" in a["op"] and op != "ratio":
            h.err(f"{p}.op.smoothing", "only used by op 'ratio'")
        if "default" in a and op != "ratio":
            h.err(f"{p}.default", "only used by op 'ratio'")
        h.check_transform(p, a)


def _check_ratio(
    p: str, a: Mapping[str, Any], by_name: Mapping[str, Mapping[str, Any]], h: AggregationCheckHelpers
) -> None:
    for key in ("source", "filter", "granularity"):
        if key in a:
            h.err(f"{p}.{key}", "not used by op 'ratio'")
    for i, name in enumerate(a["op"]["ratio"]):
        other = by_name.get(name)
        if other is None:
            h.err(f"{p}.op.ratio[{i}]", f"unknown aggregation '{name}'")
            continue
        if aggregation_op(other) == "ratio":
            h.err(f"{p}.op.ratio[{i}]", f"aggregation '{name}' is a ratio")
            continue
        if list(other["key"]) != list(a["key"]):
            h.err(
                f"{p}.op.ratio[{i}]",
                f"aggregation '{name}' has key {h.quote(list(other['key']))}, not {h.quote(list(a['key']))}",
            )
        for j, w in enumerate(a["windows"]):
            if w not in other["windows"]:
                h.err(f"{p}.windows[{j}]", f"'{w}' is not a window of aggregation '{name}'")


def _check_counted(repo: Mapping[str, Any], p: str, a: Mapping[str, Any], op: str, h: AggregationCheckHelpers) -> None:
    if "granularity" not in a:
        h.err(f"{p}.granularity", f"required by op '{op}'")
    else:
        _check_windows(p, a, h)
    if "source" not in a:
        h.err(f"{p}.source", f"required by op '{op}'")
        return
    ev = next((t for t in repo["event_types"] if t["name"] == a["source"]), None)
    if ev is None:
        h.err(f"{p}.source", f"unknown event type '{a['source']}'")
        return
    _check_key(repo, p, a["key"], ev, h)
    for attr, value in a.get("filter", {}).items():
        ref = f"{ev['name']}.{attr}"
        r = h.resolve(ref)
        if r is None:
            h.err(f"{p}.filter.{attr}", f"unknown attribute '{ref}'")
        elif r[0] == "string_list":
            h.err(f"{p}.filter.{attr}", "cannot filter on a string_list attribute")
        elif not h.value_matches(r[0], value):
            h.err(f"{p}.filter.{attr}", f"{h.quote(value)} is not a {r[0]}")
    if op == "sum":
        ref = f"{ev['name']}.{a['op']['sum']}"
        r = h.resolve(ref)
        if r is None:
            h.err(f"{p}.op.sum", f"unknown attribute '{ref}'")
        elif r[0] not in ("int", "float"):
            h.err(f"{p}.op.sum", f"needs an int or float attribute, '{ref}' is {r[0]}")


def _check_key(
    repo: Mapping[str, Any], p: str, key: Sequence[str], ev: Mapping[str, Any], h: AggregationCheckHelpers
) -> None:
    """``[entity]`` the event carries, optionally ``, "other_entity.attribute"`` of another entity it carries."""

    def carried(path: str, entity: str) -> bool:
        if not any(e["name"] == entity for e in repo["entities"]):
            h.err(path, f"unknown entity '{entity}'")
        elif entity not in ev["entities"]:
            h.err(path, f"event type '{ev['name']}' does not carry entity '{entity}'")
        else:
            return True
        return False

    first = key[0]
    if "." in first:
        h.err(f"{p}.key[0]", "must name an entity, not an attribute")
    else:
        carried(f"{p}.key[0]", first)
    if len(key) < 2:
        return
    second = key[1]
    if "." not in second:
        h.err(f"{p}.key[1]", "must be an attribute of another entity (entity.attribute)")
        return
    entity = second.split(".", 1)[0]
    if entity == first:
        h.err(f"{p}.key[1]", f"must be an attribute of another entity than '{first}'")
        return
    if not carried(f"{p}.key[1]", entity):
        return
    r = h.resolve(second)
    if r is None:
        h.err(f"{p}.key[1]", f"unknown attribute '{second}'")
    elif r[0] in ("float", "string_list"):
        h.err(f"{p}.key[1]", f"a key cannot be a {r[0]} attribute ('{second}')")


def _check_windows(p: str, a: Mapping[str, Any], h: AggregationCheckHelpers) -> None:
    """Tiers grow; each tier's bucket divides its up_to; each window fits a tier, in whole buckets."""
    tiers = a["granularity"]
    for i, t in enumerate(tiers):
        if duration_ms(t["up_to"]) % duration_ms(t["bucket"]) != 0:
            h.err(f"{p}.granularity[{i}].bucket", f"'{t['bucket']}' does not divide up_to '{t['up_to']}'")
        if i > 0 and duration_ms(t["up_to"]) <= duration_ms(tiers[i - 1]["up_to"]):
            h.err(f"{p}.granularity[{i}].up_to", "must be longer than the previous tier's")
    seen: set[int] = set()
    for i, w in enumerate(a["windows"]):
        ms = duration_ms(w)
        if ms in seen:
            h.err(f"{p}.windows[{i}]", f"duplicate window '{w}'")
            continue
        seen.add(ms)
        tier = next((t for t in tiers if duration_ms(t["up_to"]) >= ms), None)
        if tier is None:
            if tiers:
                longest = max(tiers, key=lambda t: duration_ms(t["up_to"]))
                h.err(
                    f"{p}.windows[{i}]",
                    f"'{w}' is longer than every granularity tier (longest up_to '{longest['up_to']}')",
                )
        elif ms % duration_ms(tier["bucket"]) != 0:
            h.err(f"{p}.windows[{i}]", f"'{w}' is not a whole number of '{tier['bucket']}' buckets")
