"""A fitted pipeline as one ONNX graph: preparation steps written here, the model by skl2onnx.

The graph has one ``[N, 1]`` input per schema column (double for numeric kinds,
string for text) and one output: ``proba`` (``[N, classes]``, in the card's
class order) or ``value`` (``[N, 1]``), both double.

The preparation steps are written here rather than left to skl2onnx's own
converters for two reasons:

- exactness: each numeric step does, in float64, the same operations in the
  same order as scikit-learn, so the model sees the same matrix bit for bit;
- speed: a text column is looked up once, string -> row of a small table made by
  running the fitted imputer and encoder on every category they know, instead of
  flowing through string-copying imputer and encoder nodes, which took more of
  ONNX Runtime's time than the trees.

Anything not handled raises :class:`NotCompilable` naming the step.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import onnx
import pandas as pd
from onnx import TensorProto, helper, numpy_helper
from sklearn.base import is_classifier
from sklearn.compose import ColumnTransformer
from sklearn.feature_selection import SelectorMixin
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.preprocessing import (
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
    TargetEncoder,
)

from shipyard.metrics import REGRESSION
from shipyard.prepare.dates import DateFeatures
from shipyard.prepare.outliers import Clipper
from shipyard.schema import Schema
from shipyard.serve.fast import PROBA, VALUE, ModelStepFailed, NotCompilable

OPSET = {"": 17, "ai.onnx.ml": 3}  # what ONNX Runtime 1.20+ and skl2onnx 1.17+ both handle
ML = "ai.onnx.ml"
MODEL_INPUT = "shipyard.model_input"  # metadata: the type the model step takes
DOUBLE, FLOAT = "double", "float"  # what the model step takes
_UNSEEN = "\x00shipyard: a value never seen\x00"  # probes what encoders do with new values
_ENCODERS = (OneHotEncoder, OrdinalEncoder, TargetEncoder)
_DATES = ("column '{}' is a date-time; ONNX has no date type, so the date features must be "
          "computed in Python")


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


def build(pipeline, schema: Schema, task: str, classes: tuple,
          dtype: str | None = None) -> onnx.ModelProto:
    """The ONNX model of a fitted ``pipeline`` whose input is ``schema.model_frame``.

    ``dtype`` is what the model step receives, ``"double"`` or ``"float"``; None
    lets the model decide. The choice is kept in the metadata as ``MODEL_INPUT``."""
    transforms, (model_name, model) = _steps(pipeline)
    if not transforms or not isinstance(transforms[0][1], ColumnTransformer):
        name, step = transforms[0] if transforms else (model_name, model)
        if schema.dates and isinstance(step, DateFeatures):
            raise NotCompilable(_DATES.format(schema.dates[0]))
        raise NotCompilable(f"{_describe(name, step)} has no ONNX converter")
    if schema.dates:
        raise NotCompilable(_DATES.format(schema.dates[0]))
    classifier = task != REGRESSION
    if classifier != is_classifier(model):
        raise NotCompilable(f"{_describe(model_name, model)} is not a "
                            f"{'classifier' if classifier else 'regressor'}")
    converted = None
    if dtype is None:
        width = _prepare(Graph(), transforms, schema)[1]
        dtype, converted = _choose(model_name, model, width, classifier)
    only_selection = all(isinstance(step, SelectorMixin) for _, step in transforms[1:])
    g = Graph(FLOAT if dtype == FLOAT and only_selection else DOUBLE)
    x, width = _prepare(g, transforms, schema)
    if converted is None:
        converted = _convert(model_name, model, width, classifier, dtype)
    output = _join(g, model_name, model, converted, x, dtype, classes)
    return _assemble(g, schema, output, task, dtype)


def _prepare(g: Graph, transforms: list, schema: Schema) -> tuple[str, int]:
    """The preparation steps' nodes; the matrix they make and its width."""
    x, width = _column_transformer(g, transforms[0][0], transforms[0][1], schema)
    for name, step in transforms[1:]:
        x, width = _matrix_step(g, name, step, x, width)
    return x, width


