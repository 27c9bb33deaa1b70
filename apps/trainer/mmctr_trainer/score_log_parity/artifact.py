"""The artifact a parity check runs: its folder (resolved as the scorer resolves it) and its ONNX graph."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np

from ..ch import ClickHouse
from ..onnx_scorer import OnnxScorer
from ..registry import artifact_uri, registry_root
from ..registry import production_version as registered_production_version
from ..schema import ModelSchema


class ParityError(RuntimeError):
    """A problem that stops the check before any row is compared (no artifact, no model row, ...)."""


def resolve_artifact(
    ch: ClickHouse | None,
    version: str,
    *,
    artifact: str | None = None,
    registry: str | None = None,
    model_root: str | None = None,
) -> Path:
    """The artifact folder of `version`: --artifact, else <registry>/<version>, else the `models` row's
    artifact_uri (absolute, file:// or relative to model_root / SCORER_MODEL_ROOT / the working directory,
    as the scorer resolves it), else <MMCTR_REGISTRY or .local/registry>/<version>."""
    if artifact:
        return _checked(Path(artifact))
    if registry:
        return _checked(Path(registry) / version)
    uri = artifact_uri(ch, version) if ch is not None else None
    if uri is not None:
        if uri.startswith("file://"):
            p = Path(unquote(urlparse(uri).path))
        else:
            p = Path(uri)
            if not p.is_absolute():
                p = Path(model_root or os.environ.get("SCORER_MODEL_ROOT") or ".") / p
        return _checked(p)
    return _checked(registry_root(None) / version)


def _checked(folder: Path) -> Path:
    if not (folder / "layout.json").exists():
        raise ParityError(f"{folder}: no layout.json (not a model artifact folder)")
    if not (folder / "feature_repo.json").exists():
        raise ParityError(f"{folder}: no feature_repo.json (not trained on a feature repository)")
    return folder.resolve()


def production_version(ch: ClickHouse) -> str:
    version = registered_production_version(ch)
    if version is None:
        raise ParityError(f"no production model in {ch.database}.models; give --model-version")
    return version


class OnnxRunner(OnnxScorer):
    """An artifact's model.onnx with its inputs checked against the layout's; returns the CTRs as a flat float32
    array."""

    def __init__(self, path: str | Path, schema: ModelSchema, threads: int = 1):
        super().__init__(path, threads=max(1, int(threads)))
        if self.input_names != schema.input_names:
            raise ParityError(f"{path}: inputs {self.input_names} are not the layout's {schema.input_names}")

    def __call__(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.run(feeds), dtype=np.float32).reshape(-1)
