"""Training loop: Adam, early stopping on validation AUC, metrics (AUC / log-loss overall and on
cold-start items, training time)."""

from __future__ import annotations

import copy
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import numpy as np
import torch
from torch import nn

from .features import INPUT_NAMES
from .layers import CTRModel, ModelSchema
from .metrics import auc, logloss
from .models import build_model

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


class DataSource(Protocol):
    def rows(self, split: str) -> int: ...
    def labels(self, split: str) -> np.ndarray: ...
    def cold(self, split: str) -> np.ndarray: ...
    def batches(self, split: str, batch_size: int, shuffle: bool = False, rng: np.random.Generator | None = None,
                limit: int | None = None) -> Iterator[dict[str, np.ndarray]]: ...


def load_config(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    p = Path(path) if path else CONFIG_DIR / "default.json"
    if not p.exists() and not p.suffix:
        p = CONFIG_DIR / f"{p}.json"
    return json.loads(p.read_text(encoding="utf-8"))


def pick_device() -> torch.device:
    want = os.environ.get("MMCTR_DEVICE", "")
    if want:
        return torch.device(want)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def tensors(batch: dict[str, np.ndarray], dev: torch.device) -> list[torch.Tensor]:
    return [torch.from_numpy(np.ascontiguousarray(batch[n])).to(dev) for n in INPUT_NAMES]


@torch.no_grad()
def predict(model: CTRModel, data: DataSource, split: str, batch_size: int, dev: torch.device | None = None,
            limit: int | None = None) -> np.ndarray:
    dev = dev or next(model.parameters()).device
    model.eval()
    out = [model(*tensors(b, dev)).float().cpu().numpy() for b in data.batches(split, batch_size, limit=limit)]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def evaluate(labels: np.ndarray, probs: np.ndarray, cold: np.ndarray | None = None) -> dict[str, Any]:
    m: dict[str, Any] = {"rows": int(len(labels)), "positives": int(np.sum(labels)), "auc": auc(labels, probs),
                         "logloss": logloss(labels, probs) if len(labels) else None}
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
        self.torch_state = (torch.random.get_rng_state(),
                            torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [])

    def restore_torch_rng(self) -> None:
        """Dropout draws from torch's global stream: the chosen run goes on as if it had run alone."""
        if self.torch_state is not None:
            torch.random.set_rng_state(self.torch_state[0])
            if self.torch_state[1]:
                torch.cuda.set_rng_state_all(self.torch_state[1])


def train_model(model_name: str, schema: ModelSchema, data: DataSource, config: dict[str, Any],
                log: Callable[[str], None] = print, max_epochs: int | None = None) -> TrainResult:
    params = dict(config["models"][model_name])
    tcfg = dict(config["training"])
    for k in ("lr", "emb_l2", "batch_size", "max_epochs", "patience", "epoch_rows"):
        if k in params:
            tcfg[k] = params.pop(k)
    if max_epochs is not None:
        tcfg["max_epochs"] = max_epochs
    # threads: torch intra-op threads (0 / absent: torch's default, OMP_NUM_THREADS). On a 2-core box shared
    # with other work, 1 thread trained ~10x faster than 2 (OpenMP threads wait on each other).
    threads = int(os.environ.get("MMCTR_THREADS") or tcfg.get("threads") or 0)
    if threads > 0:
        torch.set_num_threads(threads)
    seed = int(tcfg.get("seed", 42))
    dev = pick_device()
    bce = nn.BCEWithLogitsLoss()
    emb_l2 = float(tcfg.get("emb_l2", 0.0))
    bs, ebs = int(tcfg["batch_size"]), int(tcfg.get("eval_batch_size", 8192))
    log_every = int(tcfg.get("log_every", 0))
    n_train = data.rows("train")
    # epoch_rows: train on a fresh random sample of this many rows per epoch (time-bounded demo runs)
    epoch_rows = int(tcfg.get("epoch_rows") or 0)
    steps_per_epoch = (min(epoch_rows, n_train) + bs - 1) // bs if epoch_rows > 0 else (n_train + bs - 1) // bs

    def start(run_seed: int) -> _Run:
        torch.manual_seed(run_seed)
        model = build_model(model_name, schema, params).to(dev)
        return _Run(run_seed, model, torch.optim.Adam(model.parameters(), lr=float(tcfg["lr"])),
                    np.random.default_rng(run_seed))

    def run_epoch(run: _Run, epoch: int) -> dict[str, Any]:
        model, opt = run.model, run.opt
        model.train()
        te, losses = time.time(), []
        for step, batch in enumerate(data.batches("train", bs, shuffle=True, rng=run.rng), 1):
            if step > steps_per_epoch:
                break
            if len(batch["label"]) < 2:
                continue
            xs = tensors(batch, dev)
            y = torch.from_numpy(batch["label"]).to(dev)
            loss = bce(model.logits(*xs), y)
            reg = model.reg_loss()
            if emb_l2 > 0 and reg is not None:
                loss = loss + emb_l2 * reg
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            if log_every and step % log_every == 0:
                log(f"[train] epoch {epoch} step {step}/{steps_per_epoch} loss {np.mean(losses[-log_every:]):.4f}")
        model.reg_loss()  # drop what eval-free steps collected
        v = evaluate(data.labels("val"), predict(model, data, "val", ebs, dev))
        entry = {"epoch": epoch, "train_loss": float(np.mean(losses)) if losses else None, "val_auc": v["auc"],
                 "val_logloss": v["logloss"], "seconds": round(time.time() - te, 2)}
        log(f"[train] epoch {epoch}: loss {entry['train_loss']}, val auc {v['auc']}, val logloss {v['logloss']} "
            f"({time.time() - te:.1f}s)")
        return entry

    def score(entry: dict[str, Any]) -> float:
        return entry["val_auc"] if entry["val_auc"] is not None else -(entry["val_logloss"] or 0.0)

    run = start(seed)
    model = run.model
    if hasattr(data, "limit_history"):  # the model reads only its newest history_length slots: gather no more
        data.limit_history(model.max_history)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"[train] {model_name}: {n_params:,} parameters, {n_train} train rows"
        + (f" ({min(epoch_rows, n_train)} sampled per epoch)" if epoch_rows > 0 else "") + f", batch {bs}, device {dev}")
    t0 = time.time()
    # restarts: K initialisations (seeds seed, seed + 1, ...) each train one epoch and the best on validation
    # goes on. A run can settle in a poor optimum from its first epoch (docs/model-quality.md: one QIN seed at
    # 0.79 val AUC against 0.85); K = 1 (the default) trains one run.
    restarts = max(1, int(tcfg.get("restarts", 1)))
    first = run_epoch(run, 1)
    run.save_torch_rng()
    tried = [{"seed": seed, "val_auc": first["val_auc"]}]
    for k in range(1, restarts):
        log(f"[train] restart {k + 1}/{restarts}: seed {seed + k}")
        other = start(seed + k)
        entry = run_epoch(other, 1)
        other.save_torch_rng()
        tried.append({"seed": seed + k, "val_auc": entry["val_auc"]})
        if score(entry) > score(first):
            run, first = other, entry
    if restarts > 1:
        log(f"[train] best first epoch: seed {run.seed} (val auc {first['val_auc']}); training it on")
        run.restore_torch_rng()
    model = run.model
    history = [first]
    best_auc, best_state, best_epoch, bad = score(first), copy.deepcopy(model.state_dict()), 1, 0
    for epoch in range(2, int(tcfg["max_epochs"]) + 1):
        history.append(run_epoch(run, epoch))
        v_auc = score(history[-1])
        if v_auc > best_auc:
            best_auc, best_state, best_epoch, bad = v_auc, copy.deepcopy(model.state_dict()), epoch, 0
        else:
            bad += 1
            if bad >= int(tcfg.get("patience", 2)):
                log(f"[train] early stop after epoch {epoch} (best {best_epoch})")
                break
    train_seconds = time.time() - t0
    model.load_state_dict(best_state)
    model.eval()
    val = evaluate(data.labels("val"), predict(model, data, "val", ebs, dev))
    test_p = predict(model, data, "test", ebs, dev)
    test = evaluate(data.labels("test"), test_p, data.cold("test"))
    metrics = {"model": model_name, "params": params, "training": tcfg, "parameters": n_params,
               "train_seconds": round(train_seconds, 2), "epochs": len(history), "best_epoch": best_epoch,
               "device": str(dev), "seed": run.seed, "restarts": tried, "val": val, "test": test, "history": history}
    return TrainResult(model, metrics, history)


def metrics_table(rows: list[dict[str, Any]]) -> str:
    def f(x: Any) -> str:
        return "—" if x is None else f"{x:.4f}" if isinstance(x, float) else str(x)

    head = "| model | test AUC | test log-loss | cold-start AUC | val AUC | int8 AUC Δ | train s | epochs |"
    lines = [head, "|" + "---|" * 8]
    for m in rows:
        t, v = m.get("test", {}), m.get("val", {})
        lines.append(f"| {m.get('model')} | {f(t.get('auc'))} | {f(t.get('logloss'))} | {f(t.get('cold_auc'))} | "
                     f"{f(v.get('auc'))} | {f(m.get('int8', {}).get('test_auc_delta'))} | {f(m.get('train_seconds'))} | "
                     f"{f(m.get('epochs'))} |")
    return "\n".join(lines)
