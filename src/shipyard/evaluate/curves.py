"""What a classifier's probabilities are worth beyond its labels: the metrics a
binary classifier would get at other decision thresholds, and how well its
probabilities match the shares actually observed (calibration)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve

from shipyard.metrics import BINARY, Prediction

THRESHOLDS = np.round(np.arange(1, 20) * 0.05, 2)  # 0.05, 0.10, ..., 0.95
CALIBRATION_BINS = 10


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den``, NaN where ``den`` is 0 (the metric is undefined there)."""
    out = np.full(len(den), np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def thresholds(p: Prediction, grid: np.ndarray = THRESHOLDS) -> pd.DataFrame:
    """Precision, recall, F1 and the share of rows predicted positive if the
    positive class were predicted wherever its probability is >= each threshold
    (the rule :func:`shipyard.metrics.predicted` applies). Precision is NaN at a
    threshold no row reaches; F1 is NaN only when there is nothing to find and
    nothing was found."""
    if p.task != BINARY:
        raise ValueError(f"A thresholds table needs a binary task. Got {p.task!r} instead.")
    actual = np.asarray(p.y_true) == p.positive_class
    score = p.positive_proba
    # sorted scores and running positive counts give every threshold's counts in
    # O(n log n) time and O(n) memory, however fine the grid
    order = np.argsort(score, kind="stable")
    positives_below = np.concatenate([[0], np.cumsum(actual[order])])
    below = np.searchsorted(score[order], grid, side="left")  # rows with score < threshold
    flagged = len(score) - below
    tp = actual.sum() - positives_below[below]
    fp = flagged - tp
    fn = actual.sum() - tp
    return pd.DataFrame({
        "threshold": np.asarray(grid, dtype=float),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "predicted positive": flagged / len(score),
    })


def calibration(p: Prediction, n_bins: int = CALIBRATION_BINS) -> pd.DataFrame:
    """The reliability curve: rows are put in up to ``n_bins`` bins of equal size
    by predicted probability (quantile strategy, so sparse extremes do not make
    empty bins), and each bin's mean prediction is set against the share
    observed. Binary: the positive class's probability against the share of
    positives. Multiclass: the top class's probability (the model's confidence)
    against the share of rows it got right."""
    if p.task == BINARY:
        hit = np.asarray(p.y_true) == p.positive_class
        score = p.positive_proba
    else:
        hit = np.asarray(p.y_true) == np.asarray(p.y_pred)
        score = p.proba.max(axis=1)
    observed, mean_predicted = calibration_curve(hit.astype(int), score, pos_label=1,
                                                 n_bins=n_bins, strategy="quantile")
    return pd.DataFrame({"predicted": mean_predicted, "observed": observed})
