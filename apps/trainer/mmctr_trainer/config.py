"""Typed trainer configuration: a frozen dataclass for the training section and one per model.

A config file is `{"description": ..., "training": {...}, "models": {"<model>": {...}}}`. Every default lives
here; a key a dataclass does not declare is an error that names it (`unknown key 'embeding_dim' for model qin`),
so a misspelt option fails the run instead of silently training with the default. This module imports no
torch, so a config can be checked before anything heavy loads.
"""

from __future__ import annotations

import json
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


class ConfigError(ValueError):
    """A config that does not parse: unknown key, wrong type, unknown model."""


# The validation metrics a run can monitor, each with its direction: "auc-logloss" is AUC minus log-loss
# (FuxiCTR's default), which prefers the better-ranking epoch unless its probabilities got worse.
MONITORS = {"auc-logloss": "max", "auc": "max", "logloss": "min"}
CALIBRATIONS = ("none", "temperature", "platt")


@dataclass(frozen=True)
class TrainingParams:
    batch_size: int = 2048
    eval_batch_size: int = 8192
    lr: float = 0.002
    emb_l2: float = 0.0  # L2 on the embedding rows looked up in a batch
    max_epochs: int = 10  # the epoch cap; the log says when it, not early stopping, ended training
    monitor: str = "auc-logloss"  # validation metric for checkpoints, early stopping and LR decay (MONITORS)
    patience: int = 2  # epochs without a better monitored value before early stopping
    lr_decay_factor: float = 0.5  # lr x this after lr_patience epochs without improvement (1: constant lr)
    lr_patience: int = 1
    min_lr: float = 1e-6  # the decay stops here
    calibration: str = "none"  # post-hoc, fitted on validation logits: none | temperature | platt
    seed: int = 42
    log_every: int = 0  # a log line every N steps (0: per epoch only)
    epoch_rows: int = 0  # > 0: each epoch is a fresh random sample of this many train rows
    threads: int = 0  # torch intra-op threads (0: torch's default; MMCTR_THREADS overrides)
    restarts: int = 1  # K initialisations train one epoch each; the best goes on

    def __post_init__(self) -> None:
        if self.monitor not in MONITORS:
            raise ConfigError(f"monitor must be one of {', '.join(MONITORS)}, not {self.monitor!r}")
        if self.calibration not in CALIBRATIONS:
            raise ConfigError(f"calibration must be one of {', '.join(CALIBRATIONS)}, not {self.calibration!r}")
        if not 0 < self.lr_decay_factor <= 1:
            raise ConfigError(f"lr_decay_factor must be in (0, 1], not {self.lr_decay_factor}")
        for key in ("patience", "lr_patience", "max_epochs"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be at least 1, not {getattr(self, key)}")


# Keys a model section may set to override the training section for that model only.
TRAINING_OVERRIDES = ("lr", "emb_l2", "batch_size", "max_epochs", "patience", "epoch_rows")


@dataclass(frozen=True)
class ModelParams:
    """What every model reads, plus per-model overrides of the training section (None: the section's value)."""

    history_length: int = 0  # > 0: the model reads only the newest k history slots
    lr: float | None = None
    emb_l2: float | None = None
    batch_size: int | None = None
    max_epochs: int | None = None
    patience: int | None = None
    epoch_rows: int | None = None

    def training(self, base: TrainingParams) -> TrainingParams:
        """The training section with this model's overrides applied."""
        return replace(base, **{k: getattr(self, k) for k in TRAINING_OVERRIDES if getattr(self, k) is not None})

    def architecture(self) -> dict[str, Any]:
        """The hyper-parameters without the training overrides (metrics.json `params`)."""
        return {k: v for k, v in self.to_json().items() if k not in TRAINING_OVERRIDES}

    def to_json(self) -> dict[str, Any]:
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        return {k: v for k, v in out.items() if not (k in TRAINING_OVERRIDES and v is None)}


@dataclass(frozen=True)
class LRParams(ModelParams):
    pass


@dataclass(frozen=True)
class EmbeddingModelParams(ModelParams):
    """Options of the models built on field embeddings (AutoInt+, DIN, QIN); docs/trainer.md explains each."""

    embedding_dim: int = 64
    mm_norm: str = "none"  # "layer": LayerNorm (no affine) on the projected vector
    item_id_dropout: float = 0.0
    user_id: bool = True  # false: leave the user-id embedding out of the input
    history_age: bool = False  # learned weight per click-age bucket on the history
    history_rank: bool = False  # and per history slot (needs history_age)
    dropout: float = 0.1
    batch_norm: bool = True

    def __post_init__(self) -> None:
        if self.mm_norm not in ("none", "layer"):
            raise ConfigError(f"mm_norm must be 'none' or 'layer', not {self.mm_norm!r}")


@dataclass(frozen=True)
class AutoIntParams(EmbeddingModelParams):
    attention_layers: int = 3
    attention_dim: int | None = None  # None: embedding_dim
    heads: int = 2
    hidden: tuple[int, ...] = (400, 400)


@dataclass(frozen=True)
class DINParams(EmbeddingModelParams):
    attention_hidden: tuple[int, ...] = (80, 40)
    hidden: tuple[int, ...] = (200, 80)


@dataclass(frozen=True)
class QINParams(EmbeddingModelParams):
    attention_factor: int = 2  # attention width A = factor x item width
    layers: int = 4
    rows: int = 4
    mm_similarity: bool = False  # add w * cos(candidate vector, history vector) to the attention scores


MODEL_PARAMS: dict[str, type[ModelParams]] = {
    "lr": LRParams,
    "autoint": AutoIntParams,
    "din": DINParams,
    "qin": QINParams,
}


def _coerce(value: Any, tp: Any, key: str, where: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(value, inner, key, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"key {key!r} {where} must be a list, not {value!r}")
        return tuple(_coerce(v, args[0], key, where) for v in value)
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }[tp]
    if not ok:
        raise ConfigError(f"key {key!r} {where} must be {tp.__name__}, not {value!r}")
    return float(value) if tp is float else value


def parse_params(cls: type[Any], raw: Mapping[str, Any], where: str) -> Any:
    """`cls` from a JSON object; an unknown key or a value of the wrong type raises ConfigError naming it."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be an object, not {raw!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    for key in raw:
        if key not in names:
            raise ConfigError(f"unknown key {key!r} {where}; known: {', '.join(sorted(names))}")
    return cls(**{k: _coerce(v, hints[k], k, where) for k, v in raw.items()})


def model_params(name: str, raw: Mapping[str, Any] | ModelParams) -> ModelParams:
    """The typed parameters of model `name` (a dataclass passes through when it is that model's)."""
    if name not in MODEL_PARAMS:
        raise ConfigError(f"unknown model {name!r}; one of {sorted(MODEL_PARAMS)}")
    cls = MODEL_PARAMS[name]
    if isinstance(raw, ModelParams):
        if type(raw) is not cls:
            raise ConfigError(f"{type(raw).__name__} given for model {name}, which takes {cls.__name__}")
        return raw
    return parse_params(cls, raw, f"for model {name}")


@dataclass(frozen=True)
class TrainerConfig:
    training: TrainingParams = field(default_factory=TrainingParams)
    models: Mapping[str, ModelParams] = field(default_factory=dict)
    description: str = ""

    @staticmethod
    def from_json(raw: Mapping[str, Any]) -> TrainerConfig:
        unknown = [k for k in raw if k not in ("description", "training", "models")]
        if unknown:
            raise ConfigError(f"unknown key {unknown[0]!r} in the config; known: description, models, training")
        models = raw.get("models", {})
        if not isinstance(models, Mapping):
            raise ConfigError(f"models must be an object, not {models!r}")
        return TrainerConfig(
            training=parse_params(TrainingParams, raw.get("training", {}), "in training"),
            models={name: model_params(name, section) for name, section in models.items()},
            description=str(raw.get("description", "")),
        )

    def model(self, name: str) -> ModelParams:
        """Model `name`'s parameters: its section, else every default."""
        return self.models[name] if name in self.models else model_params(name, {})

    def with_training(self, **changes: Any) -> TrainerConfig:
        return replace(self, training=replace(self.training, **changes))


def config_path(path: str | os.PathLike[str] | None = None) -> Path:
    """A path, or a name from apps/trainer/configs (default: default.json)."""
    p = Path(path) if path else CONFIG_DIR / "default.json"
    if not p.exists() and not p.suffix:
        p = CONFIG_DIR / f"{p}.json"
    return p


def config_names() -> list[str]:
    """The configs shipped in apps/trainer/configs, by the name --config accepts."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def load_config(path: str | os.PathLike[str] | None = None) -> TrainerConfig:
    p = config_path(path)
    try:
        return TrainerConfig.from_json(json.loads(p.read_text(encoding="utf-8")))
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from None
