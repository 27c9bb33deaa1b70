"""FLOPs of one request from an ONNX graph: 2·M·K·N summed over every MatMul and Gemm (with broadcast
batch dimensions), shapes from onnx shape inference with the request's concrete input sizes; shapes it
cannot resolve (data-dependent) are taken from one onnxruntime run. Other ops are not counted.

Usage: .venv/bin/python bench/score/model-flops.py MODEL.onnx --batch 500 --history 64
Prints JSON: {"flops": total, "ops": [{"name", "op", "a", "b", "flops"}]}."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import onnx
from onnx import TensorProto, helper, shape_inference

DTYPES = {TensorProto.FLOAT: np.float32, TensorProto.INT64: np.int64, TensorProto.INT32: np.int32}


def concrete_inputs(model: onnx.ModelProto, batch: int, history: int) -> dict[str, list[int]]:
    """Input shapes with the symbolic dims fixed: B = batch, Bu = 1, L = history."""
    sizes = {"B": batch, "Bu": 1, "L": history}
    out = {}
    for vi in model.graph.input:
        dims = vi.type.tensor_type.shape.dim
        out[vi.name] = [d.dim_value if d.HasField("dim_value") else sizes.get(d.dim_param, 1) for d in dims]
        for d, v in zip(dims, out[vi.name], strict=True):
            d.ClearField("dim_param")
            d.dim_value = v
    return out


def static_shapes(model: onnx.ModelProto) -> dict[str, list[int] | None]:
    inferred = shape_inference.infer_shapes(model, data_prop=True)
    shapes: dict[str, list[int] | None] = {}
    for vi in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        dims = vi.type.tensor_type.shape.dim
        shapes[vi.name] = [d.dim_value for d in dims] if all(d.HasField("dim_value") for d in dims) else None
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)
    for node in model.graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    shapes[node.output[0]] = list(a.t.dims)
    return shapes


def runtime_shapes(model: onnx.ModelProto, names: list[str], inputs: dict[str, list[int]]) -> dict[str, list[int]]:
    """Shapes of intermediate values from one run (small positive ids, unit vectors)."""
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model)
    for n in names:
        m.graph.output.append(helper.make_empty_tensor_value_info(n))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {}
    for vi in model.graph.input:
        dt = DTYPES[vi.type.tensor_type.elem_type]
        feeds[vi.name] = np.ones(inputs[vi.name], dtype=dt)
    outs = sess.run(names, feeds)
    return {n: list(o.shape) for n, o in zip(names, outs, strict=True)}


def count(path: str, batch: int, history: int) -> dict:
    model = onnx.load(path)
    inputs = concrete_inputs(model, batch, history)
    shapes = static_shapes(model)
    mm = [n for n in model.graph.node if n.op_type in ("MatMul", "Gemm")]
    unknown = sorted({x for n in mm for x in n.input[:2] if shapes.get(x) is None})
    if unknown:
        shapes.update(runtime_shapes(model, unknown, inputs))
    ops, total = [], 0
    for n in mm:
        a, b = shapes[n.input[0]], shapes[n.input[1]]
        if n.op_type == "Gemm":
            attrs = {x.name: x.i for x in n.attribute}
            m_, k = (a[1], a[0]) if attrs.get("transA") else (a[0], a[1])
            n_ = b[0] if attrs.get("transB") else b[1]
            f = 2 * m_ * k * n_
        else:
            a2, b2 = (a if len(a) > 1 else [1, *a]), (b if len(b) > 1 else [*b, 1])
            batch_dims = np.broadcast_shapes(tuple(a2[:-2]), tuple(b2[:-2]))
            f = 2 * math.prod(batch_dims) * a2[-2] * a2[-1] * b2[-1]
        ops.append({"name": n.name, "op": n.op_type, "a": a, "b": b, "flops": int(f)})
        total += int(f)
    return {"flops": total, "ops": ops, "inputs": inputs}


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--history", type=int, default=64)
    a = p.parse_args()
    print(json.dumps(count(a.model, a.batch, a.history)))
