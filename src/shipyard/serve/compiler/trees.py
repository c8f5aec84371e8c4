"""Tree ensembles that ONNX Runtime evaluates exactly as their library does.

skl2onnx and onnxmltools write tree thresholds as float32 (ai.onnx.ml 3's
``nodes_values``). A library that compares in double (LightGBM,
HistGradientBoosting) then sends some rows the other way: a row whose value
lies between a threshold and its float32 rounding, which with sensor values
and averages is not rare (the demo's RUL model was off by 10% on some rows).
Here each ensemble is read from the fitted model's own trees and written as
ai.onnx.ml 5's ``TreeEnsemble``: double thresholds, double leaf values, a
double sum, and the library's own rule for each split and each missing value.
So the compiled form is exact by construction, not by luck on a sample.

This is the fastest exact form measured (bench/trees.py, the demo's RUL
champion, one row, 2 cores): the whole graph in one ONNX Runtime session took
32 µs, as fast as the float32 form (30 µs, off by up to 3.75 flights of RUL),
against 105 µs for the same preparation in ONNX followed by LightGBM's own
predict on the float64 matrix. treelite/tl2cgen was not kept: it needs a C
compiler at registration and puts a platform-specific library in the registry.

scikit-learn's own trees (decision tree, forests) compare float32 values with
double thresholds: their input is rounded to float32 first, as
scikit-learn's ``predict`` does. XGBoost computes in float32 throughout, which
onnxmltools' float form already matches (see :mod:`.model`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from onnx import TensorProto, numpy_helper

from shipyard.serve.compiler.graph import ML, TREES_OPSET, Graph, NotCompilable, describe

LEQ = 0  # ai.onnx.ml 5 nodes_modes: BRANCH_LEQ (the true branch is taken when x <= split)
SUM = 1  # aggregate_function
IDENTITY, EXP, SIGMOID, SOFTMAX = "identity", "exp", "sigmoid", "softmax"
ISOLATION = "isolation"  # 2 ** -(sum / scale): an isolation forest's anomaly score


@dataclass
class Forest:
    """Trees in the flat arrays of ai.onnx.ml 5's TreeEnsemble, and what follows
    the sum: ``base`` added per target, then ``link`` (``scale`` multiplies the
    raw score before a sigmoid, or divides the path lengths of an isolation
    forest)."""

    n_targets: int
    link: str = IDENTITY
    scale: float = 1.0
    base: np.ndarray = field(default_factory=lambda: np.zeros(1))
    float32_input: bool = False  # the library rounds its input to float32
    zero_within: float = 0.0  # the library reads values with |x| <= this as 0
    roots: list[int] = field(default_factory=list)
    feature: list[int] = field(default_factory=list)
    split: list[float] = field(default_factory=list)
    true_id: list[int] = field(default_factory=list)
    true_leaf: list[int] = field(default_factory=list)
    false_id: list[int] = field(default_factory=list)
    false_leaf: list[int] = field(default_factory=list)
    missing_true: list[int] = field(default_factory=list)
    leaf_target: list[int] = field(default_factory=list)
    leaf_weight: list[float] = field(default_factory=list)

    def add_tree(self, is_leaf, feature, threshold, left, right, missing_left, value,
                 target: int) -> None:
        """One tree given as the library's node arrays (children by index; ``value``
        read at leaves), its leaves adding to ``target``."""
        internal = [i for i in range(len(is_leaf)) if not is_leaf[i]]
        if not internal:  # a tree that is one leaf: a split whose both sides are that leaf
            leaf = self._leaf(target, value[0])
            self.roots.append(self._node(0, 0.0, (leaf, 1), (leaf, 1), False))
            return
        first = len(self.feature)
        nodes = {i: first + k for k, i in enumerate(internal)}
        leaves = {i: self._leaf(target, value[i]) for i in range(len(is_leaf)) if is_leaf[i]}

        def child(j: int) -> tuple[int, int]:
            return (leaves[j], 1) if is_leaf[j] else (nodes[j], 0)

        for i in internal:
            self._node(int(feature[i]), float(threshold[i]), child(int(left[i])),
                       child(int(right[i])), bool(missing_left[i]))
        self.roots.append(nodes[0])  # every library here numbers the root 0

    def _node(self, feature: int, split: float, true: tuple[int, int],
              false: tuple[int, int], missing_true: bool) -> int:
        self.feature.append(feature)
        self.split.append(split)
        self.true_id.append(true[0])
        self.true_leaf.append(true[1])
        self.false_id.append(false[0])
        self.false_leaf.append(false[1])
        self.missing_true.append(int(missing_true))
        return len(self.feature) - 1

    def _leaf(self, target: int, weight: float) -> int:
        self.leaf_target.append(target)
        self.leaf_weight.append(float(weight))
        return len(self.leaf_weight) - 1

    def splits(self) -> list[tuple[int, float]]:
        """Every (feature, threshold) pair: where a row could be sent the wrong way."""
        return sorted(set(zip(self.feature, self.split, strict=True)))


def reads(model) -> bool:
    """Whether :func:`forest_of` reads this model's family (without reading it)."""
    return type(model).__name__ in _FAMILIES


