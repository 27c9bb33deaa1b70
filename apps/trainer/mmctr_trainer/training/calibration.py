"""Post-hoc calibration of a trained model's logits, fitted on the validation split: temperature scaling
(z -> a z) or Platt scaling (z -> a z + b), each by Newton's method on the log-loss. With a > 0 the map is
monotone, so it leaves every AUC unchanged and only moves the probabilities.

`Calibrated` wraps a model so that the map is part of its graph: the ONNX export, the int8 graph, the
scorer and the parity check all see the calibrated CTR."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

METHODS = ("temperature", "platt")


@dataclass(frozen=True)
class Calibration:
    """ctr = sigmoid(scale * logit + bias)."""

    method: str
    scale: float
    bias: float

    def logits(self, z: np.ndarray) -> np.ndarray:
        return self.scale * np.asarray(z, dtype=np.float64) + self.bias

    def probs(self, z: np.ndarray) -> np.ndarray:
        return sigmoid(self.logits(z))

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "scale": self.scale, "bias": self.bias}


class CalibrationError(ValueError):
    """The validation logits cannot be calibrated (one class only, or no positive scale fits)."""


def sigmoid(s: np.ndarray) -> np.ndarray:
    """Logits -> probabilities, in float64."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(s, dtype=np.float64)))  # no overflow warning for large |s|


def _nll(s: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.logaddexp(0.0, s) - y * s))


def fit_calibration(method: str, logits: np.ndarray, labels: np.ndarray, iters: int = 100) -> Calibration:
    """The scale (and for Platt the bias) minimising the log-loss of sigmoid(scale * logit + bias) on these rows."""
    if method not in METHODS:
        raise ValueError(f"calibration method must be one of {', '.join(METHODS)}, not {method!r}")
    z, y = np.asarray(logits, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    if len(z) != len(y):
        raise ValueError(f"{len(z)} logits but {len(y)} labels")
    if not 0 < y.sum() < len(y):
        raise CalibrationError(f"calibration needs both classes in the validation split ({int(y.sum())}/{len(y)})")
    x = np.stack([z, np.ones_like(z)], 1) if method == "platt" else z[:, None]
    w = np.zeros(x.shape[1])
    w[0] = 1.0  # start from the identity map
    loss = _nll(x @ w, y)
    for _ in range(iters):
        p = sigmoid(x @ w)
        grad = x.T @ (p - y) / len(y)
        hess = (x * (p * (1 - p))[:, None]).T @ x / len(y) + 1e-9 * np.eye(len(w))
        step, t = np.linalg.solve(hess, grad), 1.0
        while t > 1e-8 and _nll(x @ (w - t * step), y) > loss:  # backtracking: the loss never goes up
            t /= 2
        w_new = w - t * step
        new_loss = _nll(x @ w_new, y)
        done = loss - new_loss < 1e-12
        w, loss = (w_new, new_loss) if new_loss <= loss else (w, loss)
        if done:
            break
    if w[0] <= 0:
        raise CalibrationError(
            f"the fitted scale is {w[0]:.4g} (not positive: the validation ranking is no better "
            "than chance), so no monotone calibration exists"
        )
    return Calibration(method, float(w[0]), float(w[1]) if method == "platt" else 0.0)


class Calibrated(nn.Module):
    """A model whose logits go through the calibration map: logits(*x) = scale * model.logits(*x) + bias,
    forward = sigmoid(logits). Every other attribute (schema, params, model_type, prepare_for_export's
    result, the batch graph's user_rows) is the wrapped model's, so the exporter treats it as that model."""

    def __init__(self, model: nn.Module, calibration: Calibration):
        super().__init__()
        # own names, registered before the model: attributes the wrapper lacks are looked up on the model (LR has
        # a `bias` of its own)
        self.register_buffer("calibration_scale", torch.tensor(calibration.scale, dtype=torch.float32))
        self.register_buffer("calibration_bias", torch.tensor(calibration.bias, dtype=torch.float32))
        self.model = model
        self.calibration = calibration

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "model" or name.startswith("__"):
                raise
            return getattr(self.model, name)

    @property
    def user_rows(self) -> Tensor | None:
        return self.model.user_rows

    @user_rows.setter
    def user_rows(self, rows: Tensor | None) -> None:
        self.model.user_rows = rows  # the batch graph sets it on the model it traces: pass it to the scorer inside

    def prepare_for_export(self) -> Calibrated:
        self.model = self.model.prepare_for_export()
        return self

    def logits(self, *inputs: Tensor) -> Tensor:
        return self.model.logits(*inputs) * self.calibration_scale + self.calibration_bias

    def forward(self, *inputs: Tensor) -> Tensor:
        return torch.sigmoid(self.logits(*inputs))


def calibrated(model: nn.Module, calibration: Calibration | None) -> nn.Module:
    """The model with the calibration in its graph (the model itself without one)."""
    return model if calibration is None else Calibrated(model, calibration)
