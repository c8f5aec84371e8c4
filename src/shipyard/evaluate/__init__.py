"""Holdout evaluation: how good the chosen model is on rows it never saw.

``evaluate(model, X, y, task=...)`` scores a fitted model (or pipeline) with
every metric of :mod:`shipyard.metrics` that fits the task, and scores a
*constant baseline* on the same rows: ``baseline_for`` fits scikit-learn's
``DummyRegressor(strategy="mean")`` or ``DummyClassifier(strategy="prior")``,
the model that has learned nothing but the target's distribution. A model
that does not beat it has learned nothing useful, whatever its score looks like.

Beyond the scores, the :class:`Evaluation` keeps what explains them: for a
binary classifier, the metrics at other decision thresholds (and the threshold
it uses, which the caller may set); for any classifier, the calibration curve;
on request, metrics per segment of a column the user names, and permutation
importance of the raw input columns.

``section(evaluation, metric=..., cv=...)`` shows the metrics next to the
baseline's (and the cross-validation's, when given) and the plots that explain
them: predicted vs actual and residuals for a regression; ROC, precision-recall,
the confusion matrix, calibration and metrics across thresholds for a
classifier; importance bars and the per-segment table when computed.
"""

from shipyard.evaluate import costs
from shipyard.evaluate.evaluation import Evaluation, baseline_for, evaluate
from shipyard.evaluate.section import section

__all__ = ["Evaluation", "baseline_for", "costs", "evaluate", "section"]
