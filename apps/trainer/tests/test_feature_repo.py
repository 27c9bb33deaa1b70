"""The Python feature repository loader against the shared vectors the TypeScript loader also runs."""

import json
from pathlib import Path

import pytest

from mmctr_trainer import feature_repo as fr

ROOT = Path(__file__).resolve().parents[3]
VECTORS = ROOT / "libs" / "feature-repo" / "test-vectors"
EXPECTED = json.loads((VECTORS / "expected.json").read_text(encoding="utf-8"))["vectors"]


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_shared_vector(rel: str) -> None:
    doc = json.loads((VECTORS / rel).read_text(encoding="utf-8"))
    assert fr.check_feature_repo(doc) == EXPECTED[rel]


def test_schema_uses_only_checked_keywords() -> None:
    fr.check_schema_keywords(json.loads(fr.SCHEMA_PATH.read_text(encoding="utf-8")))
    with pytest.raises(ValueError, match="keyword 'oneOf'"):
        fr.check_schema_keywords({"properties": {"x": {"oneOf": []}}})


def test_error_lists_every_problem_with_its_path() -> None:
    with pytest.raises(fr.FeatureRepoError) as info:
        fr.load_feature_repo(VECTORS / "bad" / "unknown-transform.json")
    assert info.value.errors == EXPECTED["bad/unknown-transform.json"]
    assert "features.item_price.transform: unknown transform 'log2'" in str(info.value)


def test_loaded_repository_is_frozen() -> None:
    repo = fr.load_feature_repo(ROOT / "feature-repos" / "demo")
    assert repo.name == "demo"
    with pytest.raises(TypeError):
        repo.feature("device")["buckets"] = 2  # type: ignore[index]
    with pytest.raises(AttributeError):
        repo.version = "x"  # type: ignore[misc]
    assert isinstance(repo.features, tuple)


def test_demo_repository_matches_the_trainer_feature_spec() -> None:
    """The demo repository carries the trainer's feature_spec.json field lists (user, candidate, tags, history)."""
    spec = json.loads((ROOT / "libs" / "features" / "feature_spec.json").read_text(encoding="utf-8"))
    repo = fr.load_feature_repo(ROOT / "feature-repos" / "demo" / "repo.json")
    ctx = {a["name"]: a for a in repo.context["attributes"]}

    def side(f) -> str:
        ns, attr = f["source"].split(".")
        if ns == "context":
            return "candidate" if attr in ctx and ctx[attr]["scope"] == "candidate" else "user"
        return "user" if fr.resolve_reference(repo.document, f["source"])[1] == "user" else "candidate"

    def fields(group: str) -> list[tuple]:
        cats = [f for f in repo.features if f["kind"] == "categorical" and side(f) == group]
        return [(f.get("field", f["name"]), f["buckets"], list(f.get("clip", ())) or None) for f in cats]

    assert fields("user") == [(f["name"], f["buckets"], f.get("clip")) for f in spec["user_fields"]]
    assert fields("candidate") == [(f["name"], f["buckets"], f.get("clip")) for f in spec["candidate_fields"]]
    (hist,) = [f for f in repo.features if f["kind"] == "sequence"]
    assert hist["length"] == spec["history"]["length"]
    assert list(hist["age"]["boundaries_ms"]) == spec["history"]["age"]["boundaries_ms"]
    assert repo.label["attribution_window_ms"] == spec["label"]["attribution_window_ms"]
