"""Post-hoc calibration: temperature and Platt scaling fitted on synthetic logits lower the log-loss and
recover the distortion; the wrapper puts the map into the exported ONNX graphs; train_model reports the
metrics with and without it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmctr_trainer.config import TrainerConfig
from mmctr_trainer.export import OnnxScorer, example_inputs, export_batch_onnx, export_onnx
from mmctr_trainer.metrics import auc, logloss
from mmctr_trainer.models import build_model
from mmctr_trainer.tabular import TabularSet
from mmctr_trainer.train import predict, train_model
from mmctr_trainer.training.calibration import (
    Calibrated,
    Calibration,
    CalibrationError,
    calibrated,
    fit_calibration,
    sigmoid,
)

from .helpers import tiny_schema
from .tabular_data import ctr_rows, write_csv


def _distorted(scale: float, bias: float, n: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from true logits t, and the logits an over-confident, shifted model reports: (t - bias) / scale."""
    r = np.random.default_rng(seed)
    t = r.normal(-1.5, 1.5, n)
    y = (r.random(n) < sigmoid(t)).astype(np.float32)
    return (t - bias) / scale, y


@pytest.mark.parametrize("method", ["temperature", "platt"])
def test_the_fit_lowers_the_log_loss_and_keeps_the_auc(method):
    z, y = _distorted(scale=0.5, bias=0.0 if method == "temperature" else -0.7)
    cal = fit_calibration(method, z, y)
    before, after = logloss(y, sigmoid(z)), logloss(y, cal.probs(z))
    assert after < before - 0.01
    assert auc(y, cal.probs(z)) == pytest.approx(auc(y, sigmoid(z)), abs=1e-12)
    # it recovers the distortion: scale 0.5 over-confident logits need a = 0.5 (and Platt b = -0.7)
    assert cal.scale == pytest.approx(0.5, abs=0.03)
    assert cal.bias == (pytest.approx(-0.7, abs=0.05) if method == "platt" else 0.0)


def test_platt_beats_temperature_when_the_model_is_shifted():
    z, y = _distorted(scale=1.0, bias=-1.0)
    t, p = fit_calibration("temperature", z, y), fit_calibration("platt", z, y)
    assert logloss(y, p.probs(z)) < logloss(y, t.probs(z)) - 0.005


def test_a_calibrated_model_stays_where_it_is():
    z, y = _distorted(scale=1.0, bias=0.0)
    cal = fit_calibration("platt", z, y)
    assert cal.scale == pytest.approx(1.0, abs=0.05) and cal.bias == pytest.approx(0.0, abs=0.05)


def test_calibration_refuses_what_it_cannot_fit():
    with pytest.raises(CalibrationError, match="both classes"):
        fit_calibration("platt", np.zeros(10), np.zeros(10))
    z, y = _distorted(scale=-1.0, bias=0.0)  # a model that ranks backwards
    with pytest.raises(CalibrationError, match="not positive"):
        fit_calibration("temperature", z, y)
    with pytest.raises(ValueError, match="calibration method must be one of temperature, platt"):
        fit_calibration("isotonic", z, y)


@pytest.fixture(scope="module")
def tabular(tmp_path_factory):
    path = write_csv(tmp_path_factory.mktemp("ctr") / "ctr.csv", ctr_rows(1200, seed=3))
    return TabularSet(path, "clicked", ["site", "app", "hour"], buckets=128)


def test_the_wrapper_puts_the_map_into_the_exported_graph(tabular, tmp_path):
    torch.manual_seed(0)
    model = build_model("din", tabular.schema, TrainerConfig().model("din")).eval()
    cal = Calibration("platt", 0.6, -0.4)
    wrapped = calibrated(model, cal)
    assert isinstance(wrapped, Calibrated) and calibrated(model, None) is model
    assert wrapped.schema is model.schema and wrapped.model_type == "din"
    raw = predict(model, tabular, "test", 64, logits=True)
    expected = cal.probs(raw)
    assert np.abs(predict(wrapped, tabular, "test", 64) - expected).max() < 1e-6
    onnx = OnnxScorer(export_onnx(wrapped, tmp_path / "model.onnx")).predict(tabular, "test", 64)
    assert np.abs(onnx - expected).max() < 1e-5


def test_the_batch_graph_keeps_the_map_and_each_candidates_user_row(tmp_path):
    """The micro-batching graph on a layout with user and sequence inputs: the wrapper hands the candidates' user
    rows to the model inside, and each candidate gets its own user's calibrated CTR."""
    torch.manual_seed(0)
    schema = tiny_schema(L=4, D=4)
    model = build_model("din", schema, TrainerConfig().model("din")).eval()
    wrapped = calibrated(model, Calibration("platt", 0.6, -0.4))
    batch = OnnxScorer(export_batch_onnx(wrapped, tmp_path / "model.batch.onnx"))
    assert wrapped.user_rows is None and model.user_rows is None
    x = example_inputs(schema, batch=6, user_batch=3, seed=1)
    cand_user = np.asarray([0, 0, 1, 1, 2, 2])
    got = batch.run({**x, "cand_user": cand_user})
    # one user row per candidate (Bu = B): the same CTRs, computed without cand_user
    per_row = {k: v[cand_user] if not k.startswith("cand_") else v for k, v in x.items()}
    with torch.no_grad():
        expected = wrapped(*(torch.from_numpy(per_row[n]) for n in schema.input_names)).numpy()
    assert np.abs(got - expected).max() < 1e-5


def test_train_model_reports_the_log_loss_with_and_without_calibration(tabular):
    cfg = TrainerConfig().with_training(
        batch_size=64, lr=0.05, max_epochs=4, patience=4, threads=1, calibration="platt"
    )
    lines: list[str] = []
    res = train_model("lr", tabular.schema, tabular, cfg, log=lines.append)
    c = res.metrics["calibration"]
    assert res.calibration is not None and c["method"] == "platt" and c["scale"] == res.calibration.scale
    # fitted on validation: its log-loss there cannot get worse; the headline metrics are the calibrated model's
    assert c["calibrated"]["val_logloss"] <= c["uncalibrated"]["val_logloss"] + 1e-9
    assert res.metrics["val"]["logloss"] == c["calibrated"]["val_logloss"]
    assert res.metrics["test"]["logloss"] == c["calibrated"]["test_logloss"]
    raw_test = sigmoid(predict(res.model, tabular, "test", 256, logits=True))
    assert res.metrics["test"]["auc"] == pytest.approx(auc(tabular.labels("test"), raw_test), abs=1e-9)
    assert any(line.startswith("[calibration] platt: ctr = sigmoid(") for line in lines)
