"""The hyper-parameter grid of the MovieLens bench, the same for both systems: learning rates x embedding sizes,
one batch size, one epoch cap, the same training seeds, and FuxiCTR's training schedule on both sides.

  python3 bench/quality/grid.py list                      one line per grid point: <lr> <embedding>
  python3 bench/quality/grid.py seeds                     the training seeds, one a line
  python3 bench/quality/grid.py config LR EMB SEED OUT    writes an mmctr-train config for that point and seed
  python3 bench/quality/grid.py peer-args SEEDS [LR EMB]  the FuxiCTR peer's flags: every grid point (or one) on the
                                                          comma-separated SEEDS, in one process

The schedule is FuxiCTR's BaseModel default, copied into our config: every epoch ends with a validation pass
monitored on AUC - log-loss (FuxiCTR `monitor: {AUC: 1, logloss: -1}`, our `monitor: "auc-logloss"`); the best
epoch's weights are kept; an epoch without improvement multiplies the learning rate by 0.1 (floor 1e-6); two
in a row stop training. summarize.py picks each model's grid point on the same value (its mean over the seeds).

Overridable for smoke runs: MMCTR_QUALITY_LRS, MMCTR_QUALITY_EMBS, MMCTR_QUALITY_SEEDS (comma-separated),
MMCTR_QUALITY_EPOCHS. Both systems run one torch thread per training (ours `training.threads`, the peer's
--threads)."""

from __future__ import annotations

import json
import os
import sys

LRS = [float(x) for x in os.environ.get("MMCTR_QUALITY_LRS", "0.001,0.003").split(",")]
EMBS = [int(x) for x in os.environ.get("MMCTR_QUALITY_EMBS", "16").split(",")]
SEEDS = [int(x) for x in os.environ.get("MMCTR_QUALITY_SEEDS", "2019,2020,2021").split(",")]
BATCH = 1024
EPOCHS = int(os.environ.get("MMCTR_QUALITY_EPOCHS", "8"))
PATIENCE = 2  # FuxiCTR early_stop_patience
LR_DECAY = 0.1  # FuxiCTR lr_decay(factor=0.1, min_lr=1e-6) on every epoch without improvement
MIN_LR = 1e-6


def config(lr: float, emb: int, seed: int = SEEDS[0]) -> dict:
    """Our four models at one grid point: no L2, dropout 0.1, the history gates on; FuxiCTR's schedule."""
    common = {"embedding_dim": emb, "dropout": 0.1, "batch_norm": True, "history_age": True, "history_rank": True}
    return {
        "description": f"MovieLens bench grid point lr {lr}, embedding {emb}, seed {seed} (bench/quality/grid.py)",
        "training": {
            "batch_size": BATCH,
            "eval_batch_size": 8192,
            "lr": lr,
            "emb_l2": 0.0,
            "max_epochs": EPOCHS,
            "patience": PATIENCE,
            "monitor": "auc-logloss",
            "lr_decay_factor": LR_DECAY,
            "lr_patience": 1,
            "min_lr": MIN_LR,
            "seed": seed,
            "threads": 1,
        },
        "models": {
            "lr": {},
            "autoint": {**common, "attention_layers": 3, "heads": 2, "hidden": [400, 400]},
            "din": {**common, "attention_hidden": [64], "hidden": [500, 500, 500]},
            "qin": {**common, "attention_factor": 1, "layers": 3, "rows": 2},
        },
    }


def main(argv: list[str]) -> int:
    if argv[:1] == ["list"]:
        for lr in LRS:
            for emb in EMBS:
                print(lr, emb)
        return 0
    if argv[:1] == ["seeds"]:
        print("\n".join(str(s) for s in SEEDS))
        return 0
    if argv[:1] == ["config"] and len(argv) == 5:
        emb = EMBS[0] if argv[2] == "None" else int(argv[2])  # LR has no embedding size: its point is the lr alone
        with open(argv[4], "w", encoding="utf-8") as fh:
            json.dump(config(float(argv[1]), emb, int(argv[3])), fh, indent=1)
        return 0
    if argv[:1] == ["peer-args"] and len(argv) in (2, 4):
        lrs = [float(argv[2])] if len(argv) == 4 else LRS
        embs = [int(argv[3])] if len(argv) == 4 else EMBS
        print(
            f"--learning-rate {','.join(str(x) for x in lrs)} --embedding-dim {','.join(str(x) for x in embs)} "
            f"--seeds {argv[1]} --batch-size {BATCH} --epochs {EPOCHS} --threads 1"
        )
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
