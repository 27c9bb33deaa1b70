"""The hyper-parameter grid of the MovieLens bench, the same for both systems: learning rates x embedding sizes,
one batch size, one epoch cap and one early-stopping patience on validation AUC.

  python3 bench/quality/grid.py list                 one line per point: <lr> <embedding>
  python3 bench/quality/grid.py config LR EMB OUT    writes an mmctr-train config for that point
  python3 bench/quality/grid.py peer-args LR EMB     the FuxiCTR peer's flags for that point

Overridable for smoke runs: MMCTR_QUALITY_LRS, MMCTR_QUALITY_EMBS (comma-separated), MMCTR_QUALITY_EPOCHS."""

from __future__ import annotations

import json
import os
import sys

LRS = [float(x) for x in os.environ.get("MMCTR_QUALITY_LRS", "0.001,0.003").split(",")]
EMBS = [int(x) for x in os.environ.get("MMCTR_QUALITY_EMBS", "16").split(",")]
BATCH = 1024
EPOCHS = int(os.environ.get("MMCTR_QUALITY_EPOCHS", "8"))
PATIENCE = 2


def config(lr: float, emb: int) -> dict:
    """Our four models at one grid point: no L2, dropout 0.1, the history gates on; constant lr, AUC monitored."""
    common = {"embedding_dim": emb, "dropout": 0.1, "batch_norm": True, "history_age": True, "history_rank": True}
    return {
        "description": f"MovieLens bench grid point lr {lr}, embedding {emb} (bench/quality/grid.py)",
        "training": {
            "batch_size": BATCH,
            "eval_batch_size": 8192,
            "lr": lr,
            "emb_l2": 0.0,
            "max_epochs": EPOCHS,
            "patience": PATIENCE,
            "monitor": "auc",
            "lr_decay_factor": 1.0,
            "seed": 2019,
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
    if argv[:1] == ["config"] and len(argv) == 4:
        with open(argv[3], "w", encoding="utf-8") as fh:
            json.dump(config(float(argv[1]), int(argv[2])), fh, indent=1)
        return 0
    if argv[:1] == ["peer-args"] and len(argv) == 3:
        print(f"--learning-rate {float(argv[1])} --embedding-dim {int(argv[2])} --batch-size {BATCH} --epochs {EPOCHS}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