def forest_of(path: str, model) -> Forest | None:
    """The model's trees as a :class:`Forest`, or None for a model that is not one
    of the tree families read here."""
    family = _FAMILIES.get(type(model).__name__)
    return family(path, model) if family is not None else None


def write(g: Graph, forest: Forest, x: str, classes: tuple) -> str:
    """The nodes that score the double matrix ``x``: raw sums, base, link. For a
    classifier, probabilities ``[N, len(classes)]``; else values ``[N, 1]``."""
    if forest.float32_input:
        x = g.op("Cast", [g.op("Cast", [x], to=TensorProto.FLOAT)], to=TensorProto.DOUBLE)
    if forest.zero_within:
        tiny = g.op("LessOrEqual", [g.op("Abs", [x]), g.const("zero", np.float64(
            forest.zero_within))])
        x = g.op("Where", [tiny, g.const("zero", np.float64(0.0)), x])
    g.opsets[ML] = max(g.opsets.get(ML, 0), TREES_OPSET)
    raw = g.op(
        "TreeEnsemble", [x], domain=ML, aggregate_function=SUM, post_transform=0,
        n_targets=forest.n_targets, tree_roots=forest.roots,
        nodes_featureids=forest.feature,
        nodes_modes=_tensor(np.full(len(forest.feature), LEQ, dtype=np.uint8)),
        nodes_splits=_tensor(np.asarray(forest.split, dtype=np.float64)),
        nodes_truenodeids=forest.true_id, nodes_trueleafs=forest.true_leaf,
        nodes_falsenodeids=forest.false_id, nodes_falseleafs=forest.false_leaf,
        nodes_missing_value_tracks_true=forest.missing_true,
        leaf_targetids=forest.leaf_target,
        leaf_weights=_tensor(np.asarray(forest.leaf_weight, dtype=np.float64)))
    if np.any(forest.base != 0):
        raw = g.op("Add", [raw, g.const("base", forest.base.astype(np.float64).reshape(1, -1))])
    if forest.link == EXP:
        return g.op("Exp", [raw])
    if forest.link == ISOLATION:  # 2 ** -(depths / denominator), as scikit-learn writes it
        if forest.scale == 0:  # one training row: scikit-learn's score is 1
            return g.op("Add", [g.op("Mul", [raw, g.const("zero", np.float64(0.0))]),
                                g.const("one", np.float64(1.0))])
        ratio = g.op("Neg", [g.op("Div", [raw, g.const("denominator",
                                                        np.float64(forest.scale))])])
        return g.op("Pow", [g.const("two", np.float64(2.0)), ratio])
    if forest.link == SOFTMAX:
        return g.op("Softmax", [raw], axis=1)
    if forest.link == SIGMOID:
        if forest.scale != 1.0:
            raw = g.op("Mul", [raw, g.const("sigmoid", np.float64(forest.scale))])
        raw = g.op("Sigmoid", [raw])
    if classes and forest.n_targets == 1:  # binary: the positive class's probability
        other = g.op("Sub", [g.const("one", np.float64(1.0)), raw])
        return g.op("Concat", [other, raw], axis=1)
    return raw


