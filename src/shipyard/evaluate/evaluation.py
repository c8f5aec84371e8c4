"""Scoring a fitted model, and its constant baseline, on a holdout."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier, DummyRegressor

from shipyard.errors import DataError
from shipyard.evaluate import curves
from shipyard.evaluate.importance import permutation
from shipyard.evaluate.segments import by_segment
from shipyard.metrics import (
    ANOMALY,
    BINARY,
    CLASSIFICATION,
    TASKS,
    Prediction,
    predicted,
    score_all,
)


@dataclass(frozen=True)
class Evaluation:
    """A model's holdout scores, its constant baseline's scores on the same rows
    (empty without a baseline), the predictions behind them, and what explains
    them (``None`` where not computed or not meaningful for the task)."""

    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    prediction: Prediction
    n_rows: int
    # binary: the positive class is predicted where its probability is >= this;
    # anomaly: a row is flagged where its anomaly score is >= this
    threshold: float | None = None
    # binary: threshold, precision, recall, f1, predicted positive (see curves.thresholds)
    thresholds: pd.DataFrame | None = None
    # classification: predicted, observed per probability bin (see curves.calibration)
    calibration: pd.DataFrame | None = None
    # segment value, rows, then every metric of the task (see segments.by_segment)
    segments: pd.DataFrame | None = None
    # (column, mean score drop, std), most important first (see importance.permutation)
    importance: list[tuple[str, float, float]] | None = None
    # maintenance policies replayed on the holdout (see costs.table), with evaluate.costs
    costs: pd.DataFrame | None = None


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"The 'task' parameter must be one of {TASKS}. Got {task!r} instead.")


class ConstantDetector:
    """The anomaly baseline: the same score for every row, so it ranks nothing
    (ROC-AUC 0.5, PR-AUC the share of anomalies) and flags nothing."""

    offset_ = 0.0

    def fit(self, X, y=None):
        return self

    def score_samples(self, X):
        return np.zeros(len(X))

    def predict(self, X):
        return np.ones(len(X), dtype=int)


def baseline_for(task: str, X_train, y_train):
    """The constant predictor to beat, fitted on the training rows: the mean for a
    regression, the class frequencies for a classification, a constant score for
    anomaly detection."""
    _check_task(task)
    if task == ANOMALY:
        return ConstantDetector().fit(X_train, y_train)
    dummy = DummyClassifier(strategy="prior") if task in CLASSIFICATION else DummyRegressor(
        strategy="mean")
    return dummy.fit(X_train, y_train)


def _check_holdout(X, y, task: str) -> np.ndarray:
    y_true = np.asarray(y)
    if len(X) != len(y_true):
        raise DataError(f"The holdout has {len(X):,} rows of features but {len(y_true):,} "
                        "target values.")
    if len(y_true) == 0:
        raise DataError("The holdout has no rows.", hint="use a larger data set or holdout share")
    if pd.isna(y_true).any():
        raise DataError(f"The holdout's target has {int(pd.isna(y_true).sum()):,} missing "
                        "values.", hint="set rows without a target aside before evaluating")
    if task in (*CLASSIFICATION, ANOMALY) and len(pd.unique(y_true)) < 2:
        raise DataError(
            "The holdout holds a single class, so ROC-AUC and precision/recall are undefined.",
            hint="use a stratified split or a larger holdout share")
    return y_true


def _check_threshold(threshold, task: str) -> None:
    if threshold is None:
        return
    if task == ANOMALY:  # a threshold on the anomaly score, which has no fixed range
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise ValueError(f"The 'threshold' parameter must be a number. Got {threshold!r} "
                             "instead.")
        return
    if task != BINARY:
        raise ValueError(f"A decision threshold applies to a binary task only. Got a "
                         f"threshold of {threshold!r} for a {task} task.")
    # 0 and 1 are allowed: a threshold tuned on a model whose probabilities reach
    # exactly 0 or 1 (trees, naive Bayes) can be either, and ">=" still means something
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not (
            0 <= threshold <= 1):
        raise ValueError("The 'threshold' parameter must be a number from 0 to 1. "
                         f"Got {threshold!r} instead.")


def evaluate(model, X: pd.DataFrame, y, *, task: str, baseline=None, positive=None,
             threshold: float | None = None, segments=None, importance: bool = False,
             seed: int = 0, scored=None) -> Evaluation:
    """Score the fitted ``model`` on the holdout ``X``, ``y`` with every metric of
    ``task``, and the fitted ``baseline`` (see :func:`baseline_for`) too when given.

    ``positive`` is a binary task's positive class (default: the last class).
    ``threshold`` (binary only) labels a row positive where the positive class's
    probability is >= it, instead of taking the most probable class; the
    label metrics, of the model and of the baseline, use those labels.
    For an anomaly task ``threshold`` is on the anomaly score (None: the detector's
    own rule), ``y`` is True for an anomaly, or None when there are no labels.
    ``segments`` holds one value per holdout row (a column's values, in the
    holdout's order): metrics are then also reported per value.
    ``importance`` computes permutation importance of the raw input columns,
    shuffled with ``seed``.
    ``scored`` (a boolean mask over the rows) scores only those rows; the model
    still predicts every row, because the others are context a model may need
    (an entity's earlier history). Importance is not computed then: shuffling a
    column would also scramble that history.
    """
    _check_task(task)
    _check_threshold(threshold, task)
    if task == ANOMALY and y is None:
        return _unlabelled(model, X, threshold)
    mask = None if scored is None else np.asarray(scored, dtype=bool)
    if mask is None:
        y_true = _check_holdout(X, y, task)
    else:
        y_true = _check_holdout(X[mask], _rows(y, mask), task)
    classes = list(getattr(model, "classes_", []))
    if task == BINARY and positive is not None and positive not in classes:
        raise DataError(f"The positive class {positive!r} is not one the model knows; it "
                        f"knows {', '.join(map(str, classes))}.")
    y_all = np.asarray(y) if mask is None else _filled(y, mask, y_true)
    prediction = _keep(predicted(model, X, y_all, task, positive, threshold), mask)
    baseline_metrics = {}
    if baseline is not None:
        baseline_metrics = score_all(_keep(predicted(baseline, X, y_all, task, positive,
                                                     threshold), mask))
    if mask is not None:
        segments = None if segments is None else _rows(segments, mask)
        importance = False
    binary, classifier = task == BINARY, task in CLASSIFICATION
    return Evaluation(
        metrics=score_all(prediction), baseline_metrics=baseline_metrics,
        prediction=prediction, n_rows=len(y_true),
        # without a threshold the most probable class wins: for two classes, 0.5
        threshold=(0.5 if threshold is None else float(threshold)) if binary else
        (None if threshold is None else float(threshold)) if task == ANOMALY else None,
        thresholds=curves.thresholds(prediction) if binary else None,
        calibration=curves.calibration(prediction) if classifier else None,
        segments=None if segments is None else by_segment(prediction, segments),
        importance=permutation(model, X, y_true, task=task, positive=positive,
                               seed=seed) if importance else None)


def _unlabelled(model, X: pd.DataFrame, threshold: float | None) -> Evaluation:
    """An anomaly detector on rows without labels: only the share it flags."""
    if len(X) == 0:
        raise DataError("The holdout has no rows.", hint="use a larger data set or holdout share")
    prediction = predicted(model, X, None, ANOMALY, threshold=threshold)
    return Evaluation(metrics=score_all(prediction), baseline_metrics={}, prediction=prediction,
                      n_rows=len(X), threshold=None if threshold is None else float(threshold))


def _rows(values, mask: np.ndarray):
    if isinstance(values, pd.Series):
        return values[mask].reset_index(drop=True)
    return np.asarray(values)[mask]


def _filled(y, mask: np.ndarray, scored_values: np.ndarray) -> np.ndarray:
    """``y`` for every row, with the unscored rows given a scored row's value: their
    predictions are made and dropped, but metrics code must not see a missing value."""
    out = np.asarray(y).copy()
    out[~mask] = scored_values[0]
    return out


def _keep(p: Prediction, mask: np.ndarray | None) -> Prediction:
    if mask is None:
        return p
    return replace(p, y_true=p.y_true[mask], y_pred=p.y_pred[mask],
                   proba=None if p.proba is None else p.proba[mask],
                   score=None if p.score is None else p.score[mask])
