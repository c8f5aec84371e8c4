"""The binary decision threshold, chosen on out-of-fold validation predictions.

A row is predicted positive when its positive-class probability is at least
the threshold (the convention of both ``precision_recall_curve`` and
``FixedThresholdClassifier``), so the chosen threshold reproduces exactly the
validation precision and recall it was chosen for.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve
from sklearn.model_selection import FixedThresholdClassifier

from shipyard.errors import DataError
from shipyard.spec.options import Threshold


def choose(y_true, p_positive, positive, spec: Threshold) -> float | None:
    """The threshold on ``p_positive`` (the probability of class ``positive``) that
    best meets ``spec.objective``: None for ``none``; for ``f1`` the one with the
    highest F1; for ``recall`` the highest one whose recall reaches ``spec.recall``,
    which gives the best precision at that recall."""
    if spec.objective == "none":
        return None
    y_true = np.asarray(y_true)
    p_positive = np.asarray(p_positive, dtype=np.float64)
    if y_true.shape != p_positive.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and p_positive must be 1-D and of one length, got "
                         f"{y_true.shape} and {p_positive.shape}")
    if np.isnan(p_positive).any():
        raise DataError("prepare.threshold: some validation probabilities are missing (NaN)")
    classes = np.unique(y_true)
    if len(classes) > 2:
        raise DataError(f"prepare.threshold.objective: '{spec.objective}' is for binary tasks; "
                        f"the target has {len(classes)} classes")
    if not (y_true == positive).any():
        raise DataError(f"prepare.threshold: the validation rows have no positive class "
                        f"({positive!r}), so no threshold reaches any recall or F1",
                        hint="check the split: each validation fold needs positive rows")
    precision, recall, thresholds = precision_recall_curve(y_true, p_positive,
                                                           pos_label=positive)
    # The curve's last point (precision 1, recall 0) has no threshold.
    precision, recall = precision[:-1], recall[:-1]
    if spec.objective == "f1":
        with np.errstate(divide="ignore", invalid="ignore"):
            f1 = np.where(precision + recall > 0,
                          2 * precision * recall / (precision + recall), 0.0)
        return float(thresholds[np.argmax(f1)])
    # Some threshold always reaches the target: the lowest calls every row positive
    # (recall 1). Thresholds increase along the curve, so the last one reaching it
    # is the highest.
    return float(thresholds[np.flatnonzero(recall >= spec.recall).max()])


def apply(estimator, threshold: float, positive=None) -> FixedThresholdClassifier:
    """The fitted binary ``estimator`` predicting ``positive`` (default: its last class)
    when that class's probability is at least ``threshold``.

    The estimator is reused as fitted: predicting needs no further fit.
    ``predict_proba`` is the estimator's own.
    """
    return FixedThresholdClassifier(estimator, threshold=threshold, pos_label=positive,
                                    response_method="predict_proba")
