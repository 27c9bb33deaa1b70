"""Every exported artifact records the feature repository the trainer ran with (name, version, feature names)."""

import json
from pathlib import Path

from mmctr_trainer import export
from mmctr_trainer.features import feature_repo_record
from mmctr_trainer.layers import ModelSchema
from mmctr_trainer.models import build_model

from .helpers import tiny_spec

ROOT = Path(__file__).resolve().parents[3]
DEMO = json.loads((ROOT / "feature-repos" / "demo" / "repo.json").read_text(encoding="utf-8"))
ADS = json.loads((ROOT / "feature-repos" / "ad-platform" / "repo.json").read_text(encoding="utf-8"))


def names(doc):
    return [f["name"] for f in doc["features"]]


def test_record_defaults_to_the_demo_repository(monkeypatch):
    monkeypatch.delenv("FEATURE_REPO", raising=False)
    assert feature_repo_record() == {"name": "demo", "version": DEMO["version"], "features": names(DEMO)}


def test_record_follows_feature_repo(monkeypatch):
    monkeypatch.setenv("FEATURE_REPO", str(ROOT / "feature-repos" / "ad-platform"))
    record = feature_repo_record()
    assert (record["name"], record["version"]) == ("ad_platform", "ads-1")
    assert record["features"] == names(ADS)
    assert "creative_vec" in record["features"]


def test_artifact_spec_and_model_card_record_the_repository(monkeypatch):
    monkeypatch.setenv("FEATURE_REPO", str(ROOT / "feature-repos" / "ad-platform" / "repo.json"))
    spec = tiny_spec(L=4, D=4)
    signature = {"inputs": []}
    doc = export.artifact_feature_spec(spec.to_json(), signature)
    assert doc["feature_repo"] == feature_repo_record()
    assert doc["serving_signature"] == signature
    assert doc["version"] == spec.version
    assert "feature_repo" not in spec.to_json()  # the loaded spec itself is left as it was
    model = build_model("lr", ModelSchema.from_spec(spec), {})
    card = export.model_card(model, doc, signature)
    assert card["feature_repo"]["name"] == "ad_platform"


def test_tabular_import_records_no_repository():
    doc = export.artifact_feature_spec({"version": "tabular-2x8", "kind": "tabular"}, {})
    assert "feature_repo" not in doc
