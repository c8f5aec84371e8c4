"""Each metric of the shared table against an independent computation:
scikit-learn's own function, called the textbook way, or a hand formula."""

import math

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression

from shipyard.metrics import (
    DEFAULT_METRIC,
    METRICS,
    TASKS,
    Prediction,
    for_task,
    predicted,
    score_all,
)


def _regression(y_true, y_pred):
    return Prediction("regression", np.asarray(y_true, float), np.asarray(y_pred, float))


@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(1)
    y = rng.normal(50, 20, 300)
    return _regression(y, y + rng.normal(0, 8, 300))


@pytest.fixture(scope="module")
def binary():
    """Classes ("bad", "good") with "bad", the first class, as the positive one."""
    rng = np.random.default_rng(2)
    p_bad = rng.uniform(0.01, 0.99, 400)
    y = np.where(rng.uniform(size=400) < p_bad, "bad", "good")
    proba = np.c_[p_bad, 1 - p_bad]
    y_pred = np.where(p_bad >= 0.5, "bad", "good")
    return Prediction("binary", y, y_pred, proba, ("bad", "good"), positive="bad")


@pytest.fixture(scope="module")
def multiclass():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(500, 3))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in proba])
    return Prediction("multiclass", y, proba.argmax(axis=1), proba, (0, 1, 2))


def test_regression_metrics(regression):
    y, yhat = regression.y_true, regression.y_pred
    scores = score_all(regression)
    assert scores["rmse"] == pytest.approx(math.sqrt(np.mean((y - yhat) ** 2)))
    assert scores["mae"] == pytest.approx(np.mean(np.abs(y - yhat)))
    assert scores["r2"] == pytest.approx(1 - np.sum((y - yhat) ** 2) / np.sum((y - y.mean()) ** 2))
    assert scores["mape"] == pytest.approx(np.mean(np.abs((y - yhat) / y)))
    assert scores["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y, yhat))


def test_mape_leaves_out_rows_whose_actual_value_is_zero():
    p = _regression([0, 10, 0, 20], [5, 12, -3, 15])
    # |10-12|/10 = 0.2 and |20-15|/20 = 0.25; the zero rows would be infinite
    assert METRICS["mape"].compute(p) == pytest.approx(0.225)
    assert skm.mean_absolute_percentage_error(p.y_true, p.y_pred) > 1e14  # why we differ
    assert math.isnan(METRICS["mape"].compute(_regression([0, 0], [1, 2])))
    assert "actual ≠ 0" in METRICS["mape"].title


def test_phm08_is_the_cmapss_asymmetric_score(regression):
    # d = predicted - actual: early (d < 0) costs exp(-d/13) - 1, late exp(d/10) - 1
    p = _regression([100, 100, 100, 50], [87, 110, 100, 50])
    assert METRICS["phm08"].compute(p) == pytest.approx((math.e - 1) * 2)
    hand = sum(math.exp(-d / 13) - 1 if d < 0 else math.exp(d / 10) - 1
               for d in regression.y_pred - regression.y_true)
    assert METRICS["phm08"].compute(regression) == pytest.approx(hand)


def test_phm08_punishes_late_predictions_harder():
    late = METRICS["phm08"].compute(_regression([100], [120]))
    early = METRICS["phm08"].compute(_regression([100], [80]))
    assert late == pytest.approx(math.exp(2) - 1) and early == pytest.approx(math.exp(20 / 13) - 1)
    assert late > early > 0
    spec = METRICS["phm08"]
    assert not spec.greater_is_better and spec.better(early, late)
    assert METRICS["phm08"].compute(_regression([1.0], [10_000.0])) == math.inf  # no warning


def test_binary_metrics_use_the_given_positive_class(binary):
    y, labels, p_bad = binary.y_true, binary.y_pred, binary.proba[:, 0]
    scores = score_all(binary)
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score),
                     ("f1", skm.f1_score)):
        assert scores[name] == pytest.approx(fn(y, labels, pos_label="bad"))
        # the default positive class ("good", the last) gives a different number
        assert scores[name] != pytest.approx(fn(y, labels, pos_label="good"))
    assert scores["accuracy"] == pytest.approx(np.mean(y == labels))
    assert scores["roc_auc"] == pytest.approx(skm.roc_auc_score(y == "bad", p_bad))
    assert scores["pr_auc"] == pytest.approx(skm.average_precision_score(y == "bad", p_bad))
    assert scores["pr_auc"] != pytest.approx(
        skm.average_precision_score(y == "good", 1 - p_bad))
    picked = np.where(y == "bad", p_bad, 1 - p_bad)
    assert scores["log_loss"] == pytest.approx(-np.mean(np.log(picked)))


def test_multiclass_metrics_are_macro_averages(multiclass):
    y, labels, proba = multiclass.y_true, multiclass.y_pred, multiclass.proba
    scores = score_all(multiclass)
    per_class = [(np.sum((labels == c) & (y == c)), np.sum(labels == c), np.sum(y == c))
                 for c in range(3)]
    precision = np.mean([tp / flagged for tp, flagged, _ in per_class])
    recall = np.mean([tp / actual for tp, _, actual in per_class])
    f1 = np.mean([2 * tp / (flagged + actual) for tp, flagged, actual in per_class])
    assert scores["precision"] == pytest.approx(precision)
    assert scores["recall"] == pytest.approx(recall)
    assert scores["f1"] == pytest.approx(f1)
    assert scores["roc_auc"] == pytest.approx(
        np.mean([skm.roc_auc_score(y == c, proba[:, c]) for c in range(3)]))
    assert scores["pr_auc"] == pytest.approx(
        np.mean([skm.average_precision_score(y == c, proba[:, c]) for c in range(3)]))
    assert scores["log_loss"] == pytest.approx(-np.mean(np.log(proba[np.arange(len(y)), y])))
    assert scores["accuracy"] == pytest.approx(np.mean(y == labels))


def test_table_shape():
    assert [m.name for m in for_task("regression")] == ["rmse", "mae", "r2", "mape", "phm08"]
    assert {m.name for m in for_task("binary")} == {m.name for m in for_task("multiclass")} == {
        "accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss"}
    for task in TASKS:
        assert task in METRICS[DEFAULT_METRIC[task]].tasks
    lower = {name for name, m in METRICS.items() if not m.greater_is_better}
    assert lower == {"rmse", "mae", "mape", "phm08", "log_loss", "flagged"}


def test_predicted_labels_follow_a_threshold():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 2))
    y = np.where(X[:, 0] + rng.normal(0, 1, 300) > 0.8, "bad", "good")
    model = LogisticRegression().fit(X, y)
    p_bad = model.predict_proba(X)[:, 0]
    argmax = predicted(model, X, y, "binary", positive="bad")
    np.testing.assert_array_equal(argmax.y_pred, model.predict(X))
    low = predicted(model, X, y, "binary", positive="bad", threshold=0.2)
    np.testing.assert_array_equal(low.y_pred, np.where(p_bad >= 0.2, "bad", "good"))
    assert (low.y_pred == "bad").sum() > (argmax.y_pred == "bad").sum()
    # the threshold is on the positive class's probability, whichever column it is
    high = predicted(model, X, y, "binary", positive="good", threshold=0.9)
    np.testing.assert_array_equal(high.y_pred, np.where(1 - p_bad >= 0.9, "good", "bad"))
    with pytest.raises(ValueError, match="binary task"):
        predicted(model, X, y, "multiclass", threshold=0.5)
