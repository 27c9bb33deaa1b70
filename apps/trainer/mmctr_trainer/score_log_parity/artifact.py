"""The artifact a parity check runs: its folder (resolved as the scorer resolves it) and its ONNX graph."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np

from ..ch import ClickHouse
from ..features import INPUT_NAMES, OPTIONAL_INPUTS
from ..onnx_scorer import OnnxScorer
from ..registry import artifact_uri, registry_root
from ..registry import production_version as registered_production_version


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
    if not (folder / "feature_spec.json").exists():
        raise ParityError(f"{folder}: no feature_spec.json (not a model artifact folder)")
    return folder.resolve()


def production_version(ch: ClickHouse) -> str:
    version = registered_production_version(ch)
    if version is None:
        raise ParityError(f"no production model in {ch.database}.models; give --model-version")
    return version


class OnnxRunner(OnnxScorer):
    """An artifact's model.onnx with the serving signature checked; returns the CTRs as a flat float32 array."""

    def __init__(self, path: str | Path, threads: int = 1):
        super().__init__(path, threads=max(1, int(threads)))
        names = {i.name for i in self.session.get_inputs()}
        missing = [n for n in INPUT_NAMES if n not in names and n not in OPTIONAL_INPUTS]
        if missing:
            raise ParityError(f"{path}: inputs {missing} missing (not the serving signature)")

    def __call__(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.run(feeds), dtype=np.float32).reshape(-1)
