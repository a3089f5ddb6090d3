"""A scoring service on a hand-made ONNX model, for the tests of mlgate.serving.app.

The model is sigmoid(w . numeric) with the twin's signature, so every expected
probability is a hand-computed logistic value; ``SwitchableSource`` is a registry
stand-in whose champion a test moves.
"""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient

from mlgate.export.portable import ModelSpec, PortableScorer

TOKEN = "test-token-0123456789abcdef"
SIGMOID_1 = 0.7310585786300049  # 1 / (1 + e^-1)
SIGMOID_0 = 0.5


def logistic_model(weights: list[float]) -> bytes:
    """probability = sigmoid(numeric @ weights); the categorical input is accepted."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.array(weights, dtype=np.float64).reshape(-1, 1), "w")
    shape = numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat")
    nodes = [
        helper.make_node("MatMul", ["numeric", "w"], ["margin"]),
        helper.make_node("Sigmoid", ["margin"], ["p2d"]),
        helper.make_node("Reshape", ["p2d", "flat"], ["probability"]),
    ]
    graph = helper.make_graph(
        nodes,
        "test",
        [
            helper.make_tensor_value_info("numeric", TensorProto.DOUBLE, ["N", len(weights)]),
            helper.make_tensor_value_info("categorical", TensorProto.STRING, ["N", 1]),
        ],
        [helper.make_tensor_value_info("probability", TensorProto.DOUBLE, ["N"])],
        initializer=[w, shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
    onnx.checker.check_model(model)
    return model.SerializeToString()


SPEC = ModelSpec(
    numeric=["amount", "txn_count_1h"],
    categorical=["channel"],
    vocabularies={"channel": ["ecom", "pos"]},
    operating_threshold=0.6,
    family="logistic_regression",
)
ROW = {"amount": 2.0, "txn_count_1h": 1, "channel": "ecom"}  # margin 2 - 1 = 1


class SwitchableSource:
    """A registry stand-in: whichever version `wanted` names is the champion."""

    description = "test registry"

    def __init__(self):
        self.wanted = "1"
        self.models = {"1": [1.0, -1.0], "2": [0.0, 0.0]}  # version 2 always says 0.5

    def current(self):
        return (self.wanted, f"run-{self.wanted}") if self.wanted else None

    def load(self, version, run_id, threads):
        return PortableScorer(logistic_model(self.models[version]), SPEC, threads)


def authorized(app) -> TestClient:
    """A client that sends the service's bearer token with every request."""
    return TestClient(app, headers={"authorization": f"Bearer {TOKEN}"})