def _steps(pipeline) -> tuple[list[tuple[str, Any]], tuple[str, Any]]:
    """The steps that act at prediction time, and the model.

    Samplers (imblearn's, and the outlier dropper) act only while fitting."""
    steps = getattr(pipeline, "steps", None)
    if not steps:
        raise NotCompilable(f"a {type(pipeline).__name__} is not a pipeline of steps")
    active = [(name, step) for name, step in steps
              if step not in (None, "passthrough") and not hasattr(step, "fit_resample")]
    if not active:
        raise NotCompilable("the pipeline has no model step")
    return active[:-1], active[-1]


def _describe(path: str, step) -> str:
    return f"step '{path}' ({type(step).__name__})"


# -- the ColumnTransformer ------------------------------------------------------------


def _column_transformer(g: Graph, path: str, ct: ColumnTransformer,
                        schema: Schema) -> tuple[str, int]:
    names = [str(n) for n in getattr(ct, "feature_names_in_", [])]
    if names != schema.names:
        raise NotCompilable(f"{_describe(path, ct)} was fitted on columns {names[:5]}, "
                            f"not the schema's {schema.names[:5]}")
    if getattr(ct, "sparse_output_", False):
        raise NotCompilable(f"{_describe(path, ct)} makes a sparse matrix")
    kinds = {c.name: c.kind for c in schema.columns}
    blocks = []
    for name, transformer, spec in ct.transformers_:
        columns = _column_names(spec, names, f"{path}/{name}")
        if transformer == "drop" or not columns:
            continue
        sub = f"{path}/{name}"
        chain = _chain(transformer, name)
        if all(kinds[c] != "string" for c in columns):
            x, width = g.concat(columns), len(columns)
            for step_name, step in chain:
                x, width = _matrix_step(g, f"{sub}/{step_name}", step, x, width)
            if g.blocks == FLOAT and width:
                x = g.op("Cast", [x], to=TensorProto.FLOAT)
            block = (x, width)
        elif all(kinds[c] == "string" for c in columns):
            block = _text_block(g, sub, transformer, chain, columns)
        else:
            raise NotCompilable(f"step '{sub}' mixes text and numeric columns")
        if block[1]:  # a missing indicator with nothing to indicate adds no columns
            blocks.append(block)
    if not blocks:
        raise NotCompilable(f"{_describe(path, ct)} outputs no columns")
    return g.concat([b[0] for b in blocks]), sum(b[1] for b in blocks)


def _column_names(spec, names: list[str], path: str) -> list[str]:
    """A ColumnTransformer's column selection as names."""
    if isinstance(spec, str):
        spec = [spec]
    if isinstance(spec, slice):
        return names[spec]
    values = list(np.asarray(spec).tolist()) if not isinstance(spec, list) else spec
    if all(isinstance(v, bool) for v in values) and len(values) == len(names):
        return [n for n, keep in zip(names, values, strict=True) if keep]
    if all(isinstance(v, str) for v in values):
        return values
    if all(isinstance(v, int) for v in values):
        return [names[v] for v in values]
    raise NotCompilable(f"step '{path}' selects columns by {type(spec).__name__}")


def _chain(transformer, name: str) -> list[tuple[str, Any]]:
    if transformer == "passthrough":
        return []
    steps = getattr(transformer, "steps", None)
    pairs = steps if steps is not None else [(name, transformer)]
    return [(n, s) for n, s in pairs if s not in (None, "passthrough")]


# -- numeric matrices: one tensor [N, width] in, one out -----------------------------


def _matrix_step(g: Graph, path: str, step, x: str, width: int) -> tuple[str, int]:
    if isinstance(step, SelectorMixin):
        keep = step.get_support(indices=True)
        if len(keep) == 0:
            raise NotCompilable(f"{_describe(path, step)} keeps no column")
        return g.columns(x, keep, width), len(keep)
    convert = _NUMERIC.get(type(step))  # exact types: a subclass may compute otherwise
    if convert is None:
        raise NotCompilable(f"{_describe(path, step)} has no ONNX converter")
    return convert(g, path, step, x, width)


def _clipper(g: Graph, path: str, step: Clipper, x: str, width: int) -> tuple[str, int]:
    # np.clip keeps NaN, and so do ONNX Runtime's Max and Min.
    if np.isfinite(step.lower_).any():
        x = g.op("Max", [x, g.const("lower", step.lower_.astype(np.float64))])
    if np.isfinite(step.upper_).any():
        x = g.op("Min", [x, g.const("upper", step.upper_.astype(np.float64))])
    return x, width


