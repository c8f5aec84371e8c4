"""Building an ONNX graph by hand: nodes and constants with unique names, and the
errors every stage of the compiler raises."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = {"": 17, "ai.onnx.ml": 3}  # what ONNX Runtime 1.20+ and skl2onnx 1.17+ both handle
# ai.onnx.ml 5's TreeEnsemble takes double thresholds and leaf values and answers in
# double (ONNX Runtime 1.18+): what the exact tree forms need (see trees.py).
TREES_OPSET = 5
ML = "ai.onnx.ml"
MODEL_INPUT = "shipyard.model_input"  # metadata: the type the model step takes
PYTHON_STEPS = "shipyard.python_steps"  # metadata: the leading steps left to Python (JSON)
DOUBLE, FLOAT = "double", "float"  # what the model step takes
PROBA, VALUE = "proba", "value"  # the compiled graph's output, by task


class NotCompilable(Exception):
    """The pipeline has no ONNX form that agrees with it; ``str(exc)`` says why in one line."""


class ModelStepFailed(NotCompilable):
    """The model step failed for one input type (it did not convert, load or
    agree); the other type may work."""


class Graph:
    """Nodes and constants being collected, with unique tensor names."""

    def __init__(self, blocks: str = DOUBLE) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.constants: list[onnx.TensorProto] = []
        self.opsets: dict[str, int] = dict(OPSET)
        # The type of the ColumnTransformer's output blocks. Steps compute in double
        # either way; float blocks save the model's input a full-size cast.
        self.blocks = blocks
        self._count = 0

    @property
    def block_type(self) -> int:
        return TensorProto.FLOAT if self.blocks == FLOAT else TensorProto.DOUBLE

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, hint: str, value) -> str:
        name = self.name(hint)
        self.constants.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], *, out: str | None = None,
           domain: str = "", **attrs) -> str:
        out = out or self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=self.name(op_type),
                                           domain=domain, **attrs))
        return out

    def concat(self, tensors: list[str]) -> str:
        return tensors[0] if len(tensors) == 1 else self.op("Concat", tensors, axis=1)

    def columns(self, x: str, indices, width: int) -> str:
        """``x[:, indices]``; ``x`` itself when that is every column in order."""
        indices = np.asarray(indices, dtype=np.int64)
        if np.array_equal(indices, np.arange(width)):
            return x
        return self.op("Gather", [x, self.const("columns", indices)], axis=1)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def describe(path: str, step) -> str:
    return f"step '{path}' ({type(step).__name__})"
