"""Training loop: Adam, early stopping on validation AUC, metrics (AUC / log-loss overall and on
cold-start items, training time).

`train_model` runs named phases: set up (device, threads, the model's effective training parameters),
initialise (one run per restart seed, the best first epoch goes on), train with early stopping, and the
final metrics of the best epoch's weights."""

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
from .metrics import auc, logloss
from .models import CTRModel, build_model
from .schema import ModelSchema


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
) -> np.ndarray:
    dev = dev or next(model.parameters()).device
    model.eval()
    batches = data.batches(split, batch_size, limit=limit)
    out = [model(*tensors(b, dev, model.input_names)).float().cpu().numpy() for b in batches]
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
            "seconds": round(time.time() - te, 2),
        }
        self.log(
            f"[train] epoch {epoch}: loss {entry['train_loss']}, val auc {v['auc']}, val logloss {v['logloss']} "
            f"({time.time() - te:.1f}s)"
        )
        return entry

    def initialise(self) -> tuple[_Run, dict[str, Any], list[dict[str, Any]]]:
        """restarts: K initialisations (seeds seed, seed + 1, ...) each train one epoch and the best on validation
        goes on. A run can settle in a poor optimum from its first epoch (docs/model-quality.md: one QIN seed at
        0.79 val AUC against 0.85); K = 1 (the default) trains one run. Returns the run, its first epoch and
        every seed's first-epoch AUC."""
        seed, restarts = self.tp.seed, max(1, self.tp.restarts)
        run = self.start(seed)
        if hasattr(self.data, "limit_history"):  # the model reads only its newest history_length slots: gather no more
            self.data.limit_history(run.model.max_history)
        n_params = sum(p.numel() for p in run.model.parameters())
        epoch_rows = self.tp.epoch_rows
        self.log(
            f"[train] {self.model_name}: {n_params:,} parameters, {self.n_train} train rows"
            + (f" ({min(epoch_rows, self.n_train)} sampled per epoch)" if epoch_rows > 0 else "")
            + f", batch {self.tp.batch_size}, device {self.dev}"
        )
        first = self.run_epoch(run, 1)
        run.save_torch_rng()
        tried = [{"seed": seed, "val_auc": first["val_auc"]}]
        for k in range(1, restarts):
            self.log(f"[train] restart {k + 1}/{restarts}: seed {seed + k}")
            other = self.start(seed + k)
            entry = self.run_epoch(other, 1)
            other.save_torch_rng()
            tried.append({"seed": seed + k, "val_auc": entry["val_auc"]})
            if _score(entry) > _score(first):
                run, first = other, entry
        if restarts > 1:
            self.log(f"[train] best first epoch: seed {run.seed} (val auc {first['val_auc']}); training it on")
            run.restore_torch_rng()
        return run, first, tried

    def train_on(self, run: _Run, first: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
        """Epochs 2.. until max_epochs or `patience` epochs without a better validation score; leaves the best
        epoch's weights in the model. Returns the per-epoch history and the best epoch."""
        model, history = run.model, [first]
        best_auc, best_state, best_epoch, bad = _score(first), copy.deepcopy(model.state_dict()), 1, 0
        for epoch in range(2, self.tp.max_epochs + 1):
            history.append(self.run_epoch(run, epoch))
            v_auc = _score(history[-1])
            if v_auc > best_auc:
                best_auc, best_state, best_epoch, bad = v_auc, copy.deepcopy(model.state_dict()), epoch, 0
            else:
                bad += 1
                if bad >= self.tp.patience:
                    self.log(f"[train] early stop after epoch {epoch} (best {best_epoch})")
                    break
        model.load_state_dict(best_state)
        model.eval()
        return history, best_epoch

    def final_metrics(self, model: CTRModel) -> dict[str, Any]:
        ebs = self.tp.eval_batch_size
        val = evaluate(self.data.labels("val"), predict(model, self.data, "val", ebs, self.dev))
        test_p = predict(model, self.data, "test", ebs, self.dev)
        return {"val": val, "test": evaluate(self.data.labels("test"), test_p, self.data.cold("test"))}


def _score(entry: dict[str, Any]) -> float:
    return entry["val_auc"] if entry["val_auc"] is not None else -(entry["val_logloss"] or 0.0)


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
    trainer = _Trainer(model_name, schema, data, params, tp, log)
    t0 = time.time()
    run, first, tried = trainer.initialise()
    history, best_epoch = trainer.train_on(run, first)
    train_seconds = time.time() - t0
    model = run.model
    metrics = {
        "model": model_name,
        "params": params.architecture(),
        "training": asdict(tp),
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_seconds": round(train_seconds, 2),
        "epochs": len(history),
        "best_epoch": best_epoch,
        "device": str(trainer.dev),
        "seed": run.seed,
        "restarts": tried,
        **trainer.final_metrics(model),
        "history": history,
    }
    return TrainResult(model, metrics, history)


def metrics_table(rows: list[dict[str, Any]]) -> str:
    def f(x: Any) -> str:
        return "—" if x is None else f"{x:.4f}" if isinstance(x, float) else str(x)

    head = "| model | test AUC | test log-loss | cold-start AUC | val AUC | int8 AUC Δ | train s | epochs |"
    lines = [head, "|" + "---|" * 8]
    for m in rows:
        t, v = m.get("test", {}), m.get("val", {})
        lines.append(
            f"| {m.get('model')} | {f(t.get('auc'))} | {f(t.get('logloss'))} | {f(t.get('cold_auc'))} | "
            f"{f(v.get('auc'))} | {f(m.get('int8', {}).get('test_auc_delta'))} | {f(m.get('train_seconds'))} | "
            f"{f(m.get('epochs'))} |"
        )
    return "\n".join(lines)
