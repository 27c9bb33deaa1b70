"""Crafted rows for ClickHouse tests."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np

from mmctr_trainer.ch import ClickHouse
from mmctr_trainer.feature_repo import FeatureRepo, parse_feature_repo
from mmctr_trainer.schema import DEFAULT_FEATURE_REPO, ModelSchema

_seq = [0]
TINY_BUCKETS = {"user_id": 512, "item_id": 512, "category": 64, "country": 16, "tags": 128}


def tiny_repo_doc(L: int = 8, D: int = 4) -> dict[str, Any]:
    """The demo repository with small tables, sequence length L and vector width D (version fs-test)."""
    doc = json.loads((DEFAULT_FEATURE_REPO / "repo.json").read_text(encoding="utf-8"))
    doc["version"] = "fs-test"
    for f in doc["features"]:
        f["buckets"] = TINY_BUCKETS.get(f["name"], f.get("buckets"))
        if f["buckets"] is None:
            del f["buckets"]
        if f["kind"] == "sequence":
            f["length"] = L
        if f["kind"] == "vector":
            f["width"] = D
    for e in doc["embeddings"]:
        e["width"] = D
    return doc


def tiny_repo(L: int = 8, D: int = 4) -> FeatureRepo:
    return parse_feature_repo(tiny_repo_doc(L, D))


def tiny_schema(L: int = 8, D: int = 4) -> ModelSchema:
    return ModelSchema.from_repo(tiny_repo(L, D))


def event(
    type_: str,
    ts: int,
    user: str,
    item: str,
    request: str,
    position: int = 0,
    event_id: str | None = None,
    device: str = "mobile",
    placement: str = "feed",
    country: str = "DE",
    value: float = 0.0,
) -> dict[str, Any]:
    _seq[0] += 1
    return {
        "event_id": event_id or f"e{_seq[0]}",
        "type": type_,
        "ts_ms": ts,
        "event_time": ts // 1000,
        "user_id": user,
        "item_id": item,
        "request_id": request,
        "position": position,
        "device": device,
        "placement": placement,
        "country": country,
        "value": value,
        "schema_version": 1,
        "ingested_at": ts // 1000,
    }


def item(item_id: str, ts: int, category: str, tags: list[str], content_hash: str) -> dict[str, Any]:
    return {
        "item_id": item_id,
        "ts_ms": ts,
        "updated_at": ts // 1000,
        "title": f"title {item_id}",
        "description": "",
        "category": category,
        "tags": tags,
        "image": "",
        "content_hash": content_hash,
        "schema_version": 1,
        "ingested_at": ts // 1000,
    }


def embedding(item_id: str, content_hash: str, vec: list[float], created_ms: int = 1, pv: str = "p1") -> dict[str, Any]:
    return {
        "item_id": item_id,
        "content_hash": content_hash,
        "image_vec": vec,
        "text_vec": vec,
        "fused_vec": vec,
        "image_encoder": "test",
        "text_encoder": "test",
        "projection_version": pv,
        "created_ms": created_ms,
        "created_at": created_ms // 1000,
    }


def fresh_db(ch: ClickHouse, name: str) -> ClickHouse:
    """A database holding empty copies of the events / items / item_embeddings tables."""
    db = ClickHouse(ch.url, name, ch.user, ch.password)
    ch.command(f"DROP DATABASE IF EXISTS {name}", database="default")
    ch.command(f"CREATE DATABASE {name}", database="default")
    for t in ("events", "items", "item_embeddings"):
        ch.command(f"CREATE TABLE {name}.{t} AS {ch.database}.{t}", database="default")
    return db


def server_or_chdb_db(request: Any, ch: ClickHouse, prefix: str) -> Iterator[ClickHouse]:
    """For a fixture parametrized ["server", "chdb"]: an empty events / items / item_embeddings store in a
    unique database on the local 18.16 server or in the module's chdb session (conftest's chdb_template)."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    if request.param == "server":
        yield fresh_db(ch, name)
        ch.command(f"DROP DATABASE IF EXISTS {name}", database="default")
        return
    client, template = request.getfixturevalue("chdb_template")
    db = client(name)
    db.command(f"CREATE DATABASE {name}")
    for t in ("events", "items", "item_embeddings"):
        db.command(f"CREATE TABLE {name}.{t} AS {template}.{t}")
    yield db


def insert_demo(ch: ClickHouse, users: int = 60, items: int = 40, impressions: int = 3000, seed: int = 0) -> None:
    """A learnable toy: a user clicks items of 'their' category (user % 5) far more often."""
    T, HOUR = 1_700_000_000_000, 3_600_000
    r = np.random.default_rng(seed)
    ev, its, embs = [], [], []
    for i in range(items):
        its.append(item(f"i{i}", T - HOUR, f"c{i % 5}", [f"t{i % 5}", f"t{i % 7}"], f"h{i}"))
        v = [0.0] * 4
        v[i % 4] = 1.0
        embs.append(embedding(f"i{i}", f"h{i}", v))
    for n in range(impressions):
        u = int(r.integers(0, users))
        i = int(r.integers(0, items))
        ts = T + int(n * 10 * 24 * HOUR / impressions)
        ev.append(event("impression", ts, f"u{u}", f"i{i}", f"r{n}", position=int(r.integers(0, 10))))
        if r.random() < (0.7 if i % 5 == u % 5 else 0.05):
            ev.append(event("click", ts + 1000, f"u{u}", f"i{i}", f"r{n}"))
    ch.insert("events", ev)
    ch.insert("items", its)
    ch.insert("item_embeddings", embs)
