"""The monitored validation metric and the schedule it drives: the best epoch (the checkpoint kept), early
stopping after `patience` epochs without improvement and LR decay on plateau (ReduceLROnPlateau-like).

The schedule is pure bookkeeping over the per-epoch values, so it is tested without training anything."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import MONITORS, TrainingParams


@dataclass(frozen=True)
class Monitor:
    """A validation metric and its direction (`MONITORS`: auc-logloss and auc are maximised, logloss minimised)."""

    name: str = "auc-logloss"

    def __post_init__(self) -> None:
        if self.name not in MONITORS:
            raise ValueError(f"monitor must be one of {', '.join(MONITORS)}, not {self.name!r}")

    @property
    def mode(self) -> str:
        return MONITORS[self.name]

    def value(self, entry: Mapping[str, Any]) -> float:
        """The metric of an epoch's `val_auc` / `val_logloss`. A validation split of one class has no AUC: then
        every monitor falls back to log-loss, negated where the monitor is maximised."""
        v_auc, v_loss = entry.get("val_auc"), float(entry["val_logloss"])
        if self.name == "logloss":
            return v_loss
        if v_auc is None:
            return -v_loss
        return float(v_auc) - v_loss if self.name == "auc-logloss" else float(v_auc)

    def better(self, value: float, best: float | None) -> bool:
        """Strictly better than `best` (None: nothing seen yet)."""
        if best is None:
            return True
        return value > best if self.mode == "max" else value < best


@dataclass(frozen=True)
class Verdict:
    """What one epoch's value decided: whether it improved (its weights become the checkpoint), the epochs
    since the last improvement, whether training stops now, and the learning rate of the next epoch."""

    improved: bool
    bad_epochs: int
    stop: bool
    lr: float
    decayed: bool


class Schedule:
    """Feed it each epoch's monitored value in order (`step`); it keeps the best epoch, counts epochs without
    improvement for early stopping (`patience`) and, separately, since the last improvement or decay for the
    learning rate: after `lr_patience` of those the lr becomes max(lr x lr_decay_factor, min_lr)."""

    def __init__(
        self,
        monitor: Monitor,
        lr: float,
        patience: int,
        lr_decay_factor: float = 1.0,
        lr_patience: int = 1,
        min_lr: float = 0.0,
    ):
        self.monitor, self.lr, self.patience = monitor, lr, patience
        self.factor, self.lr_patience, self.min_lr = lr_decay_factor, lr_patience, min_lr
        self.best: float | None = None
        self.best_epoch = 0
        self.epoch = 0
        self.bad_epochs = 0
        self._since_decay = 0

    @staticmethod
    def of(tp: TrainingParams) -> Schedule:
        return Schedule(Monitor(tp.monitor), tp.lr, tp.patience, tp.lr_decay_factor, tp.lr_patience, tp.min_lr)

    def step(self, value: float) -> Verdict:
        self.epoch += 1
        improved = self.monitor.better(value, self.best)
        if improved:
            self.best, self.best_epoch, self.bad_epochs, self._since_decay = value, self.epoch, 0, 0
        else:
            self.bad_epochs += 1
            self._since_decay += 1
        stop = self.bad_epochs >= self.patience
        decayed = False
        if not stop and self._since_decay >= self.lr_patience:
            new_lr = min(self.lr, max(self.lr * self.factor, self.min_lr))  # never up to min_lr from below
            decayed, self._since_decay = new_lr < self.lr, 0
            self.lr = new_lr
        return Verdict(improved, self.bad_epochs, stop, self.lr, decayed)

    def still_improving(self) -> bool:
        """The last epoch stepped was the best so far."""
        return self.epoch > 0 and self.best_epoch == self.epoch
