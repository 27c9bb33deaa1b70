"""Which embedding's vectors a layout reads from the offline store, and how an entity version finds its vector:
the trainer's side of libs/feature-repo/src/embeddings.ts (its rules must stay identical, or training and serving
read different vectors).

- The catalogue's embedding (`fused` of `item`) is item_embeddings.fused_vec of the item version's content_hash.
- Any embedding of another entity is entity_embeddings.vec of (embedding, entity key, hash of the version's input
  values): SHA-256 of the values as a JSON array without spaces (JSON.stringify in the embedder and ingest).
- Another embedding of the catalogue entity has no stored vectors.
- Like the scorer (ServingLayout.storedEmbedding), a layout reads one stored embedding: the first the candidate-
  or a sequence-side vector slot reads of the candidate entity without a join; every other vector reads zeros."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .feature_repo import FeatureRepo

CATALOGUE_ENTITY, CATALOGUE_EMBEDDING = "item", "fused"


def embedding_store(entity: str, name: str) -> str | None:
    """'catalogue', 'entity' or None (nothing stores it)."""
    if entity != CATALOGUE_ENTITY:
        return "entity"
    return "catalogue" if name == CATALOGUE_EMBEDDING else None


@dataclass(frozen=True)
class StoredEmbedding:
    name: str
    entity: str
    store: str  # 'catalogue' | 'entity'
    # entity store: (attribute, type, fallback) of each text input, in declared order
    inputs: tuple[tuple[str, str, Any], ...] = ()

    def values(self, row: Mapping[str, Any]) -> list[Any]:
        """The inputs' values in an entity version (embeddingInputValues)."""
        out: list[Any] = []
        for attr, kind, fallback in self.inputs:
            v = row.get(attr)
            if kind == "string":
                out.append(v if isinstance(v, str) else fallback)
            else:
                out.append([str(x) for x in v] if isinstance(v, (list, tuple)) else list(fallback))
        return out

    def content_hash(self, row: Mapping[str, Any]) -> str:
        return content_hash(self.values(row))


def content_hash(values: Sequence[Any]) -> str:
    """embeddingContentHash: JSON.stringify's text of the values (strings and string lists), SHA-256 hex."""
    text = json.dumps(list(values), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _inputs(repo: FeatureRepo, m: Mapping[str, Any]) -> tuple[tuple[str, str, Any], ...] | None:
    """The text inputs of an entity embedding, None when the embedder cannot compute it (embeddingJobs)."""
    entity = next((e for e in repo.entities if e["name"] == m["entity"]), None)
    if entity is None or not entity.get("table") or entity.get("updates") != "snapshot":
        return None
    attrs = {a["name"]: a for a in entity.get("attributes", ())}
    out = []
    for ref in m.get("inputs", ()):
        ns, attr = ref.split(".", 1)
        a = attrs.get(attr)
        if ns != m["entity"] or a is None or a["type"] not in ("string", "string_list"):
            return None
        out.append((attr, a["type"], a.get("default", "" if a["type"] == "string" else [])))
    return tuple(out) or None


def stored_embedding(repo: FeatureRepo, layout: Mapping[str, Any]) -> StoredEmbedding | None:
    """The embedding a layout reads stored vectors of (None: every vector reads zeros)."""
    cand = layout["candidate_entity"]
    declared = {m["name"]: m for m in repo.embeddings}
    for group in (layout["candidate"], *layout["sequences"]):
        for slot in group["vector"]:
            m = declared.get(slot["embedding"])
            if "via" in slot or slot["entity"] != cand or m is None:
                continue
            store = embedding_store(m["entity"], m["name"])
            if store == "catalogue":
                return StoredEmbedding(m["name"], m["entity"], store)
            if store == "entity":
                return StoredEmbedding(m["name"], m["entity"], store, _inputs(repo, m) or ())
    return None


def reads_stored(stored: StoredEmbedding | None, candidate_entity: str, slot: Mapping[str, Any]) -> bool:
    """Whether a vector slot reads the stored embedding (ServingLayout.readsStoredVector)."""
    return (
        stored is not None
        and "via" not in slot
        and slot["entity"] == candidate_entity
        and slot["embedding"] == stored.name
    )


def array_names(embedding: str, entity: str) -> tuple[str, str]:
    """The entity table's arrays of an embedding's vectors and of each version's vector row: the catalogue's keep
    'mm' and 'mm_row'."""
    if embedding_store(entity, embedding) == "catalogue":
        return "mm", "mm_row"
    return f"mm_vec_{embedding}", f"mm_row_{embedding}"
