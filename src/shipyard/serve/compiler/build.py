"""A fitted pipeline as one ONNX graph: the preparation steps (:mod:`.steps`), then
the model step (:mod:`.model`).

The steps before the ColumnTransformer (per-entity series windows, date parts)
have no ONNX form: they stay in Python, run by the fitted steps themselves, and
the graph starts at their output (its inputs are the ColumnTransformer's; the
step names are kept in the metadata as ``PYTHON_STEPS``).

The graph has one ``[N, 1]`` input per column it takes (double for numeric kinds,
string for text) and one output: ``proba`` (``[N, classes]``, in the card's
class order) or ``value`` (``[N, 1]``: the prediction, or an anomaly detector's
score), both double. A binary classifier with a
tuned decision threshold compiles to its probabilities: the server applies the
card's threshold to them, the same comparison (``p >= threshold``) as
scikit-learn's ``FixedThresholdClassifier``.

Anything not handled raises :class:`NotCompilable` naming the step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import onnx
from onnx import TensorProto, helper
from sklearn.base import is_classifier
from sklearn.compose import ColumnTransformer
from sklearn.feature_selection import SelectorMixin
from sklearn.model_selection import FixedThresholdClassifier

from shipyard.metrics import ANOMALY, REGRESSION
from shipyard.prepare.dates import DateFeatures
from shipyard.schema import Schema
from shipyard.serve.compiler import model as model_step
from shipyard.serve.compiler import trees
from shipyard.serve.compiler.graph import (
    DOUBLE,
    FLOAT,
    MODEL_INPUT,
    PROBA,
    PYTHON_STEPS,
    VALUE,
    Graph,
    NotCompilable,
    describe,
    first_line,
)
from shipyard.serve.compiler.steps import prepare

_DATES = ("column '{}' is a date-time; ONNX has no date type, so the date features must be "
          "computed in Python")
FEATURES = "features"  # the input of a model step compiled alone (see model_only)


@dataclass(frozen=True)
class Parts:
    """A pipeline taken apart for compiling: the leading steps left to Python, the
    steps that act at prediction time before the model, the model, and the
    decision threshold wrapped around them."""

    transforms: list[tuple[str, Any]]
    model_name: str
    model: Any
    threshold: FixedThresholdClassifier | None = None
    prefix: list[tuple[str, Any]] = ()  # run in Python before the graph

    def python_input(self, frame):
        """What the graph takes: ``frame`` (model-frame rows) through the prefix."""
        for _, step in self.prefix:
            frame = step.transform(frame)
        return frame


def parts(pipeline) -> Parts:
    """The steps that act at prediction time, and the model.

    Samplers (imblearn's, and the outlier dropper) act only while fitting; a tuned
    threshold is a comparison after the probabilities."""
    wrapper = None
    if isinstance(pipeline, FixedThresholdClassifier):
        wrapper = pipeline
        pipeline = getattr(pipeline, "estimator_", pipeline.estimator)
    steps = getattr(pipeline, "steps", None)
    if not steps:
        raise NotCompilable(f"a {type(pipeline).__name__} is not a pipeline of steps")
    active = [(name, step) for name, step in steps if step not in (None, "passthrough")
              and not hasattr(step, "fit_resample")]
    if not active:
        raise NotCompilable("the pipeline has no model step")
    name, model = active[-1]
    transforms = active[:-1]
    # Everything before the ColumnTransformer stays in Python; without one, the first
    # step is named in build's refusal.
    first = next((i for i, (_, step) in enumerate(transforms)
                  if isinstance(step, ColumnTransformer)), 0)
    return Parts(transforms[first:], name, model, wrapper, transforms[:first])


def build(pipeline, schema: Schema, task: str, classes: tuple,
          dtype: str | None = None) -> onnx.ModelProto:
    """The ONNX model of a fitted ``pipeline``. ``schema`` is what the graph takes:
    the card's schema, or for a pipeline with a Python prefix, the prefix's output.

    ``dtype`` is what a converted model step receives, ``"double"`` or
    ``"float"``; None lets the model decide. Tree families read by
    :mod:`.trees` always take double. The choice is kept in the metadata as
    ``MODEL_INPUT``."""
    p = parts(pipeline)
    transforms = p.transforms
    if not transforms or not isinstance(transforms[0][1], ColumnTransformer):
        name, step = transforms[0] if transforms else (p.model_name, p.model)
        if schema.dates and isinstance(step, DateFeatures):
            raise NotCompilable(_DATES.format(schema.dates[0]))
        raise NotCompilable(f"{describe(name, step)} has no ONNX converter")
    python = [name for name, _ in p.prefix]
    if schema.dates:
        raise NotCompilable(_DATES.format(schema.dates[0]))
    classifier = _check_role(p, task)
    width = prepare(Graph(), transforms, schema)[1]
    forest = model_step.exact_forest(p.model_name, p.model, width, classes)
    if forest is not None:
        g = Graph(DOUBLE)
        x, width = prepare(g, transforms, schema)
        output = trees.write(g, forest, x, classes)
        return _assemble(g, _inputs(schema), output, task, model_step.EXACT_TREES, python)
    converted = None
    if dtype is None:
        dtype, converted = model_step.choose(p.model_name, p.model, width, classifier)
    only_selection = all(isinstance(step, SelectorMixin) for _, step in transforms[1:])
    g = Graph(FLOAT if dtype == FLOAT and only_selection else DOUBLE)
    x, width = prepare(g, transforms, schema)
    if converted is None:
        converted = model_step.convert(p.model_name, p.model, width, classifier, dtype)
    output = model_step.join(g, p.model_name, p.model, converted, x, dtype, classes)
    return _assemble(g, _inputs(schema), output, task, dtype, python)


def model_only(pipeline, width: int, task: str, classes: tuple,
               dtype: str) -> onnx.ModelProto:
    """The model step alone, as ``build`` compiled it for ``dtype``: one double
    input ``features`` ``[N, width]`` (the prepared matrix). Verification feeds it
    rows placed on the trees' split thresholds."""
    p = parts(pipeline)
    classifier = _check_role(p, task)
    g = Graph(DOUBLE)
    forest = model_step.exact_forest(p.model_name, p.model, width, classes)
    if forest is not None:
        output = trees.write(g, forest, FEATURES, classes)
    else:
        converted = model_step.convert(p.model_name, p.model, width, classifier, dtype)
        output = model_step.join(g, p.model_name, p.model, converted, FEATURES, dtype,
                                 classes)
    inputs = [helper.make_tensor_value_info(FEATURES, TensorProto.DOUBLE, ["N", width])]
    return _assemble(g, inputs, output, task, dtype)


def _check_role(p: Parts, task: str) -> bool:
    if task == ANOMALY:
        if not trees.reads(p.model):
            raise NotCompilable(f"{describe(p.model_name, p.model)} has no exact ONNX form "
                                "here; the Python pipeline serves it")
        return False
    classifier = task != REGRESSION
    if classifier != is_classifier(p.model):
        raise NotCompilable(f"{describe(p.model_name, p.model)} is not a "
                            f"{'classifier' if classifier else 'regressor'}")
    return classifier


def _inputs(schema: Schema) -> list[onnx.ValueInfoProto]:
    return [helper.make_tensor_value_info(
        c.name, TensorProto.STRING if c.kind == "string" else TensorProto.DOUBLE, ["N", 1])
        for c in schema.columns]


def _assemble(g: Graph, inputs: list, output: str, task: str, dtype: str,
              python: list[str] = ()) -> onnx.ModelProto:
    name = VALUE if task in (REGRESSION, ANOMALY) else PROBA
    g.op("Cast", [output], out=name, to=TensorProto.DOUBLE)
    result = helper.make_tensor_value_info(name, TensorProto.DOUBLE, ["N", None])
    nodes = _needed(g.nodes, name)
    used = {i for node in nodes for i in node.input}
    constants = [c for c in g.constants if c.name in used]
    graph = helper.make_graph(nodes, "shipyard", inputs, [result], constants)
    model = helper.make_model(graph, producer_name="shipyard",
                              opset_imports=[helper.make_opsetid(d, v)
                                             for d, v in sorted(g.opsets.items())])
    # The oldest IR version that holds these opsets, so older runtimes load it too.
    model.ir_version = helper.find_min_ir_version_for(list(model.opset_import))
    helper.set_model_props(model, {"shipyard.task": task, MODEL_INPUT: dtype,
                                   PYTHON_STEPS: json.dumps(list(python))})
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise NotCompilable(f"the ONNX graph is invalid: {first_line(exc)}") from None
    return model


def _needed(nodes: list[onnx.NodeProto], output: str) -> list[onnx.NodeProto]:
    """The nodes that ``output`` depends on, in order: converters also emit
    predicted labels, which nobody reads."""
    wanted, keep = {output}, []
    for node in reversed(nodes):
        if wanted.intersection(node.output):
            keep.append(node)
            wanted.update(i for i in node.input if i)
    return keep[::-1]


def listing(pipeline, compiled: bool) -> list[dict[str, str]]:
    """Each step of ``pipeline`` and where it runs when served: ``compiled`` (in the
    ONNX graph), ``python`` (the pipeline itself), or ``training only`` (samplers,
    which act only while fitting). Steps inside the ColumnTransformer are listed
    as ``columns/<group>/<step>``."""
    runs = "compiled" if compiled else "python"
    try:
        python = {name for name, _ in parts(pipeline).prefix}
    except NotCompilable:
        python = set()
    wrapper = None
    if isinstance(pipeline, FixedThresholdClassifier):
        wrapper, pipeline = pipeline, getattr(pipeline, "estimator_", pipeline.estimator)
    steps = getattr(pipeline, "steps", None)
    if not steps:
        return [_entry(type(pipeline).__name__, pipeline, runs)]
    out = []
    for name, step in steps:
        if step in (None, "passthrough"):
            continue
        if hasattr(step, "fit_resample"):
            out.append(_entry(name, step, "training only"))
        elif isinstance(step, ColumnTransformer):
            out.extend(_entry(path, sub, runs) for path, sub in _inside(name, step))
        else:
            out.append(_entry(name, step, "python" if name in python else runs))
    if wrapper is not None:
        out.append(_entry("threshold", wrapper, runs))
    return out


def _inside(name: str, ct: ColumnTransformer) -> list[tuple[str, Any]]:
    found = []
    for group, transformer, _ in getattr(ct, "transformers_", ct.transformers):
        if transformer in ("drop", "passthrough"):
            continue
        chain = getattr(transformer, "steps", None) or [(group, transformer)]
        found.extend((f"{name}/{group}" + (f"/{step_name}" if step_name != group else ""), step)
                     for step_name, step in chain if step not in (None, "passthrough"))
    return found


def _entry(path: str, step, runs: str) -> dict[str, str]:
    return {"step": path, "kind": type(step).__name__, "runs": runs}
