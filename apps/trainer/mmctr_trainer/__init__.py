"""mmctr trainer: training sets from ClickHouse, CTR models, ONNX export and the model registry."""

__version__ = "0.1.0"