def _imputer(g: Graph, path: str, step: SimpleImputer, x: str, width: int) -> tuple[str, int]:
    if not _is_nan(step.missing_values) or step.add_indicator:
        raise NotCompilable(f"{_describe(path, step)}: only missing_values=NaN without "
                            "add_indicator is supported for numbers")
    fill = np.asarray(step.statistics_, dtype=np.float64)
    if not step.keep_empty_features:  # scikit-learn drops columns it learnt nothing for
        keep = np.flatnonzero(~np.isnan(fill))
        x, width, fill = g.columns(x, keep, width), len(keep), fill[keep]
    return g.op("Where", [g.op("IsNaN", [x]), g.const("fill", fill), x]), width


def _standard(g: Graph, path: str, step: StandardScaler, x: str, width: int) -> tuple[str, int]:
    # Subtract then divide, as scikit-learn does, so that results match to the last bit.
    if step.with_mean:
        x = g.op("Sub", [x, g.const("mean", step.mean_.astype(np.float64))])
    if step.with_std:
        x = g.op("Div", [x, g.const("scale", step.scale_.astype(np.float64))])
    return x, width


def _robust(g: Graph, path: str, step: RobustScaler, x: str, width: int) -> tuple[str, int]:
    if step.with_centering:
        x = g.op("Sub", [x, g.const("center", step.center_.astype(np.float64))])
    if step.with_scaling:
        x = g.op("Div", [x, g.const("scale", step.scale_.astype(np.float64))])
    return x, width


def _minmax(g: Graph, path: str, step: MinMaxScaler, x: str, width: int) -> tuple[str, int]:
    x = g.op("Mul", [x, g.const("scale", step.scale_.astype(np.float64))])
    x = g.op("Add", [x, g.const("min", step.min_.astype(np.float64))])
    if step.clip:
        low, high = (float(v) for v in step.feature_range)
        x = g.op("Min", [g.op("Max", [x, g.const("low", np.float64(low))]),
                         g.const("high", np.float64(high))])
    return x, width


def _indicator(g: Graph, path: str, step: MissingIndicator, x: str,
               width: int) -> tuple[str, int]:
    if not _is_nan(step.missing_values):
        raise NotCompilable(f"{_describe(path, step)}: only missing_values=NaN is supported "
                            "for numbers")
    _check_indicator(path, step)
    found = step.features_
    if len(found) == 0:
        return x, 0
    missing = g.op("IsNaN", [g.columns(x, found, width)])
    return g.op("Cast", [missing], to=TensorProto.DOUBLE), len(found)


def _check_indicator(path: str, step: MissingIndicator) -> None:
    if step.error_on_new and step.features == "missing-only":
        raise NotCompilable(f"{_describe(path, step)} refuses new gaps (error_on_new=True); "
                            "ONNX cannot refuse a row")


def _is_nan(value) -> bool:
    return isinstance(value, float) and np.isnan(value)


_NUMERIC = {Clipper: _clipper, SimpleImputer: _imputer, StandardScaler: _standard,
            RobustScaler: _robust, MinMaxScaler: _minmax, MissingIndicator: _indicator}


# -- text columns: one string tensor [N, 1] per column -------------------------------


