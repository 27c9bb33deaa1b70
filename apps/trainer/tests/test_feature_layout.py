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
    # aggregate features on both sides, numeric and bucketised, default and chosen windows
    "aggregate-features": "libs/feature-repo/test-vectors/good/aggregate-features.json",
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


def test_aggregate_features_one_slot_per_window_on_the_side_their_key_depends_on() -> None:
    layout = model_layout(load_feature_repo(ROOT / REPOS["aggregate-features"]))

    def slots(group: dict) -> list[str]:
        return [f"{s['feature']}@{s['window']}" for s in group["categorical"] + group["numeric"] if "window" in s]

    assert slots(layout["user"]) == ["user_views@1d", "user_views@1h"]
    assert slots(layout["candidate"]) == [
        "item_revenue@7d",
        "item_views@1h",
        "item_views@24h",
        "item_views@7d",
        "item_conversion_7d@7d",
        "user_brand_views@7d",
    ]


def test_aggregate_keyed_by_neither_side_is_named() -> None:
    repo = load_feature_repo(ROOT / "feature-repos" / "ad-platform")
    aggregation = {
        "name": "advertiser_events",
        "key": ("advertiser",),
        "source": repo.label["anchor"],
        "op": "count",
        "windows": ("1d",),
        "granularity": ({"up_to": "1d", "bucket": "1h"},),
    }
    feature = {"name": "advertiser_events", "kind": "aggregate", "aggregation": "advertiser_events"}
    edited = dataclasses.replace(repo, aggregations=(aggregation,), features=(*repo.features, feature))
    with pytest.raises(
        LayoutError,
        match="features.advertiser_events: aggregation 'advertiser_events' is keyed by 'advertiser', "
        "neither the requester 'user' alone nor with the candidate 'ad'",
    ):
        model_layout(edited)
