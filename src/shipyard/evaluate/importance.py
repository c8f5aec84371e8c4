"""Permutation feature importance on the holdout.

Shuffling one input column breaks its link with the target; how much the
score drops says how much the model relies on that column. It works for any
model, and because the fitted pipeline takes raw rows, it ranks the columns the
user knows rather than the encoded features the preprocessor made of them.
The score is the task's ranking-friendly metric from :mod:`shipyard.metrics`
(so the positive class is honoured), oriented so that a positive importance
means the model got worse without the column.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from joblib import parallel_config
from sklearn.inspection import permutation_importance
from sklearn.utils import resample

from shipyard.metrics import ANOMALY, BINARY, METRICS, MULTICLASS, REGRESSION, predicted

# RMSE and log loss move with every small change of a prediction, where
# accuracy would not notice most shuffles; ROC-AUC is the binary primary metric
IMPORTANCE_METRIC = {REGRESSION: "rmse", BINARY: "roc_auc", MULTICLASS: "log_loss",
                     ANOMALY: "roc_auc"}
MAX_ROWS = 5000  # more rows sharpen the estimate little and cost a predict per repeat
N_REPEATS = 5
MAX_THREADS = 4


def _rows(y: np.ndarray, task: str, seed: int) -> np.ndarray:
    """At most MAX_ROWS row positions, stratified for a classifier so that every
    class is kept in its share."""
    if len(y) <= MAX_ROWS:
        return np.arange(len(y))
    stratify = y if task in (BINARY, MULTICLASS, ANOMALY) else None
    chosen = resample(np.arange(len(y)), replace=False, n_samples=MAX_ROWS, stratify=stratify,
                      random_state=seed)
    return np.sort(chosen)


def permutation(model, X, y, *, task: str, positive=None, seed: int = 0
                ) -> list[tuple[str, float, float]]:
    """(column, mean drop in score, its standard deviation over repeats) for each
    input column, most important first. The drop is in the units of
    ``IMPORTANCE_METRIC[task]``."""
    metric = METRICS[IMPORTANCE_METRIC[task]]
    sign = 1.0 if metric.greater_is_better else -1.0

    def scorer(estimator, X_part, y_part) -> float:
        # these metrics read probabilities or values, never labels: no threshold needed
        return sign * metric.compute(predicted(estimator, X_part, y_part, task, positive))

    y = np.asarray(y)
    rows = _rows(y, task, seed)
    if isinstance(X, pd.DataFrame):
        columns, X_part = [str(c) for c in X.columns], X.iloc[rows]
    else:
        X_part = np.asarray(X)[rows]
        columns = [f"column {i}" for i in range(X_part.shape[1])]
    # Columns are scored in threads: the fitted pipeline is only read, and its heavy
    # parts (numpy windows, tree predictions) release the interpreter's lock. Each
    # column's shuffles are seeded up front, so the result does not depend on this.
    with parallel_config(backend="threading"):
        result = permutation_importance(model, X_part, y[rows], scoring=scorer,
                                        n_repeats=N_REPEATS, random_state=seed,
                                        n_jobs=min(os.cpu_count() or 1, MAX_THREADS))
    ranked = zip(columns, result.importances_mean, result.importances_std, strict=True)
    # ties (columns the model ignores) are ordered by name, so reruns list them alike
    return sorted(((c, float(m), float(s)) for c, m, s in ranked), key=lambda t: (-t[1], t[0]))
