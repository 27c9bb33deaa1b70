"""Training loop: Adam, the monitored validation metric driving the checkpoint, early stopping and LR decay
on plateau (training/monitor.py), optional post-hoc calibration (training/calibration.py), metrics (AUC /
log-loss overall and on cold-start items, training time).

`train_model` runs named phases: set up (device, threads, the model's effective training parameters),
initialise (one run per restart seed, the best first epoch goes on), train on the schedule, the final
metrics of the best epoch's weights and, when configured, the calibration fitted on the validation split."""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import ModelParams, TrainerConfig, TrainingParams
from .data_source import DataSource
from .fitting import fit_encoders
from .metrics import auc, logloss
from .models import CTRModel, build_model
from .schema import ModelSchema
from .training.calibration import Calibration, CalibrationError, fit_calibration, sigmoid
from .training.monitor import Monitor, Schedule, Verdict


def pick_device() -> torch.device:
    want = os.environ.get("MMCTR_DEVICE", "")
    if want:
        return torch.device(want)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def tensors(batch: dict[str, np.ndarray], dev: torch.device, names: list[str]) -> list[torch.Tensor]:
    """The batch's inputs `names` (a model's input_names, in order) on `dev`."""
    return [torch.from_numpy(np.ascontiguousarray(batch[n])).to(dev) for n in names]


@torch.no_grad()
def predict(
    model: CTRModel,
    data: DataSource,
    split: str,
    batch_size: int,
    dev: torch.device | None = None,
    limit: int | None = None,
    logits: bool = False,
) -> np.ndarray:
    """The CTRs of a split's rows (their logits with `logits`)."""
    dev = dev or next(model.parameters()).device
    model.eval()
    fn = model.logits if logits else model
    batches = data.batches(split, batch_size, limit=limit)
    out = [fn(*tensors(b, dev, model.input_names)).float().cpu().numpy() for b in batches]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def evaluate(labels: np.ndarray, probs: np.ndarray, cold: np.ndarray | None = None) -> dict[str, Any]:
    m: dict[str, Any] = {
        "rows": int(len(labels)),
        "positives": int(np.sum(labels)),
        "auc": auc(labels, probs),
        "logloss": logloss(labels, probs) if len(labels) else None,
    }
    if cold is not None:
        c = cold.astype(bool)
        m["cold_rows"] = int(c.sum())
        m["cold_auc"] = auc(labels[c], probs[c]) if c.any() else None
        m["cold_logloss"] = logloss(labels[c], probs[c]) if c.any() else None
    return m


@dataclass
class TrainResult:
    model: CTRModel
    metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    # fitted on the validation split when the config asks for one; pipeline.py puts it into the exported graph
    calibration: Calibration | None = None


@dataclass
class _Run:
    """One initialisation: its seed, model, optimiser, shuffling stream and (between restarts) torch's RNG state."""

    seed: int
    model: CTRModel
    opt: torch.optim.Optimizer
    rng: np.random.Generator
    torch_state: tuple[torch.Tensor, list[torch.Tensor]] | None = None

    def save_torch_rng(self) -> None:
        self.torch_state = (
            torch.random.get_rng_state(),
            torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        )

    def restore_torch_rng(self) -> None:
        """Dropout draws from torch's global stream: the chosen run goes on as if it had run alone."""
        if self.torch_state is not None:
            torch.random.set_rng_state(self.torch_state[0])
            if self.torch_state[1]:
                torch.cuda.set_rng_state_all(self.torch_state[1])


