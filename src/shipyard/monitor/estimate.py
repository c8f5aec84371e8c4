"""How well a binary classifier is doing before the labels arrive: confidence-based
performance estimation (CBPE, as NannyML describes it).

If the model's probabilities are calibrated, a row scored p is a positive with
probability p. So in a window of unlabelled rows, the predicted positives
(score >= threshold) hold sum(p) true positives and sum(1 - p) false positives
in expectation, and the predicted negatives sum(p) false negatives and
sum(1 - p) true negatives; precision, recall, F1 and accuracy follow from that
expected confusion matrix. The ROC curve is built the same way: ranking the rows
by score, the expected true and false positive counts above each threshold are
cumulative sums of p and 1 - p, and the expected ROC-AUC is the area under it.

The assumption is the method's: the relation between inputs and label has not
changed (covariate shift only). The probabilities must be calibrated, and the
reference holdout decides whether they are: Cox's test fits the logistic
recalibration  logit P(y=1) = a + b logit(score)  to the holdout's labels and
compares it with a = 0, b = 1 (likelihood ratio, 2 degrees of freedom). When the
scores are calibrated by that test (p >= ``p_value``) they are used as they are;
otherwise isotonic regression of the holdout's labels on its scores calibrates
them. Why a test and not "whichever fits the holdout better": any calibrator
fitted on the holdout looks better on the holdout, cross-validated or not,
because it absorbs the holdout's own sampling noise, and on new windows that
noise turns into a bias (about 0.01 in F1 from a 5,000-row holdout) that a model
which was calibrated already does not have. The Brier score is no judge either:
the labels' noise swamps a mild overconfidence (log-odds stretched by 15%) that
makes the estimated F1 and ROC-AUC 0.02-0.03 too high; Cox's test finds it.

Windows: scores that are missing (NaN) are left out; an empty window gives NaN
for every metric; ROC-AUC is NaN when the window is expected to hold only one
class (every p is 0, or every p is 1). Precision, recall and F1 with a zero
denominator are 0, as scikit-learn's ``zero_division=0`` in ``shipyard.metrics``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, stats
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression

from shipyard.errors import ShipyardError

METRICS = ("precision", "recall", "f1", "accuracy", "roc_auc")
MIN_CLASS = 5  # rows of each class the reference holdout needs at least
P_VALUE = 0.05  # Cox's test: the scores count as calibrated from this p-value up


class EstimateError(ShipyardError):
    """The reference cannot calibrate a performance estimate."""


@dataclass(frozen=True)
class Estimator:
    threshold: float  # a row is predicted positive when its score is >= threshold
    calibrated: bool  # isotonic calibration is applied (Cox's test rejected the raw scores)
    cox: dict[str, float]  # Cox's test on the holdout: intercept, slope, p_value
    reference: dict[str, float]  # realised metrics on the reference holdout
    # isotonic regression's step function, as the points np.interp goes through
    knots: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))
    levels: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))

    @classmethod
    def fit(cls, scores, labels, threshold: float = 0.5, p_value: float = P_VALUE
            ) -> Estimator:
        """Calibrate on the reference holdout: positive-class ``scores`` in [0, 1] and
        ``labels`` as 0/1 (or False/True)."""
        scores, labels = _reference(scores, labels)
        cox = _cox(scores, labels)
        calibrated = cox["p_value"] < p_value
        knots = levels = np.empty(0)
        if calibrated:
            fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            fitted.fit(scores, labels)
            knots, levels = fitted.X_thresholds_, fitted.y_thresholds_
        return cls(float(threshold), calibrated, cox, realised(scores, labels, threshold),
                   knots, levels)

    def probabilities(self, scores) -> np.ndarray:
        """The calibrated probability of the positive class for each score."""
        scores = np.asarray(scores, dtype=float)
        return np.interp(scores, self.knots, self.levels) if self.calibrated else scores

    def estimate(self, scores) -> dict[str, float]:
        """Expected precision, recall, F1, accuracy and ROC-AUC of a window of scores."""
        scores = np.asarray(scores, dtype=float).reshape(-1)
        scores = scores[~np.isnan(scores)]
        if len(scores) == 0:
            return dict.fromkeys(METRICS, math.nan)
        return _expected(scores, np.clip(self.probabilities(scores), 0.0, 1.0), self.threshold)

    def to_dict(self) -> dict:
        return {"threshold": self.threshold, "calibrated": self.calibrated,
                "cox": self.cox, "reference": self.reference}


def realised(scores, labels, threshold: float = 0.5) -> dict[str, float]:
    """The same metrics from true labels (0/1), to set an estimate against: what
    scikit-learn gives (``zero_division=0``; ROC-AUC NaN with one class), counted
    with NumPy because monitoring computes it for many windows."""
    scores = np.asarray(scores, dtype=float).reshape(-1)
    labels = np.asarray(labels).astype(int).reshape(-1)
    if len(scores) == 0:
        return dict.fromkeys(METRICS, math.nan)
    predicted = scores >= threshold
    tp = float(np.sum(predicted & (labels == 1)))
    fp, fn = float(np.sum(predicted)) - tp, float(np.sum(labels == 1)) - tp
    positives = int(labels.sum())
    negatives = len(labels) - positives
    auc = math.nan
    if positives and negatives:  # Mann-Whitney: the ranks of the positives, ties averaged
        ranks = stats.rankdata(scores)
        auc = (ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (
            positives * negatives)
    return {"precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn),
            "f1": _ratio(2 * tp, 2 * tp + fp + fn),
            "accuracy": float(np.mean(predicted == (labels == 1))), "roc_auc": float(auc)}


def _reference(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=float).reshape(-1)
    raw_labels = np.asarray(labels).reshape(-1)
    if len(scores) != len(raw_labels):
        raise EstimateError(f"The reference has {len(scores)} scores but {len(raw_labels)} "
                            "labels.")
    known = ~np.isnan(scores) & ~_missing(raw_labels)
    scores, raw_labels = scores[known], raw_labels[known]
    if not set(np.unique(raw_labels).tolist()) <= {0, 1}:
        raise EstimateError("Performance estimation needs labels of 0 and 1 (or False and "
                            f"True); got {sorted(map(str, np.unique(raw_labels)))[:5]}.")
    labels = raw_labels.astype(int)
    counts = np.bincount(labels, minlength=2)
    if counts.min() < MIN_CLASS:
        raise EstimateError(
            "Performance estimation cannot be calibrated: the reference holdout has "
            f"{counts[0]} negative and {counts[1]} positive rows with a score.",
            hint=f"It needs at least {MIN_CLASS} of each class.")
    if scores.min() < 0 or scores.max() > 1:
        raise EstimateError("Performance estimation needs probabilities in [0, 1]; the "
                            f"reference scores run from {scores.min():g} to {scores.max():g}.")
    return scores, labels


def _missing(values: np.ndarray) -> np.ndarray:
    return np.array([v is None or (isinstance(v, float) and math.isnan(v)) for v in values],
                    dtype=bool)


def _cox(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Cox's calibration test: the logistic recalibration of the scores, and the
    likelihood-ratio p-value of "no recalibration needed" (a = 0, b = 1)."""
    clipped = np.clip(scores, 1e-6, 1 - 1e-6)  # 0 and 1 have no log-odds
    x = np.log(clipped / (1 - clipped))

    def loss(w) -> float:  # negative log-likelihood of a + b x
        z = w[0] + w[1] * x
        return float(np.sum(np.logaddexp(0, z) - labels * z))

    def gradient(w) -> np.ndarray:
        residual = expit(w[0] + w[1] * x) - labels
        return np.array([residual.sum(), (residual * x).sum()])

    fitted = optimize.minimize(loss, np.array([0.0, 1.0]), jac=gradient, method="BFGS")
    ratio = max(2 * (loss([0.0, 1.0]) - fitted.fun), 0.0)
    return {"intercept": float(fitted.x[0]), "slope": float(fitted.x[1]),
            "p_value": float(stats.chi2.sf(ratio, 2))}


def _expected(scores: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """The metrics of the expected confusion matrix and ROC curve."""
    predicted = scores >= threshold
    tp, fp = p[predicted].sum(), (1 - p[predicted]).sum()
    fn, tn = p[~predicted].sum(), (1 - p[~predicted]).sum()
    return {"precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn),
            "f1": _ratio(2 * tp, 2 * tp + fp + fn), "accuracy": float((tp + tn) / len(scores)),
            "roc_auc": _expected_auc(scores, p)}


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator > 0 else 0.0


def _expected_auc(scores: np.ndarray, p: np.ndarray) -> float:
    positives, negatives = p.sum(), (1 - p).sum()
    if positives <= 0 or negatives <= 0:
        return math.nan
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    tp, fp = np.cumsum(p[order]), np.cumsum(1 - p[order])
    # one point of the curve per distinct score: tied rows cross the threshold together
    last = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]
    tpr = np.r_[0.0, tp[last] / positives]
    fpr = np.r_[0.0, fp[last] / negatives]
    return float(np.trapezoid(tpr, fpr))