def _tensor(values: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(values)


# -- LightGBM -----------------------------------------------------------------------

_LGBM_LINKS = {"regression": IDENTITY, "regression_l1": IDENTITY, "huber": IDENTITY,
               "fair": IDENTITY, "quantile": IDENTITY, "mape": IDENTITY, "poisson": EXP,
               "gamma": EXP, "tweedie": EXP, "binary": SIGMOID, "cross_entropy": SIGMOID,
               "multiclass": SOFTMAX}


# LightGBM drops values with |x| <= kZeroThreshold (1e-35f) from a row it predicts
# on, so they count as 0 (LightGBM's c_api.cpp, RowFunctionFromDenseMatric).
_LGBM_ZERO = float(np.float32(1e-35))


def _lightgbm(path: str, model) -> Forest:
    # dump_model writes each threshold with 17 significant digits: the double itself.
    # Like predict, it keeps only the best iteration when early stopping found one.
    dump = model.booster_.dump_model()
    words = dump.get("objective", "").split()
    kind = words[0] if words else ""
    link = _LGBM_LINKS.get(kind)
    if link is None or "sqrt" in words or dump.get("average_output"):
        raise NotCompilable(f"{describe(path, model)}: objective '{dump.get('objective')}'"
                            f"{' averaged (rf)' if dump.get('average_output') else ''} has no "
                            "exact ONNX form here")
    scale = 1.0
    for word in words[1:]:
        if word.startswith("sigmoid:"):
            scale = float(word.split(":", 1)[1])
    per_round = int(dump.get("num_tree_per_iteration", 1))
    forest = Forest(n_targets=per_round, link=link, scale=scale, base=np.zeros(per_round),
                    zero_within=_LGBM_ZERO)
    for i, info in enumerate(dump["tree_info"]):
        arrays = _lightgbm_arrays(path, model, info["tree_structure"])
        forest.add_tree(*arrays, target=i % per_round)
    return forest


def _lightgbm_arrays(path: str, model, root: dict):
    """A dumped tree (nested dicts) as node arrays, the root first."""
    is_leaf, feature, threshold, left, right, missing_left, value = ([] for _ in range(7))
    stack = [(root, None, None)]
    while stack:
        node, parent, side = stack.pop()
        i = len(is_leaf)
        if parent is not None:
            (left if side == "left" else right)[parent] = i
        leaf = "leaf_value" in node
        if not leaf and "leaf_coeff" in node:
            raise NotCompilable(f"{describe(path, model)}: linear trees have no ONNX form")
        is_leaf.append(leaf)
        left.append(-1)
        right.append(-1)
        if leaf:
            feature.append(0)
            threshold.append(0.0)
            missing_left.append(False)
            value.append(float(node["leaf_value"]))
            continue
        if node.get("decision_type") != "<=":
            raise NotCompilable(f"{describe(path, model)} has categorical splits, which have "
                                "no exact ONNX form here")
        split = float(node["threshold"])
        missing = node.get("missing_type", "None")
        if missing == "NaN":
            goes_left = bool(node.get("default_left", True))
        elif missing == "None":  # LightGBM reads a missing value as 0
            goes_left = split >= 0.0
        else:  # "Zero": zero itself is missing, which one comparison cannot say
            raise NotCompilable(f"{describe(path, model)} treats zero as missing "
                                "(zero_as_missing), which has no ONNX form here")
        feature.append(int(node["split_feature"]))
        threshold.append(split)
        missing_left.append(goes_left)
        value.append(0.0)
        stack.append((node["right_child"], i, "right"))
        stack.append((node["left_child"], i, "left"))
    return is_leaf, feature, threshold, left, right, missing_left, value


# -- scikit-learn's HistGradientBoosting ----------------------------------------------

_HIST_LINKS = {"HalfSquaredError": IDENTITY, "AbsoluteError": IDENTITY,
               "PinballLoss": IDENTITY, "HuberLoss": IDENTITY, "HalfPoissonLoss": EXP,
               "HalfGammaLoss": EXP, "HalfBinomialLoss": SIGMOID,
               "HalfMultinomialLoss": SOFTMAX}


def _hist_gradient_boosting(path: str, model) -> Forest:
    loss = type(model._loss).__name__
    link = _HIST_LINKS.get(loss)
    if link is None:
        raise NotCompilable(f"{describe(path, model)}: loss {loss} has no exact ONNX form here")
    if getattr(model, "is_categorical_", None) is not None and np.any(model.is_categorical_):
        raise NotCompilable(f"{describe(path, model)} has categorical features, which have no "
                            "exact ONNX form here")
    base = np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1)
    forest = Forest(n_targets=len(base), link=link, base=base)
    for per_round in model._predictors:
        for k, tree in enumerate(per_round):
            n = tree.nodes
            forest.add_tree(n["is_leaf"], n["feature_idx"], n["num_threshold"], n["left"],
                            n["right"], n["missing_go_to_left"], n["value"], target=k)
    return forest


