"""The model step of a pipeline in ONNX, joined on to the preparation steps' graph:
tree ensembles written exactly from their own trees (:mod:`.trees`), any other
model converted by skl2onnx / onnxmltools (XGBoost registered with it) and
checked for its input type."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
from onnx import TensorProto

from shipyard.serve.compiler import trees
from shipyard.serve.compiler.graph import (
    DOUBLE,
    FLOAT,
    OPSET,
    Graph,
    ModelStepFailed,
    NotCompilable,
    describe,
    first_line,
)

EXACT_TREES = "double (exact trees)"  # MODEL_INPUT of a model written by trees.py


def exact_forest(path: str, model, width: int, classes: tuple) -> trees.Forest | None:
    """The model's trees read for an exact form, or None when it is not a family
    :mod:`.trees` reads (then skl2onnx converts it)."""
    forest = trees.forest_of(path, model)
    if forest is None:
        return None
    if classes:
        check_classes(path, model, classes)
    if forest.feature and max(forest.feature) >= width:
        raise NotCompilable(f"{describe(path, model)} splits on column {max(forest.feature)} "
                            f"of a {width}-column matrix")
    return forest


def join(g: Graph, path: str, model, converted: onnx.ModelProto, x: str, dtype: str,
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
        raise NotCompilable(f"{describe(path, model)} converts without probabilities")
    check_classes(path, model, classes)
    return proba


def choose(path: str, model, width: int, classifier: bool) -> tuple[str, onnx.ModelProto]:
    """The model's input type and its conversion.

    Double unless the converter stores split thresholds as float (XGBoost's
    does; the tree families that compare in double are written by :mod:`.trees`
    instead). XGBoost itself rounds its input and thresholds to float, so fed
    floats, the ONNX form compares exactly as it does. Converters that take no
    double get float."""
    try:
        converted = convert(path, model, width, classifier, DOUBLE)
    except ModelStepFailed:
        return FLOAT, convert(path, model, width, classifier, FLOAT)
    if _float_thresholds(converted):
        return FLOAT, convert(path, model, width, classifier, FLOAT)
    return DOUBLE, converted


def convert(path: str, model, width: int, classifier: bool, dtype: str) -> onnx.ModelProto:
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
        raise NotCompilable(f"{describe(path, model)} has no ONNX converter") from None
    except Exception as exc:  # a converter's own failure, whatever its type
        raise ModelStepFailed(f"{describe(path, model)} failed to convert ({dtype} "
                              f"input): {type(exc).__name__}: {first_line(exc)}") from None


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


def check_classes(path: str, model, classes: tuple) -> None:
    """Check that the probability columns are in the card's class order.

    Refused rather than reordered: the Python path returns predict_proba's
    columns as they are, and the two paths must agree."""
    learnt = [_plain(c) for c in getattr(model, "classes_", [])]
    wanted = [_plain(c) for c in classes]
    if learnt != wanted:
        what = "class order" if sorted(map(repr, learnt)) == sorted(map(repr, wanted)) \
            else "classes"
        raise NotCompilable(f"{describe(path, model)} has the {what} {learnt}, the card "
                            f"{wanted}")


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


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