def _text_block(g: Graph, path: str, transformer, chain: list, columns: list[str]):
    """A text group: missing indicators, or imputers then one encoder, as lookups."""
    kinds = [type(step) for _, step in chain]
    if kinds == [MissingIndicator]:
        return _text_indicator(g, f"{path}/{chain[0][0]}", chain[0][1], columns)
    for step_name, step in chain:
        if type(step) not in (SimpleImputer, *_ENCODERS):
            raise NotCompilable(f"{_describe(f'{path}/{step_name}', step)} has no ONNX "
                                "converter for text columns")
    if not kinds or kinds[-1] not in _ENCODERS or any(k in _ENCODERS for k in kinds[:-1]):
        raise NotCompilable(f"step '{path}' does not end in one encoder, so its text "
                            "columns would reach the model as text")
    encoder_name, encoder = chain[-1]
    widths = _encoded_widths(encoder, len(columns))
    markers = ["", *(s.missing_values for _, s in chain[:-1] if isinstance(s.missing_values, str))]
    keys = [_known_values(f"{path}/{encoder_name}", encoder, j, markers)
            for j in range(len(columns))]
    tables = _lookup_tables(path, transformer, columns, keys, widths)
    blocks = []
    for column, known, table in zip(columns, keys, tables, strict=True):
        # Each known value -> its row of the table; anything else -> the last row,
        # which holds what the steps make of a value they never saw.
        row = g.op("LabelEncoder", [column], domain=ML, keys_strings=known,
                   values_int64s=list(range(len(known))), default_int64=len(known))
        table = table.astype(np.float32 if g.blocks == FLOAT else np.float64)
        # GatherND with [N, 1] indices gives [N, width] with no reshape: one node
        # fewer per column, which matters for one-row latency.
        blocks.append(g.op("GatherND", [g.const("table", table), row]))
    return g.concat(blocks), sum(widths)


def _encoded_widths(encoder, n_columns: int) -> list[int]:
    """How many output columns each input column becomes."""
    if isinstance(encoder, OneHotEncoder):
        # Private but stable since scikit-learn 1.1: counts after infrequent grouping
        # and dropped categories.
        return [int(w) for w in encoder._n_features_outs]
    if isinstance(encoder, TargetEncoder) and encoder.target_type_ == "multiclass":
        return [len(encoder.classes_)] * n_columns
    return [1] * n_columns


def _known_values(path: str, encoder, j: int, markers: list[str]) -> list[str]:
    """The values of text column ``j`` that the steps treat apart: the encoder's
    categories and the imputers' missing markers; any other is unseen."""
    categories = list(encoder.categories_[j])
    if not all(isinstance(c, str) for c in categories):
        raise NotCompilable(f"{_describe(path, encoder)} has non-text categories for a "
                            "text column")
    return list(dict.fromkeys([*categories, *markers]))


def _lookup_tables(path: str, transformer, columns: list[str], keys: list[list[str]],
                   widths: list[int]) -> list[np.ndarray]:
    """Per column, the fitted steps' output for each known value, then for an unseen one.

    The steps act on each column alone (imputers and encoders do), so one probe
    frame serves all columns: column j lists its known values, padded by
    repeating the first; a second, one-row frame holds an unseen value in each."""
    rows = max(len(k) for k in keys)
    known = pd.DataFrame({c: pd.Series(k + [k[0]] * (rows - len(k)), dtype=object)
                          for c, k in zip(columns, keys, strict=True)})
    unseen = pd.DataFrame({c: pd.Series([_UNSEEN], dtype=object) for c in columns})
    try:
        seen_out = _dense(transformer.transform(known))
    except Exception as exc:
        raise NotCompilable(f"step '{path}' fails on its own categories: "
                            f"{type(exc).__name__}: {_first_line(exc)}") from None
    try:
        with warnings.catch_warnings():
            # OneHotEncoder(handle_unknown="ignore") warns of the unseen value it was
            # shown on purpose.
            warnings.filterwarnings("ignore", message="Found unknown categories",
                                    category=UserWarning)
            unseen_out = _dense(transformer.transform(unseen))
    except Exception as exc:
        raise NotCompilable(f"step '{path}' fails on values it never saw "
                            f"({_first_line(exc)}), and ONNX cannot refuse a row") from None
    if seen_out.shape[1] != sum(widths):
        raise NotCompilable(f"step '{path}' makes {seen_out.shape[1]} columns, expected "
                            f"{sum(widths)}")
    tables, start = [], 0
    for values, width in zip(keys, widths, strict=True):
        block = slice(start, start + width)
        tables.append(np.vstack([seen_out[:len(values), block], unseen_out[:, block]]))
        start += width
    return tables


def _dense(matrix) -> np.ndarray:
    matrix = matrix.toarray() if hasattr(matrix, "toarray") else matrix
    return np.asarray(matrix, dtype=np.float64)


