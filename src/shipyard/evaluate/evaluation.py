"""Scoring a fitted model, and its constant baseline, on a holdout."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier, DummyRegressor

from shipyard.errors import DataError
from shipyard.metrics import CLASSIFICATION, TASKS, Prediction, predicted, score_all


@dataclass(frozen=True)
class Evaluation:
    """A model's holdout scores, its constant baseline's scores on the same rows
    (empty without a baseline), and the predictions behind them."""

    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    prediction: Prediction
    n_rows: int


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"The 'task' parameter must be one of {TASKS}. Got {task!r} instead.")


def baseline_for(task: str, X_train, y_train):
    """The constant predictor to beat, fitted on the training rows: the mean for a
    regression, the class frequencies for a classification."""
    _check_task(task)
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
    if task in CLASSIFICATION and len(pd.unique(y_true)) < 2:
        raise DataError(
            "The holdout holds a single class, so ROC-AUC and precision/recall are undefined.",
            hint="use a stratified split or a larger holdout share")
    return y_true


def evaluate(model, X: pd.DataFrame, y, *, task: str, baseline=None,
             positive=None) -> Evaluation:
    """Score the fitted ``model`` on the holdout ``X``, ``y`` with every metric of
    ``task``, and the fitted ``baseline`` (see :func:`baseline_for`) too when given.
    ``positive`` is a binary task's positive class (default: the last class)."""
    _check_task(task)
    y_true = _check_holdout(X, y, task)
    prediction = predicted(model, X, y_true, task, positive)
    baseline_metrics = {}
    if baseline is not None:
        baseline_metrics = score_all(predicted(baseline, X, y_true, task, positive))
    return Evaluation(metrics=score_all(prediction), baseline_metrics=baseline_metrics,
                      prediction=prediction, n_rows=len(y_true))
