"""The metrics Shipyard knows, declared once.

The project file names them (``metric``, gates), training scores folds with
them, evaluation reports them and gates compare against them; all use this
table. Multiclass variants average over classes (macro); ROC-AUC for multiclass
is one-vs-rest.

Two regression metrics need a word. MAPE is only defined where the actual value
is not zero, so it is computed over those rows (a fraction, 0.1 = 10%) and is
NaN when every actual value is zero. PHM08 is the asymmetric score of the 2008
PHM data challenge (NASA C-MAPSS) for remaining useful life: a sum over rows
that punishes predicting failure too late (d = predicted - actual > 0) harder
than too early; being a sum, it grows with the number of rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn import metrics as skm

REGRESSION = "regression"
BINARY = "binary"
MULTICLASS = "multiclass"
ANOMALY = "anomaly"
TASKS = (REGRESSION, BINARY, MULTICLASS, ANOMALY)
CLASSIFICATION = frozenset({BINARY, MULTICLASS})


@dataclass(frozen=True)
class Prediction:
    """What a model said about some rows: values (or labels) and, for classifiers,
    the probability of each class in ``classes`` order.

    An anomaly detector's ``y_pred`` flags rows (True: an anomaly), ``score`` is its
    anomaly score (higher: more anomalous) and ``y_true`` the labels as True/False,
    or None when the data has no labels."""

    task: str
    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None = None
    classes: tuple = ()
    positive: object = None  # binary: the positive class; None means the last class
    score: np.ndarray | None = None  # anomaly: the anomaly score of each row

    @property
    def positive_class(self):
        return self.classes[-1] if self.positive is None else self.positive

    @property
    def positive_proba(self) -> np.ndarray:
        """The positive class's probability; an anomaly detector's score."""
        if self.task == ANOMALY:
            return self.score
        return self.proba[:, list(self.classes).index(self.positive_class)]


@dataclass(frozen=True)
class Metric:
    name: str
    tasks: frozenset[str]
    greater_is_better: bool
    compute: Callable[[Prediction], float]
    title: str

    def better(self, a: float, b: float) -> bool:
        """True when score ``a`` is strictly better than ``b``."""
        return a > b if self.greater_is_better else a < b


def _average(p: Prediction) -> str:
    return "binary" if p.task in (BINARY, ANOMALY) else "macro"


def _pos_label(p: Prediction):
    return p.positive_class if p.task in (BINARY, ANOMALY) else 1


def _rmse(p):
    return float(np.sqrt(skm.mean_squared_error(p.y_true, p.y_pred)))


def _mape(p):
    y_true, y_pred = np.asarray(p.y_true, dtype=float), np.asarray(p.y_pred, dtype=float)
    # sklearn's MAPE divides by max(|y|, eps) and turns a zero actual value into an
    # astronomically large error; rows with a zero actual value are left out instead
    defined = y_true != 0
    if not defined.any():
        return float("nan")
    return float(skm.mean_absolute_percentage_error(y_true[defined], y_pred[defined]))


def _phm08(p):
    d = np.asarray(p.y_pred, dtype=float) - np.asarray(p.y_true, dtype=float)
    # a wildly late prediction overflows to infinity, which is the honest score
    with np.errstate(over="ignore"):
        per_row = np.where(d < 0, np.expm1(-d / 13), np.expm1(d / 10))
    return float(per_row.sum())


def _roc_auc(p):
    if p.task in (BINARY, ANOMALY):
        return float(skm.roc_auc_score(p.y_true == p.positive_class, p.positive_proba))
    return float(skm.roc_auc_score(p.y_true, p.proba, multi_class="ovr", labels=list(p.classes)))


def _pr_auc(p):
    if p.task in (BINARY, ANOMALY):
        return float(skm.average_precision_score(p.y_true == p.positive_class, p.positive_proba))
    onehot = np.asarray(p.y_true)[:, None] == np.asarray(p.classes)[None, :]
    return float(skm.average_precision_score(onehot, p.proba, average="macro"))


def _labelled(fn):
    def compute(p: Prediction) -> float:
        return float(fn(p.y_true, p.y_pred, average=_average(p), pos_label=_pos_label(p),
                        zero_division=0))
    return compute


_REG = frozenset({REGRESSION})
_CLS = CLASSIFICATION
_RANKED = CLASSIFICATION | {ANOMALY}  # metrics of labels against scores or flags

METRICS: dict[str, Metric] = {m.name: m for m in [
    Metric("rmse", _REG, False, _rmse, "RMSE"),
    Metric("mae", _REG, False,
           lambda p: float(skm.mean_absolute_error(p.y_true, p.y_pred)), "MAE"),
    Metric("r2", _REG, True, lambda p: float(skm.r2_score(p.y_true, p.y_pred)), "R²"),
    Metric("mape", _REG, False, _mape, "MAPE (rows with actual ≠ 0)"),
    Metric("phm08", _REG, False, _phm08, "PHM08 score (RUL)"),
    Metric("accuracy", _CLS, True,
           lambda p: float(skm.accuracy_score(p.y_true, p.y_pred)), "accuracy"),
    Metric("precision", _RANKED, True, _labelled(skm.precision_score), "precision"),
    Metric("recall", _RANKED, True, _labelled(skm.recall_score), "recall"),
    Metric("f1", _RANKED, True, _labelled(skm.f1_score), "F1"),
    Metric("roc_auc", _RANKED, True, _roc_auc, "ROC-AUC"),
    Metric("pr_auc", _RANKED, True, _pr_auc, "PR-AUC"),
    # the only anomaly metric that needs no labels
    Metric("flagged", frozenset({ANOMALY}), False,
           lambda p: float(np.mean(p.y_pred)), "share flagged"),
    Metric("log_loss", _CLS, False,
           lambda p: float(skm.log_loss(p.y_true, p.proba, labels=list(p.classes))), "log loss"),
]}

DEFAULT_METRIC = {REGRESSION: "rmse", BINARY: "roc_auc", MULTICLASS: "f1", ANOMALY: "pr_auc"}
UNLABELLED_METRICS = ("flagged",)  # what an anomaly task without labels can measure


def for_task(task: str) -> list[Metric]:
    return [m for m in METRICS.values() if task in m.tasks]


def score_all(p: Prediction) -> dict[str, float]:
    """Every metric that fits the prediction's task, by name (without labels,
    only those that need none)."""
    return {m.name: m.compute(p) for m in for_task(p.task)
            if p.y_true is not None or m.name in UNLABELLED_METRICS}


def anomaly_scores(model, X) -> np.ndarray:
    """An anomaly detector's score per row, higher for more anomalous rows: minus
    scikit-learn's ``score_samples`` (which is higher for normal rows)."""
    return -np.asarray(model.score_samples(X), dtype=np.float64).reshape(-1)


