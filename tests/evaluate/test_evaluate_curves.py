"""The thresholds table, the calibration curve and the decision threshold."""

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from shipyard.errors import DataError
from shipyard.evaluate import baseline_for, evaluate


@pytest.fixture(scope="module")
def binary():
    """Rows drawn from a logistic model (about 25% "fail"), so a logistic regression
    fits them well and is close to calibrated."""
    rng = np.random.default_rng(4)
    X = pd.DataFrame(rng.normal(size=(1200, 4)), columns=list("abcd"))
    logit = 1.6 * X["a"] - 1.0 * X["b"] + 0.5 * X["c"] - 1.5
    y = np.where(rng.uniform(size=1200) < 1 / (1 + np.exp(-logit)), "fail", "ok")
    model = LogisticRegression().fit(X[:600], y[:600])
    return model, X[600:], y[600:], baseline_for("binary", X[:600], y[:600])


def test_thresholds_table_matches_sklearn_at_each_threshold(binary):
    model, X, y, _ = binary
    e = evaluate(model, X, y, task="binary", positive="fail")
    table = e.thresholds
    np.testing.assert_allclose(table["threshold"], np.arange(1, 20) * 0.05)
    p_fail = model.predict_proba(X)[:, 0]
    for row in table.itertuples():
        labels = np.where(p_fail >= row.threshold, "fail", "ok")
        precision = skm.precision_score(y, labels, pos_label="fail", zero_division=np.nan)
        np.testing.assert_allclose(row.precision, precision)
        assert row.recall == pytest.approx(skm.recall_score(y, labels, pos_label="fail"))
        assert row.f1 == pytest.approx(skm.f1_score(y, labels, pos_label="fail"))
        assert row._5 == pytest.approx(np.mean(labels == "fail"))  # predicted positive
    assert table["recall"].is_monotonic_decreasing
    assert table["recall"].iloc[0] > table["recall"].iloc[-1]


def test_calibration_curve_has_ordered_bins(binary):
    model, X, y, _ = binary
    curve = evaluate(model, X, y, task="binary", positive="fail").calibration
    assert list(curve.columns) == ["predicted", "observed"]
    assert 5 <= len(curve) <= 10
    assert np.all(np.diff(curve["predicted"]) > 0)
    assert curve.to_numpy().min() >= 0 and curve.to_numpy().max() <= 1
    observed, predicted = calibration_curve(y == "fail", model.predict_proba(X)[:, 0],
                                            n_bins=10, strategy="quantile")
    np.testing.assert_allclose(curve["predicted"], predicted)
    np.testing.assert_allclose(curve["observed"], observed)
    # a logistic regression on logistic-ish data is roughly calibrated
    assert np.max(np.abs(curve["predicted"] - curve["observed"])) < 0.25


def test_multiclass_calibration_is_of_the_top_class():
    X, y = make_classification(900, 6, n_informative=4, n_classes=3, random_state=5)
    model = LogisticRegression().fit(X[:450], y[:450])
    e = evaluate(model, X[450:], y[450:], task="multiclass")
    proba = model.predict_proba(X[450:])
    observed, predicted = calibration_curve(proba.argmax(axis=1) == y[450:], proba.max(axis=1),
                                            n_bins=10, strategy="quantile")
    np.testing.assert_allclose(e.calibration["observed"], observed)
    assert e.calibration["predicted"].min() >= 1 / 3  # the top of three probabilities
    assert e.thresholds is None and e.threshold is None


def test_threshold_changes_the_labels_and_the_metrics(binary):
    model, X, y, baseline = binary
    default = evaluate(model, X, y, task="binary", positive="fail", baseline=baseline)
    low = evaluate(model, X, y, task="binary", positive="fail", baseline=baseline,
                   threshold=0.2)
    p_fail = model.predict_proba(X)[:, 0]
    assert default.threshold == 0.5 and low.threshold == 0.2
    np.testing.assert_array_equal(low.prediction.y_pred, np.where(p_fail >= 0.2, "fail", "ok"))
    assert low.metrics["recall"] > default.metrics["recall"]
    assert low.metrics["precision"] < default.metrics["precision"]
    at_02 = low.thresholds.set_index("threshold").loc[0.2]
    assert low.metrics["recall"] == pytest.approx(at_02["recall"])
    assert low.metrics["f1"] == pytest.approx(at_02["f1"])
    # probabilities, and so the ranking metrics, do not depend on the threshold
    assert low.metrics["roc_auc"] == default.metrics["roc_auc"]
    # the baseline is labelled by the same rule: its constant P(fail) of about 0.25
    # is above 0.2, so it flags every row
    assert low.baseline_metrics["recall"] == 1.0 and default.baseline_metrics["recall"] == 0.0


@pytest.mark.parametrize(("task", "threshold", "message"), [
    ("binary", -0.1, "a number from 0 to 1. Got -0.1 instead"),
    ("binary", 1.5, "a number from 0 to 1. Got 1.5 instead"),
    ("binary", float("nan"), "a number from 0 to 1. Got nan instead"),
    ("binary", "0.5", "a number from 0 to 1. Got '0.5' instead"),
    ("binary", True, "a number from 0 to 1. Got True instead"),
    ("multiclass", 0.5, "binary task only"),
])
def test_bad_thresholds(binary, task, threshold, message):
    model, X, y, _ = binary
    with pytest.raises(ValueError, match=message):
        evaluate(model, X, y, task=task, threshold=threshold)


def test_thresholds_at_the_ends_flag_everything_or_only_certainties(binary):
    model, X, y, _ = binary
    everything = evaluate(model, X, y, task="binary", positive="fail", threshold=0)
    assert everything.metrics["recall"] == 1.0
    assert (everything.prediction.y_pred == "fail").all()
    nothing = evaluate(model, X, y, task="binary", positive="fail", threshold=1)
    assert (nothing.prediction.y_pred == "ok").all()  # no probability is exactly 1 here


def test_unknown_positive_class(binary):
    model, X, y, _ = binary
    with pytest.raises(DataError, match="'broken' is not one the model knows; it knows fail, ok"):
        evaluate(model, X, y, task="binary", positive="broken", threshold=0.3)
