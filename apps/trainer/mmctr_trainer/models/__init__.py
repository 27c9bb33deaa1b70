"""CTR models, one per file; `build_model(name, schema, params)` makes one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config import ModelParams, model_params
from ..schema import ModelSchema
from .autoint import AutoIntPlus
from .base import CTRModel
from .din import DIN
from .lr import LR
from .qin import QIN

MODELS: dict[str, type[CTRModel]] = {"lr": LR, "autoint": AutoIntPlus, "din": DIN, "qin": QIN}


def build_model(name: str, schema: ModelSchema, params: ModelParams | Mapping[str, Any]) -> CTRModel:
    """Model `name` with its typed parameters (a JSON object is parsed: an unknown key raises ConfigError)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; one of {sorted(MODELS)}")
    return MODELS[name](schema, model_params(name, params))


__all__ = ["MODELS", "CTRModel", "build_model", "LR", "AutoIntPlus", "DIN", "QIN"]
