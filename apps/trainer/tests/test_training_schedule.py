"""The monitored metric, early stopping and LR decay on plateau: the schedule's bookkeeping on crafted values,
then train_model on a small tabular set (what it logs, how it ends, the lr each epoch trained with)."""

from __future__ import annotations

import pytest

from mmctr_trainer.config import ConfigError, TrainerConfig
from mmctr_trainer.tabular import TabularSet
from mmctr_trainer.train import train_model
from mmctr_trainer.training.monitor import Monitor, Schedule

from .tabular_data import ctr_rows, write_csv


def test_each_monitor_has_its_value_and_direction():
    entry = {"val_auc": 0.8, "val_logloss": 0.3}
    assert Monitor("auc-logloss").value(entry) == pytest.approx(0.5) and Monitor("auc-logloss").mode == "max"
    assert Monitor("auc").value(entry) == 0.8 and Monitor("auc").mode == "max"
    assert Monitor("logloss").value(entry) == 0.3 and Monitor("logloss").mode == "min"
    assert Monitor("logloss").better(0.29, 0.3) and not Monitor("logloss").better(0.31, 0.3)
    assert Monitor("auc").better(0.81, 0.8) and not Monitor("auc").better(0.8, 0.8)  # equal is no improvement
    # a one-class validation split has no AUC: the maximised monitors fall back to minus log-loss
    assert Monitor("auc").value({"val_auc": None, "val_logloss": 0.3}) == -0.3
    with pytest.raises(ValueError, match="monitor must be one of auc-logloss, auc, logloss"):
        Monitor("accuracy")


def test_auc_minus_logloss_prefers_the_epoch_whose_probabilities_did_not_get_worse():
    # epoch 2 ranks a little better but its log-loss got much worse: AUC alone would keep it
    first, second = {"val_auc": 0.850, "val_logloss": 0.40}, {"val_auc": 0.852, "val_logloss": 0.45}
    assert Monitor("auc").better(Monitor("auc").value(second), Monitor("auc").value(first))
    m = Monitor("auc-logloss")
    assert not m.better(m.value(second), m.value(first))


def test_early_stopping_keeps_the_best_epoch_and_stops_after_patience():
    s = Schedule(Monitor("auc"), lr=0.01, patience=2)
    verdicts = [s.step(v) for v in (0.70, 0.75, 0.74, 0.76, 0.75, 0.75)]
    assert [v.improved for v in verdicts] == [True, True, False, True, False, False]
    assert [v.stop for v in verdicts] == [False] * 5 + [True]
    assert [v.bad_epochs for v in verdicts] == [0, 0, 1, 0, 1, 2]
    assert s.best == 0.76 and s.best_epoch == 4 and not s.still_improving()
    assert all(v.lr == 0.01 for v in verdicts)  # the default factor 1 keeps the lr


def test_the_lr_decays_after_lr_patience_epochs_without_improvement_down_to_min_lr():
    s = Schedule(Monitor("logloss"), lr=0.01, patience=10, lr_decay_factor=0.1, lr_patience=2, min_lr=5e-5)
    lrs, decayed = [], []
    for v in (0.50, 0.51, 0.52, 0.49, 0.50, 0.50, 0.50, 0.50, 0.50, 0.50):
        verdict = s.step(v)
        lrs.append(verdict.lr)
        decayed.append(verdict.decayed)
    # epochs 2-3 without improvement: decay; 4 improves; 5-6: decay; 7-8: decay to the floor; 9-10: at the floor
    assert lrs == pytest.approx([0.01, 0.01, 1e-3, 1e-3, 1e-3, 1e-4, 1e-4, 5e-5, 5e-5, 5e-5])
    assert decayed == [False, False, True, False, False, True, False, True, False, False]
    assert s.best_epoch == 4


def test_the_decay_never_raises_an_lr_already_below_min_lr():
    s = Schedule(Monitor("auc"), lr=1e-7, patience=5, lr_decay_factor=0.1, lr_patience=1, min_lr=1e-6)
    s.step(0.8)
    assert s.step(0.7).lr == 1e-7


def test_no_decay_on_the_epoch_that_stops_training():
    s = Schedule(Monitor("auc"), lr=0.01, patience=1, lr_decay_factor=0.5, lr_patience=1)
    s.step(0.8)
    v = s.step(0.7)
    assert v.stop and not v.decayed and v.lr == 0.01


