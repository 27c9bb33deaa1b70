"""Exports the trainer's default QIN and AutoInt+ architectures (hyper-parameters of a trainer config,
default configs/demo.json) with random initial weights, through the trainer's own export code, so the
scoring benchmark runs on a fresh machine without a demo run (latency does not depend on weight values).

Usage: .venv/bin/python bench/score/make-default-models.py OUT_ROOT [--config demo] [--models qin,autoint]
Writes OUT_ROOT/<model>-<config>/{model.onnx, model.batch.onnx, layout.json, model.json} for the demo feature
repository's layout; skips folders that exist."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "apps" / "trainer"))

from mmctr_trainer.export import batch_graph_name, export_batch_onnx, export_onnx, model_card  # noqa: E402
from mmctr_trainer.models import build_model  # noqa: E402
from mmctr_trainer.schema import ModelSchema, load_repo  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--config", default="demo")
    p.add_argument("--models", default="qin,autoint")
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    config = json.loads((REPO / "apps" / "trainer" / "configs" / f"{a.config}.json").read_text())
    schema = ModelSchema.from_repo(load_repo())
    for name in a.models.split(","):
        folder = Path(a.out) / f"{name}-{a.config}"
        if (folder / "model.onnx").exists():
            continue
        torch.manual_seed(a.seed)
        params = config["models"][name]
        model = build_model(name, schema, params)
        export_onnx(model, folder / "model.onnx")
        export_batch_onnx(model, folder / batch_graph_name("model.onnx"))
        (folder / "layout.json").write_text(json.dumps(schema.layout, indent=1))
        card = model_card(model)
        card.update({"version": f"bench-{name}-{a.config}", "note": "random initial weights (benchmark only)"})
        (folder / "model.json").write_text(json.dumps(card, indent=1))
        print(f"exported {name} ({a.config}: {params}) -> {folder}")


if __name__ == "__main__":
    main()