def _text_indicator(g: Graph, path: str, step: MissingIndicator, columns: list[str]):
    if step.missing_values != "":
        raise NotCompilable(f"{_describe(path, step)}: only missing_values='' is supported "
                            "for text")
    _check_indicator(path, step)
    found = [columns[j] for j in step.features_]
    if not found:
        return "", 0
    flags = [g.op("LabelEncoder", [c], domain=ML, keys_strings=[""], values_int64s=[1],
                  default_int64=0) for c in found]
    return g.op("Cast", [g.concat(flags)], to=g.block_type), len(found)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


# -- the model: converted by skl2onnx / onnxmltools, then joined on ------------------


def _join(g: Graph, path: str, model, converted: onnx.ModelProto, x: str, dtype: str,
          classes: tuple) -> str:
    """Join the converted model on to the matrix ``x``; the name of its output."""
    converted = onnx.compose.add_prefix(converted, "model/")
    if g.blocks == dtype:
        g.op("Identity", [x], out="model/features")
    else:
        g.op("Cast", [x], out="model/features", to=TensorProto.FLOAT)
    g.nodes.extend(converted.graph.node)
    g.constants.extend(converted.graph.initializer)
    for opset in converted.opset_import:
        g.opsets[opset.domain] = max(opset.version, g.opsets.get(opset.domain, 0))
    outputs = [o.name for o in converted.graph.output]
    if not classes:
        return outputs[0]
    proba = next((o for o in outputs if o.endswith("probabilities")), None)
    if proba is None:
        raise NotCompilable(f"{_describe(path, model)} converts without probabilities")
    return _in_card_order(g, path, model, proba, classes)


def _choose(path: str, model, width: int, classifier: bool) -> tuple[str, onnx.ModelProto]:
    """The model's input type and its conversion.

    Double unless the converter stores split thresholds as float (LightGBM's and
    XGBoost's do, scikit-learn's trees too): a tree's threshold is often a value
    seen in training, and a double equal to it is then compared with the
    threshold rounded to float, which can send the row the wrong way. Fed floats,
    equal values round alike. Converters that take no double get float."""
    try:
        converted = _convert(path, model, width, classifier, DOUBLE)
    except ModelStepFailed:
        return FLOAT, _convert(path, model, width, classifier, FLOAT)
    if _float_thresholds(converted):
        return FLOAT, _convert(path, model, width, classifier, FLOAT)
    return DOUBLE, converted


def _convert(path: str, model, width: int, classifier: bool, dtype: str) -> onnx.ModelProto:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    from skl2onnx.common.exceptions import MissingConverter, MissingShapeCalculator

    _register_models()
    tensor = DoubleTensorType if dtype == DOUBLE else FloatTensorType
    options = {id(model): {"zipmap": False}} if classifier else None
    try:
        with warnings.catch_warnings():
            # skl2onnx reads SVC's Platt-scaling attributes, which scikit-learn 1.9
            # deprecates along with probability=True; reading them is still right.
            warnings.filterwarnings("ignore", message=r"Attribute `prob[AB]_` was deprecated",
                                    category=FutureWarning)
            return convert_sklearn(model, "model", [("features", tensor([None, width]))],
                                   target_opset=OPSET, options=options)
    except (MissingConverter, MissingShapeCalculator):
        raise NotCompilable(f"{_describe(path, model)} has no ONNX converter") from None
    except Exception as exc:  # a converter's own failure, whatever its type
        raise ModelStepFailed(f"{_describe(path, model)} failed to convert ({dtype} "
                              f"input): {type(exc).__name__}: {_first_line(exc)}") from None


def _float_thresholds(model: onnx.ModelProto) -> bool:
    for node in model.graph.node:
        if node.op_type.startswith("TreeEnsemble"):
            attributes = {a.name: a for a in node.attribute}
            if "nodes_values" in attributes:  # the float form; doubles use ..._as_tensor
                return True
            splits = attributes.get("nodes_splits")  # ai.onnx.ml 5's TreeEnsemble
            if splits is not None and splits.t.data_type == TensorProto.FLOAT:
                return True
    return False