def test_the_config_checks_the_schedule_keys():
    with pytest.raises(ConfigError, match="monitor must be one of auc-logloss, auc, logloss, not 'acc'"):
        TrainerConfig.from_json({"training": {"monitor": "acc"}})
    with pytest.raises(ConfigError, match="calibration must be one of none, temperature, platt"):
        TrainerConfig.from_json({"training": {"calibration": "isotonic"}})
    with pytest.raises(ConfigError, match="lr_decay_factor must be in"):
        TrainerConfig.from_json({"training": {"lr_decay_factor": 1.5}})
    with pytest.raises(ConfigError, match="patience must be at least 1"):
        TrainerConfig.from_json({"training": {"patience": 0}})
    tp = TrainerConfig.from_json({}).training
    assert (tp.monitor, tp.calibration, tp.lr_decay_factor, tp.lr_patience) == ("auc-logloss", "none", 0.5, 1)


@pytest.fixture(scope="module")
def tabular(tmp_path_factory):
    path = write_csv(tmp_path_factory.mktemp("ctr") / "ctr.csv", ctr_rows(1500))
    return TabularSet(path, "clicked", ["site", "app", "hour"], buckets=256)


def _train(data, **training):
    cfg = TrainerConfig().with_training(batch_size=128, threads=1, lr=training.pop("lr", 0.02), **training)
    lines: list[str] = []
    return train_model("lr", data.schema, data, cfg, log=lines.append), lines


def test_a_run_without_progress_stops_early_after_patience_and_keeps_epoch_one(tabular):
    res, lines = _train(tabular, lr=0.0, max_epochs=8, patience=2)  # lr 0: every epoch scores as the first
    m = res.metrics
    assert m["epochs"] == 3 and m["best_epoch"] == 1
    assert m["stop"] == {"reason": "patience", "epoch": 3, "still_improving": False}
    assert any(line.startswith("[train] early stop after patience: 2 epochs without improvement") for line in lines)
    epoch_lines = [line for line in lines if line.startswith("[train] epoch ")]
    assert len(epoch_lines) == 3 and "improved" in epoch_lines[0] and "no improvement for 2/2" in epoch_lines[2]
    assert all(" lr " in line and "auc-logloss" in line for line in epoch_lines)


def test_the_epoch_cap_says_it_ended_training_while_still_improving(tabular):
    res, lines = _train(tabular, max_epochs=1)
    assert res.metrics["stop"] == {"reason": "epoch_cap", "epoch": 1, "still_improving": True}
    assert "[train] stopped by the epoch cap at 1 while still improving" in "\n".join(lines)
    assert res.metrics["monitor"]["name"] == "auc-logloss" and res.metrics["monitor"]["mode"] == "max"


def test_the_epoch_cap_says_so_after_epochs_without_improvement_within_patience(tabular):
    res, lines = _train(tabular, lr=0.0, max_epochs=2, patience=5)  # lr 0: epoch 2 scores as epoch 1
    assert res.metrics["stop"] == {"reason": "epoch_cap", "epoch": 2, "still_improving": False}
    assert res.metrics["best_epoch"] == 1
    ending = [line for line in lines if line.startswith("[train] stopped by the epoch cap at 2 (best epoch 1, ")]
    assert len(ending) == 1 and ending[0].endswith("epochs without improvement: 1 of patience 5)")
    assert not any("early stop" in line for line in lines)


def test_every_epoch_trains_with_the_lr_the_schedule_set(tabular):
    res, _ = _train(tabular, monitor="logloss", lr=0.05, max_epochs=6, patience=6, lr_decay_factor=0.5, lr_patience=1)
    replay, expected, best = Schedule(Monitor("logloss"), 0.05, 6, 0.5, 1, 1e-6), [0.05], float("inf")
    for h in res.history:
        assert h["improved"] == (h["logloss"] < best)
        best = min(best, h["logloss"])
        expected.append(replay.step(h["logloss"]).lr)
    assert [h["lr"] for h in res.history] == pytest.approx(expected[:-1])
    assert len({h["lr"] for h in res.history}) > 1  # the run hit a plateau: the decay was exercised
    best_epoch = min(res.history, key=lambda h: h["logloss"])
    assert res.metrics["best_epoch"] == best_epoch["epoch"]
    # the best epoch's weights came back: the final validation log-loss is that epoch's
    assert res.metrics["val"]["logloss"] == pytest.approx(best_epoch["val_logloss"], abs=1e-6)
