"""evaluate scores a registered model only on the layout it was trained on."""

from __future__ import annotations

import json

from mmctr_trainer.evaluate import _comparable, _layout_misfit
from mmctr_trainer.feature_layout import model_layout
from mmctr_trainer.features import REPO_ROOT
from mmctr_trainer.schema import load_repo


def _artifact(tmp_path, layout):
    (tmp_path / "layout.json").write_text(json.dumps(layout), encoding="utf-8")
    return tmp_path


def test_a_model_of_the_same_layout_fits_whatever_the_repository_version(tmp_path):
    layout = model_layout(load_repo(REPO_ROOT / "feature-repos" / "demo"))
    renamed = {**layout, "repository": {"name": "other", "version": "9"}}
    assert _layout_misfit(_artifact(tmp_path, renamed), _comparable(layout)) is None


def test_a_model_of_another_layout_or_without_one_is_named_a_misfit(tmp_path):
    demo = _comparable(model_layout(load_repo(REPO_ROOT / "feature-repos" / "demo")))
    other = model_layout(load_repo(REPO_ROOT / "feature-repos" / "ad-platform"))
    (tmp_path / "other").mkdir()
    (tmp_path / "bare").mkdir()
    why = _layout_misfit(_artifact(tmp_path / "other", other), demo)
    repo = other["repository"]
    assert why == f"trained on another layout (repository {repo['name']} {repo['version']})"
    assert _layout_misfit(tmp_path / "bare", demo) == f"{tmp_path / 'bare'} has no layout.json"
