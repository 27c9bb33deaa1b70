"""The Python model-input layout against the golden layouts the TypeScript side also checks."""

import dataclasses
import json
from pathlib import Path

import pytest

from mmctr_trainer.feature_layout import LayoutError, model_layout
from mmctr_trainer.feature_repo import load_feature_repo

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = ROOT / "libs" / "feature-repo" / "test-vectors" / "layout"
# the repositories with a golden layout; ad-platform-fitted: floor_price's stats and user_id's vocabulary fitted
REPOS = {
    "demo": "feature-repos/demo",
    "ad-platform": "feature-repos/ad-platform",
    "ad-platform-fitted": "libs/feature-repo/test-vectors/repos/ad-platform-fitted",
}


@pytest.mark.parametrize("name", list(REPOS))
def test_golden_layout(name: str) -> None:
    layout = model_layout(load_feature_repo(ROOT / REPOS[name]))
    assert layout == json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))


def test_demo_inputs_are_the_serving_tensors() -> None:
    layout = model_layout(load_feature_repo(ROOT / "feature-repos" / "demo"))
    assert [(i["name"], i["shape"]) for i in layout["inputs"]] == [
        ("user_cat", ["Bu", 5]),
        ("hist_cat", ["Bu", 64, 2]),
        ("hist_multi", ["Bu", 64, 5]),
        ("hist_vec", ["Bu", 64, 128]),
        ("hist_age", ["Bu", 64]),
        ("cand_cat", ["B", 3]),
        ("cand_multi", ["B", 5]),
        ("cand_vec", ["B", 128]),
    ]


def test_unreachable_entity_is_named() -> None:
    repo = load_feature_repo(ROOT / "feature-repos" / "ad-platform")
    entities = tuple({**e, "key": "advertiser_ref"} if e["name"] == "advertiser" else e for e in repo.entities)
    document = {**repo.document, "entities": entities}
    with pytest.raises(LayoutError, match="features.industry: entity 'advertiser' is neither 'user' nor 'ad'"):
        model_layout(dataclasses.replace(repo, entities=entities, document=document))
