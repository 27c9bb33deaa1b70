"""Writes a MatMul-only ONNX graph Y = X[M,K] @ W[K,N] (W a constant initializer): the machine's
compute ceiling for fp32 on onnxruntime. Usage: .venv/bin/python bench/score/make-matmul.py OUT M K N"""

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out, m, k, n = sys.argv[1], *map(int, sys.argv[2:5])
w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((k, n)).astype(np.float32), "W")
graph = helper.make_graph(
    [helper.make_node("MatMul", ["X", "W"], ["Y"])],
    "matmul",
    [helper.make_tensor_value_info("X", TensorProto.FLOAT, [m, k])],
    [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [m, n])],
    [w],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.save(model, out)
