"""Typed configs: every shipped config loads, a misspelt key or a wrong type is rejected with its name."""

from __future__ import annotations

import json

import pytest

from mmctr_trainer import cli
from mmctr_trainer.config import (
    CONFIG_DIR,
    MODEL_PARAMS,
    ConfigError,
    QINParams,
    TrainerConfig,
    TrainingParams,
    load_config,
)
from mmctr_trainer.models import MODELS, build_model
from mmctr_trainer.schema import ModelSchema
from mmctr_trainer.tabular import tabular_layout


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_every_shipped_config_loads_and_builds_every_model(path):
    cfg = load_config(path)
    assert set(cfg.models) <= set(MODELS)
    raw = json.loads(path.read_text(encoding="utf-8"))
    for name, section in raw["models"].items():
        params = cfg.model(name)
        assert isinstance(params, MODEL_PARAMS[name])
        assert all(getattr(params, k) == (tuple(v) if isinstance(v, list) else v) for k, v in section.items())
    for k, v in raw["training"].items():
        assert getattr(cfg.training, k) == v


def test_a_misspelt_model_key_is_rejected_naming_the_key_and_the_model(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"training": {}, "models": {"qin": {"embeding_dim": 8}}}), encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown key 'embeding_dim' for model qin"):
        load_config(bad)


def test_a_misspelt_training_key_or_a_wrong_type_is_rejected():
    with pytest.raises(ConfigError, match="unknown key 'bach_size' in training"):
        TrainerConfig.from_json({"training": {"bach_size": 32}})
    with pytest.raises(ConfigError, match="key 'layers' for model qin must be int"):
        TrainerConfig.from_json({"models": {"qin": {"layers": "4"}}})
    with pytest.raises(ConfigError, match="unknown model 'qni'"):
        TrainerConfig.from_json({"models": {"qni": {}}})
    with pytest.raises(ConfigError, match="mm_norm"):
        TrainerConfig.from_json({"models": {"din": {"mm_norm": "batch"}}})
    # a key of another model is unknown too: LR has no embedding_dim
    with pytest.raises(ConfigError, match="unknown key 'embedding_dim' for model lr"):
        build_model("lr", ModelSchema(tabular_layout(["a"], 8)), {"embedding_dim": 8})


def test_the_cli_rejects_a_misspelt_key_before_touching_any_data(tmp_path, capsys):
    raw = json.loads((CONFIG_DIR / "tiny.json").read_text(encoding="utf-8"))
    raw["models"]["qin"]["atention_factor"] = 2
    bad = tmp_path / "typo.json"
    bad.write_text(json.dumps(raw), encoding="utf-8")
    rc = cli.main(
        [
            "train",
            "--database",
            "no_such_database_for_config_test",
            "--model",
            "qin",
            "--config",
            str(bad),
            "--trainset",
            str(tmp_path / "set"),
        ]
    )
    assert rc == 2
    assert "unknown key 'atention_factor' for model qin" in capsys.readouterr().err
    assert not (tmp_path / "set").exists()


def test_model_overrides_of_the_training_section_and_defaults_in_one_place():
    cfg = load_config("quality")
    assert cfg.model("qin").training(cfg.training).max_epochs == 8
    assert cfg.model("autoint").training(cfg.training).max_epochs == cfg.training.max_epochs
    assert TrainerConfig.from_json({}).model("qin") == QINParams()
    assert TrainerConfig.from_json({}).training == TrainingParams()


def test_a_model_emb_l2_overrides_the_training_section_for_that_model_only():
    cfg = TrainerConfig.from_json({"training": {"emb_l2": 2e-4}, "models": {"din": {"emb_l2": 1e-5}}})
    assert cfg.model("din").training(cfg.training).emb_l2 == 1e-5
    assert cfg.model("qin").training(cfg.training).emb_l2 == 2e-4
    assert "emb_l2" not in cfg.model("din").architecture()
    with pytest.raises(ConfigError, match="emb_l3"):
        TrainerConfig.from_json({"models": {"din": {"emb_l3": 1e-5}}})