def own_threshold(model) -> float:
    """The score from which a fitted detector (or a pipeline ending in one) flags a
    row by its own rule (``predict`` is -1 where ``score_samples < offset_``)."""
    detector = model.steps[-1][1] if hasattr(model, "steps") else model
    return -float(detector.offset_)


def predicted(model, X, y, task: str, positive=None, threshold: float | None = None
              ) -> Prediction:
    """Run a fitted model (or pipeline) on ``X`` and pair its output with ``y``.

    A classifier's label is its most probable class; for a binary task with a
    ``threshold``, it is the positive class wherever that class's probability
    is at least ``threshold``, and the other class elsewhere. An anomaly detector
    flags the rows whose anomaly score is at least ``threshold``, or by its own rule
    without one; ``y`` (True for an anomaly) may be None when there are no labels."""
    if task == ANOMALY:
        score = anomaly_scores(model, X)
        # without a threshold, the detector's own rule: predict says -1 for an outlier
        flags = np.asarray(model.predict(X)) == -1 if threshold is None else score >= threshold
        labels = None if y is None else np.asarray(y, dtype=bool)
        return Prediction(task, labels, flags, None, (False, True), True, score)
    y_true = np.asarray(y)
    if task not in CLASSIFICATION:
        return Prediction(task, y_true, np.asarray(model.predict(X), dtype=float))
    proba = np.asarray(model.predict_proba(X), dtype=float)
    classes = tuple(model.classes_)
    chosen = proba.argmax(axis=1)
    if threshold is not None:
        if task != BINARY or len(classes) != 2:
            raise ValueError(f"A decision threshold needs a binary task with two classes; "
                             f"this {task} task has {len(classes)}.")
        pos = classes.index(classes[-1] if positive is None else positive)
        chosen = np.where(proba[:, pos] >= threshold, pos, 1 - pos)
    y_pred = np.asarray(classes, dtype=object)[chosen]
    y_pred = y_pred.astype(y_true.dtype, copy=False)
    return Prediction(task, y_true, y_pred, proba, classes, positive)
