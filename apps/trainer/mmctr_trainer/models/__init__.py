"""CTR models, one per file; `build_model(name, schema, params)` makes one."""

from __future__ import annotations

from typing import Any

from ..layers import CTRModel, ModelSchema
from .autoint import AutoIntPlus
from .din import DIN
from .lr import LR
from .qin import QIN

MODELS: dict[str, type[CTRModel]] = {"lr": LR, "autoint": AutoIntPlus, "din": DIN, "qin": QIN}


def build_model(name: str, schema: ModelSchema, params: dict[str, Any]) -> CTRModel:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; one of {sorted(MODELS)}")
    return MODELS[name](schema, params)


__all__ = ["MODELS", "build_model", "LR", "AutoIntPlus", "DIN", "QIN"]