# -- scikit-learn's decision trees and forests ----------------------------------------


def _sklearn_trees(path: str, model) -> Forest:
    trees = getattr(model, "estimators_", None)
    trees = [model] if trees is None else list(trees)
    classes = getattr(model, "classes_", None)
    n_classes = 0 if classes is None else len(classes)
    if n_classes and np.ndim(classes) != 1:
        raise NotCompilable(f"{describe(path, model)} predicts several outputs")
    # Binary: only the positive class is summed, its complement is 1 - p (as exact as
    # scikit-learn's own normalised pair); otherwise each class sums its own copy.
    targets = [1] if n_classes == 2 else list(range(max(n_classes, 1)))
    forest = Forest(n_targets=len(targets), float32_input=True, base=np.zeros(len(targets)))
    for tree in trees:
        t = tree.tree_
        if t.n_outputs != 1:
            raise NotCompilable(f"{describe(path, model)} predicts several outputs")
        values = t.value[:, 0, :].astype(np.float64)
        if n_classes:  # predict_proba normalises each leaf's class weights
            total = values.sum(axis=1, keepdims=True)
            values = values / np.where(total == 0.0, 1.0, total)
        # The sum of the trees' outputs, each divided by their number: scikit-learn
        # divides the sum once; the two differ by rounding only.
        values = values / len(trees)
        is_leaf = t.children_left == -1
        missing = getattr(t, "missing_go_to_left", np.zeros(t.node_count, dtype=bool))
        for j, target in enumerate(targets):
            forest.add_tree(is_leaf, t.feature, t.threshold, t.children_left,
                            t.children_right, missing, values[:, target], target=j)
    return forest


# -- scikit-learn's IsolationForest --------------------------------------------------


def _isolation_forest(path: str, model) -> Forest:
    """Each leaf holds what scikit-learn adds for a row that reaches it: the leaf's
    depth plus the average path length of the rows left in it, minus 1."""
    from sklearn.ensemble._iforest import _average_path_length

    n_trees = len(model.estimators_)
    scale = float(n_trees * _average_path_length([model._max_samples])[0])
    forest = Forest(n_targets=1, link=ISOLATION, scale=scale, float32_input=True)
    width = model.n_features_in_
    for k, (tree, features) in enumerate(zip(model.estimators_, model.estimators_features_,
                                             strict=True)):
        t = tree.tree_
        # Trees fitted on a subset of the columns see only those (in this order).
        mapping = np.asarray(features) if model._max_features != width else np.arange(width)
        feature = np.where(t.feature >= 0, mapping[np.maximum(t.feature, 0)], 0)
        value = (model._decision_path_lengths[k] + model._average_path_length_per_tree[k]
                 - 1.0)
        missing = getattr(t, "missing_go_to_left", np.zeros(t.node_count, dtype=bool))
        forest.add_tree(t.children_left == -1, feature, t.threshold, t.children_left,
                        t.children_right, missing, value, target=0)
    return forest


_FAMILIES = {
    "IsolationForest": _isolation_forest,
    "LGBMRegressor": _lightgbm, "LGBMClassifier": _lightgbm,
    "HistGradientBoostingRegressor": _hist_gradient_boosting,
    "HistGradientBoostingClassifier": _hist_gradient_boosting,
    **{name: _sklearn_trees for name in (
        "DecisionTreeRegressor", "DecisionTreeClassifier", "RandomForestRegressor",
        "RandomForestClassifier", "ExtraTreesRegressor", "ExtraTreesClassifier")},
}
