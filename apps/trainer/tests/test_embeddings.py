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


def test_each_movie_version_reads_the_vector_of_its_own_title(monkeypatch):
    """Point in time: a movie renamed at t=200 reads its first title's vector before and its second after; a
    movie whose title nothing embedded, and one with no version yet, read zeros."""
    import numpy as np

    from mmctr_trainer import store
    from mmctr_trainer.dataset.entities import EntityTables, group_inputs
    from mmctr_trainer.schema import ModelSchema

    repo = _movielens_with([{"name": "title", "entity": "movie", "width": 4, "inputs": ["movie.title"]}])
    schema = ModelSchema.from_repo(repo)
    versions = {
        "ml_movies": [
            {"movie_id": "1", "ts_ms": 100, "title": "Heat", "year": 1995, "genres": []},
            {"movie_id": "1", "ts_ms": 200, "title": "Heat (1995)", "year": 1995, "genres": []},
            {"movie_id": "2", "ts_ms": 100, "title": "Unembedded", "year": 1990, "genres": []},
        ],
    }
    vectors = [
        {"entity_key": "1", "content_hash": content_hash(["Heat"]), "v": [1.0, 0.0, 0.0, 0.0]},
        {"entity_key": "1", "content_hash": content_hash(["Heat (1995)"]), "v": [0.0, 1.0, 0.0, 0.0]},
    ]
    monkeypatch.setattr(store, "entity_vectors", lambda _ch, embedding, entity: iter(vectors))
    monkeypatch.setattr(store, "entity_versions", lambda _ch, table, _key, _cols: iter(versions.get(table, [])))
    tables = EntityTables(repo, schema, log=lambda _m: None).load(None)  # type: ignore[arg-type]
    movies = tables.tables["movie"]
    keys = ["1", "1", "1", "2", "3"]
    ts = np.asarray([150, 200, 250, 150, 150])
    rows = movies.as_of(movies.idx_of(keys), ts)
    arrays = tables.arrays()
    assert "mm_vec_title" in arrays["movie"] and "mm" not in arrays["movie"]
    out = group_inputs(schema.candidate, "cand", arrays, {"movie": rows}, {}, (5,))
    vec = out["cand_vec"]
    np.testing.assert_array_equal(vec[:, :2], [[1, 0], [0, 1], [0, 1], [0, 0], [0, 0]])