def _in_card_order(g: Graph, path: str, model, proba: str, classes: tuple) -> str:
    """The probability columns, checked to be in the card's class order.

    Refused rather than reordered: the Python path returns predict_proba's
    columns as they are, and the two paths must agree."""
    learnt = [_plain(c) for c in getattr(model, "classes_", [])]
    wanted = [_plain(c) for c in classes]
    if learnt != wanted:
        what = "class order" if sorted(map(repr, learnt)) == sorted(map(repr, wanted)) \
            else "classes"
        raise NotCompilable(f"{_describe(path, model)} has the {what} {learnt}, the card "
                            f"{wanted}")
    return proba


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _assemble(g: Graph, schema: Schema, output: str, task: str,
              dtype: str) -> onnx.ModelProto:
    name = VALUE if task == REGRESSION else PROBA
    g.op("Cast", [output], out=name, to=TensorProto.DOUBLE)
    inputs = [helper.make_tensor_value_info(
        c.name, TensorProto.STRING if c.kind == "string" else TensorProto.DOUBLE, ["N", 1])
        for c in schema.columns]
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
    helper.set_model_props(model, {"shipyard.task": task, MODEL_INPUT: dtype})
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise NotCompilable(f"the ONNX graph is invalid: {_first_line(exc)}") from None
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


_registered = False


def _register_models() -> None:
    """Teach skl2onnx the boosting libraries' models (onnxmltools converts them),
    and work around its HistGradientBoosting converter."""
    global _registered
    if _registered:
        return
    from lightgbm import LGBMClassifier, LGBMRegressor
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    from skl2onnx import update_registered_converter
    from skl2onnx.common._registration import get_converter, get_shape_calculator
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from xgboost import XGBClassifier, XGBRegressor

    from shipyard.train.estimators import LabelledXGBClassifier

    options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    update_registered_converter(LGBMClassifier, "LightGbmLGBMClassifier",
                                _float_classifier_shapes, convert_lightgbm, options=options)
    update_registered_converter(LGBMRegressor, "LightGbmLGBMRegressor",
                                _float_regressor_shapes, convert_lightgbm)
    # LabelledXGBClassifier only decodes labels in Python; its classes_ already
    # holds the original labels, which the converter writes into the graph.
    for cls in (XGBClassifier, LabelledXGBClassifier):
        update_registered_converter(cls, f"Shipyard{cls.__name__}", _float_classifier_shapes,
                                    convert_xgboost, options=options)
    update_registered_converter(XGBRegressor, "ShipyardXGBRegressor", _float_regressor_shapes,
                                convert_xgboost)
    for cls, allowed in ((HistGradientBoostingClassifier,
                          {**options, "raw_scores": [True, False],
                           "output_class_labels": [False, True]}),
                         (HistGradientBoostingRegressor, {"raw_scores": [True, False]})):
        alias = f"Sklearn{cls.__name__}"  # the names skl2onnx registered them under
        update_registered_converter(cls, alias, get_shape_calculator(alias),
                                    _ints_for_flags(get_converter(alias)), options=allowed)
    _registered = True


def _float_classifier_shapes(operator) -> None:
    """skl2onnx's shapes, but float probabilities: the boosting libraries' tree
    nodes put out float whatever the input type, where skl2onnx's calculator
    would copy the input type."""
    from skl2onnx.common.data_types import FloatTensorType
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes

    calculate_linear_classifier_output_shapes(operator)
    proba = operator.outputs[1]
    proba.type = FloatTensorType(proba.type.shape)


def _float_regressor_shapes(operator) -> None:
    from skl2onnx.common.data_types import FloatTensorType
    from skl2onnx.common.shape_calculator import calculate_linear_regressor_output_shapes

    calculate_linear_regressor_output_shapes(operator)
    value = operator.outputs[0]
    value.type = FloatTensorType(value.type.shape)


def _ints_for_flags(convert):
    """skl2onnx 1.20 writes HistGradientBoosting's missing-value flags as NumPy
    booleans, which ONNX's integer-list attributes refuse; this writes 0/1."""

    def converter(scope, operator, container):
        add_node = container.add_node

        def add(*args, **attrs):
            for key, value in attrs.items():
                if isinstance(value, list) and any(isinstance(v, bool | np.bool_)
                                                   for v in value):
                    attrs[key] = [int(v) for v in value]
            return add_node(*args, **attrs)

        container.add_node = add
        try:
            convert(scope, operator, container)
        finally:
            del container.add_node

    return converter