class _Trainer:
    """One model's training: its parameters, device, data and the phases train_model runs in order."""

    def __init__(
        self,
        model_name: str,
        schema: ModelSchema,
        data: DataSource,
        params: ModelParams,
        tp: TrainingParams,
        log: Callable[[str], None],
    ):
        self.model_name, self.schema, self.data, self.params, self.tp, self.log = (
            model_name,
            schema,
            data,
            params,
            tp,
            log,
        )
        # threads: torch intra-op threads (0: torch's default, OMP_NUM_THREADS). On a 2-core box shared with
        # other work, 1 thread trained ~10x faster than 2 (OpenMP threads wait on each other).
        threads = int(os.environ.get("MMCTR_THREADS") or tp.threads or 0)
        if threads > 0:
            torch.set_num_threads(threads)
        self.dev = pick_device()
        self.bce = nn.BCEWithLogitsLoss()
        self.monitor = Monitor(tp.monitor)
        self.n_train = data.rows("train")
        # epoch_rows: train on a fresh random sample of this many rows per epoch (time-bounded demo runs)
        rows = min(tp.epoch_rows, self.n_train) if tp.epoch_rows > 0 else self.n_train
        self.steps_per_epoch = (rows + tp.batch_size - 1) // tp.batch_size

    def start(self, run_seed: int) -> _Run:
        torch.manual_seed(run_seed)
        model = build_model(self.model_name, self.schema, self.params).to(self.dev)
        return _Run(
            run_seed, model, torch.optim.Adam(model.parameters(), lr=self.tp.lr), np.random.default_rng(run_seed)
        )

    def run_epoch(self, run: _Run, epoch: int) -> dict[str, Any]:
        model, opt, tp = run.model, run.opt, self.tp
        model.train()
        te, losses = time.time(), []
        for step, batch in enumerate(self.data.batches("train", tp.batch_size, shuffle=True, rng=run.rng), 1):
            if step > self.steps_per_epoch:
                break
            if len(batch["label"]) < 2:
                continue
            xs = tensors(batch, self.dev, model.input_names)
            y = torch.from_numpy(batch["label"]).to(self.dev)
            loss = self.bce(model.logits(*xs), y)
            reg = model.reg_loss()
            if tp.emb_l2 > 0 and reg is not None:
                loss = loss + tp.emb_l2 * reg
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            if tp.log_every and step % tp.log_every == 0:
                self.log(
                    f"[train] epoch {epoch} step {step}/{self.steps_per_epoch} "
                    f"loss {np.mean(losses[-tp.log_every :]):.4f}"
                )
        model.reg_loss()  # drop what eval-free steps collected
        v = evaluate(self.data.labels("val"), predict(model, self.data, "val", tp.eval_batch_size, self.dev))
        entry = {
            "epoch": epoch,
            "train_loss": float(np.mean(losses)) if losses else None,
            "val_auc": v["auc"],
            "val_logloss": v["logloss"],
            "lr": opt.param_groups[0]["lr"],
            "seconds": round(time.time() - te, 2),
        }
        entry[self.monitor.name] = self.monitor.value(entry)
        return entry

    def report(self, entry: dict[str, Any], outcome: str) -> None:
        """One line per epoch: its metrics, the lr it trained with, and what the schedule made of it."""

        def f(x: Any) -> str:
            return "—" if x is None else f"{x:.4f}"

        self.log(
            f"[train] epoch {entry['epoch']}/{self.tp.max_epochs}: loss {f(entry['train_loss'])}, "
            f"val auc {f(entry['val_auc'])}, val logloss {f(entry['val_logloss'])}, "
            f"{self.monitor.name} {f(entry[self.monitor.name])}, lr {entry['lr']:.3g} ({entry['seconds']:.1f}s): "
            + outcome
        )

    def initialise(self) -> tuple[_Run, dict[str, Any], list[dict[str, Any]]]:
        """restarts: K initialisations (seeds seed, seed + 1, ...) each train one epoch and the best on the
        monitored metric goes on. A run can settle in a poor optimum from its first epoch (docs/model-quality.md:
        one QIN seed at 0.79 val AUC against 0.85); K = 1 (the default) trains one run. Returns the run, its first
        epoch and every seed's first-epoch AUC."""
        seed, restarts = self.tp.seed, max(1, self.tp.restarts)
        run = self.start(seed)
        if hasattr(self.data, "limit_history"):  # the model reads only its newest history_length slots: gather no more
            self.data.limit_history(run.model.max_history)
        n_params = sum(p.numel() for p in run.model.parameters())
        epoch_rows = self.tp.epoch_rows
        self.log(
            f"[train] {self.model_name}: {n_params:,} parameters, {self.n_train} train rows"
            + (f" ({min(epoch_rows, self.n_train)} sampled per epoch)" if epoch_rows > 0 else "")
            + f", batch {self.tp.batch_size}, device {self.dev}, monitor {self.monitor.name} ({self.monitor.mode})"
        )
        first = self.run_epoch(run, 1)
        run.save_torch_rng()
        tried = [{"seed": seed, "val_auc": first["val_auc"]}]
        for k in range(1, restarts):
            if k == 1:
                self.report(first, f"first epoch of seed {seed}")
            self.log(f"[train] restart {k + 1}/{restarts}: seed {seed + k}")
            other = self.start(seed + k)
            entry = self.run_epoch(other, 1)
            other.save_torch_rng()
            self.report(entry, f"first epoch of seed {seed + k}")
            tried.append({"seed": seed + k, "val_auc": entry["val_auc"]})
            if self.monitor.better(entry[self.monitor.name], first[self.monitor.name]):
                run, first = other, entry
        if restarts > 1:
            self.log(
                f"[train] best first epoch: seed {run.seed} ({self.monitor.name} {first[self.monitor.name]:.4f}); "
                "training it on"
            )
            run.restore_torch_rng()
        return run, first, tried

    def train_on(self, run: _Run, first: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Epochs 2.. on the schedule: until max_epochs or `patience` epochs without a better monitored value,
        the lr decaying on plateaus; leaves the best epoch's weights in the model. Returns the per-epoch history
        and how training ended."""
        model, history, schedule = run.model, [first], Schedule.of(self.tp)
        best_state = copy.deepcopy(model.state_dict())
        # with restarts the first epoch was reported with its seed already
        self._record(first, schedule.step(first[self.monitor.name]), schedule, report=self.tp.restarts <= 1)
        while not history[-1]["stop"] and len(history) < self.tp.max_epochs:
            for group in run.opt.param_groups:
                group["lr"] = schedule.lr
            history.append(self.run_epoch(run, len(history) + 1))
            if self._record(history[-1], schedule.step(history[-1][self.monitor.name]), schedule):
                best_state = copy.deepcopy(model.state_dict())
        model.load_state_dict(best_state)
        model.eval()
        return history, self._ending(history[-1], schedule)

    def _record(self, entry: dict[str, Any], verdict: Verdict, schedule: Schedule, report: bool = True) -> bool:
        """Notes the schedule's verdict in the epoch's entry and the log; True when the epoch improved."""
        entry.update(improved=verdict.improved, stop=verdict.stop)
        if not report:
            return verdict.improved
        if verdict.improved:
            outcome = "improved"
        else:
            outcome = (
                f"no improvement for {verdict.bad_epochs}/{self.tp.patience} epochs "
                f"(best {schedule.best:.4f} at epoch {schedule.best_epoch})"
            )
        self.report(entry, outcome + (f"; lr -> {verdict.lr:.3g}" if verdict.decayed else ""))
        return verdict.improved

    def _ending(self, last: dict[str, Any], schedule: Schedule) -> dict[str, Any]:
        """How training ended, logged: early stopping or the epoch cap (and whether the run was still improving)."""
        ending = {
            "reason": "patience" if last["stop"] else "epoch_cap",
            "epoch": last["epoch"],
            "best_epoch": schedule.best_epoch,
            "best": schedule.best,
            "still_improving": schedule.still_improving(),
        }
        best = f"best epoch {schedule.best_epoch}, {self.monitor.name} {schedule.best:.4f}"
        if last["stop"]:
            self.log(
                f"[train] early stop after patience: {schedule.bad_epochs} epochs without improvement "
                f"after epoch {last['epoch']} ({best})"
            )
        elif ending["still_improving"]:
            self.log(
                f"[train] stopped by the epoch cap at {last['epoch']} while still improving ({best}); "
                "a higher max_epochs may help"
            )
        else:
            self.log(
                f"[train] stopped by the epoch cap at {last['epoch']} ({best}; epochs without improvement: "
                f"{schedule.bad_epochs} of patience {self.tp.patience})"
            )
        return ending

    def final_metrics(self, model: CTRModel) -> tuple[dict[str, Any], Calibration | None]:
        """Validation and test metrics of the model as exported: calibrated when the config asks for it (the
        calibration fitted on the validation logits), with the uncalibrated log-loss alongside."""
        ebs, labels = self.tp.eval_batch_size, {s: self.data.labels(s) for s in ("val", "test")}
        logits = {s: predict(model, self.data, s, ebs, self.dev, logits=True) for s in ("val", "test")}
        cold = {"val": None, "test": self.data.cold("test")}
        raw = {s: evaluate(labels[s], sigmoid(logits[s]), cold[s]) for s in logits}
        if self.tp.calibration == "none":
            return raw, None
        try:
            cal = fit_calibration(self.tp.calibration, logits["val"], labels["val"])
        except CalibrationError as e:
            self.log(f"[calibration] {self.tp.calibration} skipped: {e}")
            return {**raw, "calibration": {"method": self.tp.calibration, "skipped": str(e)}}, None
        out = {s: evaluate(labels[s], cal.probs(logits[s]), cold[s]) for s in logits}
        out["calibration"] = {
            **cal.to_json(),
            "uncalibrated": {f"{s}_logloss": raw[s]["logloss"] for s in logits},
            "calibrated": {f"{s}_logloss": out[s]["logloss"] for s in logits},
        }
        self.log(
            f"[calibration] {cal.method}: ctr = sigmoid({cal.scale:.4f} * logit + {cal.bias:.4f}); log-loss "
            + ", ".join(f"{s} {raw[s]['logloss']:.4f} -> {out[s]['logloss']:.4f}" for s in logits if len(labels[s]))
            + " (AUC unchanged: the map is monotone)"
        )
        return out, cal


def train_model(
    model_name: str,
    schema: ModelSchema,
    data: DataSource,
    config: TrainerConfig,
    log: Callable[[str], None] = print,
    max_epochs: int | None = None,
) -> TrainResult:
    params = config.model(model_name)
    tp = params.training(config.training)
    if max_epochs is not None:
        tp = replace(tp, max_epochs=max_epochs)
    schema = fit_encoders(schema, data, log=log)  # the train split's vocabularies and stats (fitting.py)
    trainer = _Trainer(model_name, schema, data, params, tp, log)
    t0 = time.time()
    run, first, tried = trainer.initialise()
    history, ending = trainer.train_on(run, first)
    train_seconds = time.time() - t0
    model = run.model
    final, calibration = trainer.final_metrics(model)
    metrics = {
        "model": model_name,
        "params": params.architecture(),
        "training": asdict(tp),
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_seconds": round(train_seconds, 2),
        "epochs": len(history),
        "best_epoch": ending["best_epoch"],
        "monitor": {"name": tp.monitor, "mode": trainer.monitor.mode, "best": ending["best"]},
        "stop": {k: ending[k] for k in ("reason", "epoch", "still_improving")},
        "device": str(trainer.dev),
        "seed": run.seed,
        "restarts": tried,
        **final,
        "history": history,
    }
    return TrainResult(model, metrics, history, calibration)


def metrics_table(rows: list[dict[str, Any]]) -> str:
    """A markdown table of the models' metrics; a column no row has a value for (cold-start AUC on a CSV import,
    which has no cold-start rows) is left out."""

    def f(x: Any) -> str:
        return "—" if x is None else f"{x:.4f}" if isinstance(x, float) else str(x)

    columns: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
        ("model", lambda m: m.get("model")),
        ("test AUC", lambda m: m.get("test", {}).get("auc")),
        ("test log-loss", lambda m: m.get("test", {}).get("logloss")),
        ("cold-start AUC", lambda m: m.get("test", {}).get("cold_auc")),
        ("val AUC", lambda m: m.get("val", {}).get("auc")),
        ("int8 AUC Δ", lambda m: m.get("int8", {}).get("test_auc_delta")),
        ("train s", lambda m: m.get("train_seconds")),
        ("epochs", lambda m: m.get("epochs")),
    ]
    shown = [(name, get) for name, get in columns if any(get(m) is not None for m in rows)]
    lines = ["| " + " | ".join(name for name, _ in shown) + " |", "|" + "---|" * len(shown)]
    lines += ["| " + " | ".join(f(get(m)) for _, get in shown) + " |" for m in rows]
    return "\n".join(lines)
