"""The trainer's side of the repository-declared embeddings (mmctr_trainer/embeddings.py): the content hash
matches libs/feature-repo's (the same vectors as its embeddings.spec.ts) and the stored embedding is the one the
scorer holds."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from mmctr_trainer.embeddings import array_names, content_hash, reads_stored, stored_embedding
from mmctr_trainer.feature_layout import model_layout
from mmctr_trainer.feature_repo import load_feature_repo, parse_feature_repo

ROOT = Path(__file__).resolve().parents[3]


def _movielens_with(embeddings, vector=True):
    doc = json.loads((ROOT / "feature-repos" / "movielens" / "repo.json").read_text())
    doc = copy.deepcopy(doc)
    doc["embeddings"] = embeddings
    doc["features"] = [f for f in doc["features"] if f["kind"] != "vector"]
    if vector and embeddings:
        m = embeddings[0]
        doc["features"].append({"name": "title_vec", "kind": "vector", "embedding": m["name"], "width": m["width"]})
    return parse_feature_repo(doc)


def test_content_hash_matches_the_typescript_vectors():
    assert content_hash(["Toy Story (1995)"]) == "055c5d2b421ba412cac8cb8285a4a50b1c84d4ba10a099e9c633373bc9018df2"
    tricky = ['Amélie "Le Fabuleux" \\ \n\t\x01\x7f\u2028 日本', ["a", "b"]]
    assert content_hash(tricky) == "7eb39c7f81339a76b5e3a31186c84cdb90e69e1ca10e55197cd2a9f4790e28e7"


def test_the_demo_stores_its_catalogue_fused_vectors_under_the_old_names():
    repo = load_feature_repo(ROOT / "feature-repos" / "demo")
    layout = model_layout(repo)
    stored = stored_embedding(repo, layout)
    assert stored is not None and (stored.name, stored.entity, stored.store) == ("fused", "item", "catalogue")
    assert array_names("fused", "item") == ("mm", "mm_row")


def test_a_movie_title_embedding_is_keyed_by_the_hash_of_its_inputs():
    repo = _movielens_with([{"name": "title", "entity": "movie", "width": 384, "inputs": ["movie.title"]}])
    layout = model_layout(repo)
    stored = stored_embedding(repo, layout)
    assert stored is not None and (stored.name, stored.store) == ("title", "entity")
    assert stored.inputs == (("title", "string", ""),)
    assert stored.content_hash({"title": "Toy Story (1995)", "year": 1995}) == content_hash(["Toy Story (1995)"])
    slot = next(s for s in layout["candidate"]["vector"])
    assert reads_stored(stored, "movie", slot)
    assert not reads_stored(stored, "movie", {**slot, "via": "movie.x"})
    assert array_names("title", "movie") == ("mm_vec_title", "mm_row_title")


def test_an_embedding_the_embedder_cannot_compute_still_reads_the_store_and_finds_nothing():
    repo = _movielens_with([{"name": "year", "entity": "movie", "width": 384, "inputs": ["movie.year"]}])
    stored = stored_embedding(repo, model_layout(repo))
    assert stored is not None and stored.inputs == ()
