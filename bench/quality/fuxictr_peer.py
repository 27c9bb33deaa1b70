"""The FuxiCTR peer: DIN and AutoInt+ trained by FuxiCTR 2.3.10 on the same train / valid / test CSV files.

Run it with bench/quality/.venv-fuxictr/bin/python (bench/quality/setup.sh). The column format is in
bench/quality/README.md: `label`, `c_*` categorical, `n_*` numeric, `m_*` multi-valued and `s_<x>`
behaviour sequences of the categorical column `c_<x>`. FuxiCTR's own pipeline does the rest: its
FeatureProcessor builds the vocabularies from the train file, build_dataset writes its parquet
files, its BaseModel trains with Adam, early stopping on validation AUC - log-loss and its metrics.

The PyPI package ships no AutoInt and only the long-sequence DIN variant (a different data layout),
so the two models are composed here from the package's layers (FeatureEmbedding, FeatureEmbeddingDict,
DIN_Attention, Dice, MLP_Block) after the papers; the hyper-parameters are FuxiCTR's documented
defaults (`DIN_default` and `AutoInt_default` of its model zoo's config/model_config.yaml), and the
training schedule is BaseModel's: validation AUC - log-loss monitored every epoch, the best epoch
kept, the learning rate x 0.1 on each epoch without improvement, early stop after two.

The data is prepared once (FuxiCTR's FeatureProcessor and build_dataset under --work, reused while a stamp
of the CSV files matches) for every grid point and seed: none of it depends on the learning rate, the
embedding size or the seed. Batches come from FuxiCTR's in-memory NpzDataLoader, collated in the training
process (no loader worker), and torch runs on --threads threads (default 1, as the trainer's bench configs).
--learning-rate and --embedding-dim take comma-separated lists: one process trains the whole grid, seed by
seed (every grid point of the first seed before the second seed).

Prints, after each trained model, one JSON document (one line) holding every result so far: per model the
test AUC, log-loss, mean prediction and observed CTR, the validation figures, training seconds (with the
per-epoch train and validation-pass seconds), parameter count and the hyper-parameters used. The last line
is the complete document, so a stopped run keeps what it finished. Timings go to stderr as well.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import fuxictr
import numpy as np
import pandas as pd
import ray
import torch
from fuxictr.features import FeatureMap
from fuxictr.preprocess import FeatureProcessor, build_dataset
from fuxictr.pytorch.dataloaders import RankDataLoader
from fuxictr.pytorch.layers import Dice, DIN_Attention, FeatureEmbedding, FeatureEmbeddingDict, MLP_Block
from fuxictr.pytorch.models import BaseModel
from fuxictr.pytorch.torch_utils import seed_everything
from torch import nn

SPLITS = ("train", "valid", "test")
PREFIXES = {"c_": "categorical", "n_": "numeric", "m_": "multi", "s_": "sequence"}

# Shared by both defaults in FuxiCTR's model zoo (Base + <Model>_default).
COMMON_DEFAULTS: dict[str, Any] = {
    "loss": "binary_crossentropy",
    "metrics": ["logloss", "AUC"],
    "task": "binary_classification",
    "optimizer": "adam",
    "learning_rate": 1.0e-3,
    "embedding_regularizer": 0,
    "net_regularizer": 0,
    "batch_size": 10000,
    "embedding_dim": 40,
    "net_dropout": 0,
    "batch_norm": False,
    "epochs": 100,
    "shuffle": True,
    "seed": 2019,
    "monitor": {"AUC": 1, "logloss": -1},
    "monitor_mode": "max",
    "early_stop_patience": 2,
    "save_best_only": True,
    "eval_steps": None,
    "verbose": 0,
}
DIN_DEFAULTS: dict[str, Any] = {
    **COMMON_DEFAULTS,
    "dnn_hidden_units": [500, 500, 500],
    "dnn_activations": "relu",
    "attention_hidden_units": [64],
    "attention_hidden_activations": "Dice",
    "attention_output_activation": None,
    "attention_dropout": 0,
    "din_use_softmax": False,
}
AUTOINT_DEFAULTS: dict[str, Any] = {
    **COMMON_DEFAULTS,
    "dnn_hidden_units": [400, 400],
    "dnn_activations": "relu",
    "num_heads": 2,
    "attention_layers": 3,
    "attention_dim": 40,
    "use_residual": True,
    "layer_norm": False,
    "use_scale": False,
}


def dnn(feature_map, p: dict[str, Any], output_activation) -> MLP_Block:
    """The DNN tower over every flattened embedding (Dice activations when configured)."""
    hidden, act = p["dnn_hidden_units"], p["dnn_activations"]
    return MLP_Block(
        input_dim=feature_map.sum_emb_out_dim(),
        output_dim=1,
        hidden_units=hidden,
        hidden_activations=[Dice(u) for u in hidden] if act.lower() == "dice" else act,
        output_activation=output_activation,
        dropout_rates=p["net_dropout"],
        batch_norm=p["batch_norm"],
    )


class Timed(BaseModel):
    """BaseModel with its epochs timed: the training passes and the validation passes apart (FuxiCTR's
    fit() evaluates inside train_epoch, at the epoch's last step)."""

    def fit(self, *args, **kwargs):
        self.epoch_train_s: list[float] = []
        self.epoch_eval_s: list[float] = []
        return super().fit(*args, **kwargs)

    def train_epoch(self, data_generator):
        start, evals = time.perf_counter(), sum(self.epoch_eval_s)
        super().train_epoch(data_generator)
        total = time.perf_counter() - start
        self.epoch_train_s.append(total - (sum(self.epoch_eval_s) - evals))
        log.info(
            "%s epoch %d: train %.1f s, validation pass %.1f s, lr %.2g",
            self.model_id,
            len(self.epoch_train_s),
            self.epoch_train_s[-1],
            sum(self.epoch_eval_s) - evals,
            self.optimizer.param_groups[0]["lr"],
        )

    def eval_step(self):
        start = time.perf_counter()
        super().eval_step()
        self.epoch_eval_s.append(time.perf_counter() - start)


log = logging.getLogger("fuxictr_peer")


def ready(model: BaseModel, p: dict[str, Any]) -> None:
    """FuxiCTR's last steps of a model's construction: optimizer and loss, initial weights, device."""
    model.compile(p["optimizer"], p["loss"], p["learning_rate"])
    model.reset_parameters()
    model.model_to_device()


class PeerDIN(Timed):
    """DIN (Zhou et al., 2018): each `c_<x>` target attends over its `s_<x>` sequence (the same
    embedding table); the pooled interests join every other embedding in the DNN."""

    def __init__(self, feature_map, pairs: list[tuple[str, str]], **p):
        super().__init__(feature_map, model_id="DIN", **p)
        dim = p["embedding_dim"]
        self.pairs = pairs
        self.embedding_layer = FeatureEmbeddingDict(feature_map, dim)
        self.attention = nn.ModuleList(
            DIN_Attention(
                dim,
                attention_units=p["attention_hidden_units"],
                hidden_activations=p["attention_hidden_activations"],
                output_activation=p["attention_output_activation"],
                dropout_rate=p["attention_dropout"],
                use_softmax=p["din_use_softmax"],
            )
            for _ in pairs
        )
        self.dnn = dnn(feature_map, p, self.output_activation)
        ready(self, p)

    def forward(self, inputs):
        X = self.get_inputs(inputs)
        emb = self.embedding_layer(X)
        for attention, (target, sequence) in zip(self.attention, self.pairs, strict=True):
            mask = X[sequence].long() != 0  # index 0 pads
            emb[sequence] = attention(emb[target], emb[sequence], mask)
        return {"y_pred": self.dnn(self.embedding_layer.dict2tensor(emb, flatten_emb=True))}


class InteractingLayer(nn.Module):
    """One AutoInt interacting layer: multi-head self-attention across fields, a residual
    projection, ReLU (Song et al., 2019, eqs. 5-8)."""

    def __init__(self, in_dim: int, out_dim: int, heads: int, residual: bool, scale: bool, norm: bool):
        super().__init__()
        if out_dim % heads:
            raise ValueError(f"attention_dim {out_dim} is not divisible by num_heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(in_dim, 3 * out_dim, bias=False)
        self.res = nn.Linear(in_dim, out_dim, bias=False) if residual else None
        self.scale = (out_dim // heads) ** -0.5 if scale else 1.0
        self.norm = nn.LayerNorm(out_dim) if norm else None

    def forward(self, x):  # x: (batch, fields, in_dim)
        b, f, _ = x.shape
        q, k, v = (t.view(b, f, self.heads, -1).transpose(1, 2) for t in self.qkv(x).chunk(3, dim=-1))
        weights = torch.softmax(q @ k.transpose(-2, -1) * self.scale, dim=-1)
        out = (weights @ v).transpose(1, 2).reshape(b, f, -1)
        if self.res is not None:
            out = out + self.res(x)
        if self.norm is not None:
            out = self.norm(out)
        return out.relu()


class PeerAutoIntPlus(Timed):
    """AutoInt+ (Song et al., 2019): stacked interacting layers over the field embeddings, their
    flattened output to a logit, plus a DNN over the same embeddings."""

    def __init__(self, feature_map, **p):
        super().__init__(feature_map, model_id="AutoInt", **p)
        dim, att = p["embedding_dim"], p["attention_dim"]
        self.embedding_layer = FeatureEmbedding(feature_map, dim)
        self.attention = nn.Sequential(
            *(
                InteractingLayer(
                    dim if i == 0 else att, att, p["num_heads"], p["use_residual"], p["use_scale"], p["layer_norm"]
                )
                for i in range(p["attention_layers"])
            )
        )
        self.fc = nn.Linear(feature_map.num_fields * att, 1)
        self.dnn = dnn(feature_map, p, None)  # its logit adds to the attention's
        ready(self, p)

    def forward(self, inputs):
        emb = self.embedding_layer(self.get_inputs(inputs))
        logit = self.fc(self.attention(emb).flatten(start_dim=1)) + self.dnn(emb.flatten(start_dim=1))
        return {"y_pred": self.output_activation(logit)}


def csv_columns(path: Path) -> list[str]:
    """The header of `path`, checked against the column format."""
    with path.open(newline="") as f:
        header = next(csv.reader(f), None)
    if not header:
        raise SystemExit(f"{path}: empty file (expected a header row)")
    if "label" not in header:
        raise SystemExit(f"{path}: no 'label' column")
    odd = [c for c in header if c != "label" and c[:2] not in PREFIXES]
    if odd:
        raise SystemExit(f"{path}: column(s) {odd} have none of the prefixes {sorted(PREFIXES)}")
    return header


def feature_cols(header: list[str]) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """FuxiCTR feature columns for the header, and the DIN (target, sequence) pairs."""
    by_kind: dict[str, list[str]] = {kind: [] for kind in PREFIXES.values()}
    for c in header:
        if c != "label":
            by_kind[PREFIXES[c[:2]]].append(c)
    pairs = []
    for s in by_kind["sequence"]:
        target = "c_" + s[2:]
        if target not in by_kind["categorical"]:
            raise SystemExit(f"sequence column {s} has no categorical column {target} (its target)")
        pairs.append((target, s))
    cols: list[dict[str, Any]] = []
    if by_kind["categorical"]:
        cols.append({"name": by_kind["categorical"], "active": True, "dtype": "str", "type": "categorical"})
    if by_kind["numeric"]:
        cols.append(
            {
                "name": by_kind["numeric"],
                "active": True,
                "dtype": "float",
                "type": "numeric",
                "normalizer": "StandardScaler",
            }
        )
    for m in by_kind["multi"]:
        cols.append({"name": m, "active": True, "dtype": "str", "type": "sequence", "splitter": "^"})
    for target, s in pairs:
        cols.append(
            {
                "name": s,
                "active": True,
                "dtype": "str",
                "type": "sequence",
                "splitter": "^",
                "share_embedding": target,
                "feature_encoder": None,  # DIN attends over the positions; AutoInt+ pools them
                "padding": "post",
            }
        )
    return cols, pairs


def csv_stamp(data: Path, cols: list[dict[str, Any]]) -> str:
    """What the prepared files depend on: the CSV files (path, size, modification time) and the columns."""
    h = hashlib.sha256(json.dumps(cols, sort_keys=True).encode())
    for s in SPLITS:
        f = (data / f"{s}.csv").resolve()
        st = f.stat()
        h.update(f"{f}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def prepare(data: Path, work: Path) -> tuple[dict[str, Any], list[tuple[str, str]], bool]:
    """FuxiCTR's feature map and parquet files for the three CSV files: built once, then reused while the
    stamp in `work` matches (FuxiCTR's build_dataset itself skips a folder with a feature_map.json).
    Returns the data parameters, the DIN pairs and whether the files were reused."""
    headers = {s: csv_columns(data / f"{s}.csv") for s in SPLITS}
    if len({tuple(h) for h in headers.values()}) != 1:
        raise SystemExit(f"{data}: train, valid and test must have the same columns")
    cols, pairs = feature_cols(headers["train"])
    stamp, stamp_file = csv_stamp(data, cols), work / "csv.stamp"
    reuse = stamp_file.is_file() and stamp_file.read_text() == stamp and (work / "peer" / "feature_map.json").is_file()
    if not reuse and work.exists():
        shutil.rmtree(work)
    params: dict[str, Any] = {
        "dataset_id": "peer",
        "data_root": str(work),
        "data_format": "csv",
        "feature_cols": cols,
        "label_col": {"name": "label", "dtype": "float"},
        **{f"{s}_data": str(data / f"{s}.csv") for s in SPLITS},
    }
    encoder = FeatureProcessor(**params)
    parquet = dict(zip(("train_data", "valid_data", "test_data"), build_dataset(encoder, **params), strict=True))
    for key, path in parquet.items():
        params[key] = to_npz(Path(path), reuse)
    if ray.is_initialized():
        ray.shutdown()  # build_dataset's workers: the training needs none
    params["data_format"] = "npz"
    if not reuse:
        stamp_file.write_text(stamp)
    return params, pairs, reuse


def to_npz(parquet: Path, reuse: bool) -> str:
    """FuxiCTR's npz form of one split (one array per column) beside its parquet file: NpzDataLoader, the
    package's in-memory loader, reads it. The parquet loader of 2.3.10 streams every epoch through Ray Data
    (a distributed global shuffle per epoch, worker processes beside the training), which on a small machine
    costs more than the training itself."""
    npz = parquet.with_suffix(".npz")
    if not (reuse and npz.is_file()):
        df = pd.read_parquet(parquet)
        arrays = {c: np.array(df[c].to_list()) if df[c].dtype == object else df[c].to_numpy() for c in df.columns}
        np.savez(npz, **arrays)
    return str(npz)


def load_feature_map(data: dict[str, Any], hp: dict[str, Any], pairs, pooled: bool) -> FeatureMap:
    """The feature map as one model sees it: `pooled` averages the behaviour sequences (FuxiCTR's
    default sequence encoder), otherwise their positions stay apart for DIN's attention."""
    data_dir = os.path.join(data["data_root"], data["dataset_id"])
    pooling = [{"name": s, "feature_encoder": "layers.MaskedAveragePooling()"} for _, s in pairs]
    feature_map = FeatureMap(data["dataset_id"], data_dir)
    specs = {**hp, "feature_specs": pooling if pooled else None}
    feature_map.load(os.path.join(data_dir, "feature_map.json"), specs)
    return feature_map


def mean_prediction(model: BaseModel, data) -> tuple[float, float]:
    """The model's mean predicted CTR over a split and the split's observed CTR (calibration)."""
    model.eval()
    pred = label = 0.0
    rows = 0
    with torch.no_grad():
        for batch in data:
            pred += float(model.forward(batch)["y_pred"].sum())
            y = model.get_labels(batch)
            label += float(y.sum())
            rows += y.numel()
    return pred / rows, label / rows


def train(name: str, data: dict[str, Any], pairs, hp: dict[str, Any], work: Path):
    """Trains one model and evaluates it on the validation and test files."""
    seed_everything(seed=hp["seed"])
    feature_map = load_feature_map(data, hp, pairs, pooled=name != "din")
    p = {
        **data,
        **hp,
        "gpu": 0 if torch.cuda.is_available() else -1,
        "model_root": str(work / "checkpoints"),
        "num_workers": 0,  # NpzDataLoader collates in this process: one core, as the trainer
    }
    model = PeerDIN(feature_map, pairs, **p) if name == "din" else PeerAutoIntPlus(feature_map, **p)
    os.makedirs(model.model_dir, exist_ok=True)  # where fit() keeps the best checkpoint
    params = sum(t.numel() for t in model.parameters())  # embeddings included
    start = time.perf_counter()
    train_gen, valid_gen = RankDataLoader(feature_map, stage="train", **p)
    test_gen = RankDataLoader(feature_map, stage="test", **p)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    model.fit(train_gen, validation_data=valid_gen, **p)
    seconds = time.perf_counter() - start
    log.info(
        "%s lr %g emb %d seed %s: loaded in %.1f s, fit %.1f s over %d epochs (train %.1f s, validation %.1f s)",
        model.model_id,
        hp["learning_rate"],
        hp["embedding_dim"],
        hp["seed"],
        load_s,
        seconds,
        len(model.epoch_train_s),
        sum(model.epoch_train_s),
        sum(model.epoch_eval_s),
    )
    valid = model.evaluate(valid_gen)
    test = model.evaluate(test_gen)
    mean_pred, ctr = mean_prediction(model, test_gen)
    return {
        "model": "DIN" if name == "din" else "AutoInt+",
        "test": {"auc": test["AUC"], "logloss": test["logloss"], "mean_pred": mean_pred, "ctr": ctr},
        "valid": {"auc": valid["AUC"], "logloss": valid["logloss"]},
        "train_seconds": round(seconds, 2),
        "load_seconds": round(load_s, 2),
        "epoch_train_seconds": [round(x, 2) for x in model.epoch_train_s],
        "epoch_valid_seconds": [round(x, 2) for x in model.epoch_eval_s],
        "params": params,
        "device": "cuda" if p["gpu"] >= 0 else "cpu",
        "hyper_parameters": hp,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path, help="folder with train.csv, valid.csv, test.csv")
    ap.add_argument("--models", default="din,autoint", help="comma-separated: din, autoint")
    ap.add_argument("--work", type=Path, default=Path(__file__).parent / "work", help="FuxiCTR's files")
    ap.add_argument("--epochs", type=int, help="override the default 100 (early stopping still applies)")
    ap.add_argument("--batch-size", type=int, help="override the default 10000")
    ap.add_argument("--learning-rate", help="override the default 1e-3; comma-separated: grid points")
    ap.add_argument("--embedding-dim", help="override the default 40; comma-separated: grid points")
    ap.add_argument(
        "--seeds", help="comma-separated seeds (weights, shuffling): each model trains once per seed (default 2019)"
    )
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = ap.parse_args(argv)
    models = args.models.split(",")
    unknown = sorted(set(models) - {"din", "autoint"})
    if unknown:
        raise SystemExit(f"--models: unknown model(s) {unknown} (expected din, autoint)")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    log.setLevel(logging.INFO)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    data, pairs, reused = prepare(args.data, args.work)
    log.info("data %s in %.1f s", "reused" if reused else "prepared", time.perf_counter() - start)
    if "din" in models and not pairs:
        raise SystemExit("din needs at least one s_<x> sequence column with its c_<x> target")
    seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else [None]
    lrs = [float(x) for x in args.learning_rate.split(",")] if args.learning_rate else [None]
    embs = [int(x) for x in args.embedding_dim.split(",")] if args.embedding_dim else [None]
    doc = {"peer": "fuxictr", "fuxictr": fuxictr.__version__, "data": str(args.data), "models": []}
    for seed in seeds:  # the data is prepared once for every seed and grid point
        for lr in lrs:
            for emb in embs:
                for name in models:
                    hp = dict(DIN_DEFAULTS if name == "din" else AUTOINT_DEFAULTS)
                    overrides = {
                        "epochs": args.epochs,
                        "batch_size": args.batch_size,
                        "learning_rate": lr,
                        "embedding_dim": emb,
                        "seed": seed,
                    }
                    hp.update({k: v for k, v in overrides.items() if v is not None})
                    doc["models"].append(train(name, data, pairs, hp, args.work))
                    print(json.dumps(doc), flush=True)  # every result so far: a stopped run keeps them


if __name__ == "__main__":
    main()
