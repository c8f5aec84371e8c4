import lightgbm
import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.datasets import make_classification, make_regression
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from shipyard.errors import DataError
from shipyard.evaluate import Evaluation, baseline_for, evaluate


def _split(X, y, n_train):
    X = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    return X[:n_train], X[n_train:], y[:n_train], y[n_train:]


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(500, 6, noise=5.0, random_state=0)
    return _split(X, y, 350)


@pytest.fixture(scope="module")
def binary():
    X, y = make_classification(600, 8, n_informative=4, weights=[0.8], random_state=1)
    return _split(X, np.where(y == 1, "fail", "ok"), 400)


def test_regression_metrics_equal_sklearns(regression):
    X_tr, X_ho, y_tr, y_ho = regression
    model = make_pipeline(StandardScaler(), Ridge()).fit(X_tr, y_tr)
    e = evaluate(model, X_ho, y_ho, task="regression")
    yhat = model.predict(X_ho)
    assert isinstance(e, Evaluation) and e.n_rows == len(y_ho)
    assert e.metrics["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y_ho, yhat)))
    assert e.metrics["mae"] == pytest.approx(skm.mean_absolute_error(y_ho, yhat))
    assert e.metrics["r2"] == pytest.approx(skm.r2_score(y_ho, yhat))
    assert e.baseline_metrics == {}
    np.testing.assert_allclose(e.prediction.y_pred, yhat)


def test_regression_baseline_is_the_training_mean_and_is_beaten(regression):
    X_tr, X_ho, y_tr, y_ho = regression
    model = Ridge().fit(X_tr, y_tr)
    baseline = baseline_for("regression", X_tr, y_tr)
    assert isinstance(baseline, DummyRegressor) and baseline.strategy == "mean"
    e = evaluate(model, X_ho, y_ho, task="regression", baseline=baseline)
    dummy = DummyRegressor(strategy="mean").fit(X_tr, y_tr).predict(X_ho)
    np.testing.assert_allclose(dummy, np.full(len(y_ho), y_tr.mean()))
    assert e.baseline_metrics["rmse"] == pytest.approx(
        np.sqrt(skm.mean_squared_error(y_ho, dummy)))
    assert e.baseline_metrics["mae"] == pytest.approx(skm.mean_absolute_error(y_ho, dummy))
    assert e.baseline_metrics["r2"] == pytest.approx(skm.r2_score(y_ho, dummy))
    assert e.metrics["rmse"] < e.baseline_metrics["rmse"] / 5
    assert e.metrics["r2"] > 0.9 > e.baseline_metrics["r2"]


def test_binary_metrics_equal_sklearns(binary):
    X_tr, X_ho, y_tr, y_ho = binary
    model = LogisticRegression().fit(X_tr, y_tr)
    e = evaluate(model, X_ho, y_ho, task="binary")
    proba = model.predict_proba(X_ho)
    positive = model.classes_[-1]
    labels = model.predict(X_ho)
    assert e.metrics["accuracy"] == pytest.approx(skm.accuracy_score(y_ho, labels))
    assert e.metrics["f1"] == pytest.approx(skm.f1_score(y_ho, labels, pos_label=positive))
    assert e.metrics["recall"] == pytest.approx(skm.recall_score(y_ho, labels, pos_label=positive))
    assert e.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(y_ho == positive, proba[:, 1]))
    assert e.metrics["pr_auc"] == pytest.approx(
        skm.average_precision_score(y_ho == positive, proba[:, 1]))
    assert e.metrics["log_loss"] == pytest.approx(skm.log_loss(y_ho, proba))


def test_classifier_baseline_is_the_prior_and_is_beaten(binary):
    X_tr, X_ho, y_tr, y_ho = binary
    model = lightgbm.LGBMClassifier(n_estimators=60, n_jobs=1, verbose=-1, random_state=0)
    model.fit(X_tr, y_tr)
    baseline = baseline_for("binary", X_tr, y_tr)
    assert isinstance(baseline, DummyClassifier) and baseline.strategy == "prior"
    e = evaluate(model, X_ho, y_ho, task="binary", baseline=baseline)
    prior = np.mean(y_tr == "ok")
    assert e.baseline_metrics["roc_auc"] == pytest.approx(0.5)
    assert e.baseline_metrics["log_loss"] == pytest.approx(
        skm.log_loss(y_ho, np.tile([1 - prior, prior], (len(y_ho), 1))))
    assert e.metrics["roc_auc"] > 0.85
    assert e.metrics["log_loss"] < e.baseline_metrics["log_loss"]


def test_multiclass_metrics_are_macro_averaged():
    X, y = make_classification(900, 8, n_informative=5, n_classes=3, random_state=2)
    X_tr, X_ho, y_tr, y_ho = _split(X, y, 600)
    model = LogisticRegression().fit(X_tr, y_tr)
    e = evaluate(model, X_ho, y_ho, task="multiclass",
                 baseline=baseline_for("multiclass", X_tr, y_tr))
    labels = model.predict(X_ho)
    assert e.metrics["f1"] == pytest.approx(skm.f1_score(y_ho, labels, average="macro"))
    assert e.metrics["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y_ho, model.predict_proba(X_ho), multi_class="ovr"))
    assert e.metrics["f1"] > e.baseline_metrics["f1"]


@pytest.mark.parametrize(("y", "message"), [
    (np.ones(199), "200 rows of features but 199"),
    (np.r_[np.nan, np.ones(199)], "1 missing"),
    (np.array(["ok"] * 200), "single class"),
])
def test_bad_holdouts(binary, y, message):
    X_tr, X_ho, y_tr, _ = binary
    model = LogisticRegression().fit(X_tr, y_tr)
    with pytest.raises(DataError, match=message):
        evaluate(model, X_ho, y, task="binary")


def test_unknown_task(regression):
    X_tr, _, y_tr, _ = regression
    with pytest.raises(ValueError, match="'task' parameter"):
        baseline_for("ranking", X_tr, y_tr)


def test_binary_positive_class_can_be_the_first(binary):
    X_tr, X_ho, y_tr, y_ho = binary
    model = LogisticRegression().fit(X_tr, y_tr)
    assert list(model.classes_) == ["fail", "ok"]
    e = evaluate(model, X_ho, y_ho, task="binary", positive="fail")
    proba_fail = model.predict_proba(X_ho)[:, 0]
    labels = model.predict(X_ho)
    assert e.prediction.positive_class == "fail"
    assert e.metrics["pr_auc"] == pytest.approx(
        skm.average_precision_score(y_ho == "fail", proba_fail))
    assert e.metrics["recall"] == pytest.approx(skm.recall_score(y_ho, labels, pos_label="fail"))
    assert e.metrics["recall"] != pytest.approx(skm.recall_score(y_ho, labels, pos_label="ok"))


def test_scored_rows_are_graded_with_the_rest_as_context():
    """Rows outside ``scored`` are predicted (a model may need them as history) but
    not graded, and they may lack a target."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import Ridge

    from shipyard.evaluate import evaluate

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200)})
    y = 2 * X["a"].to_numpy() + rng.normal(scale=0.1, size=200)
    model = Ridge().fit(X, y)
    scored = np.zeros(200, dtype=bool)
    scored[::10] = True
    y_partial = np.where(scored, y, np.nan)
    part = evaluate(model, X, y_partial, task="regression", scored=scored, importance=True)
    alone = evaluate(model, X[scored].reset_index(drop=True), y[scored], task="regression")
    assert part.n_rows == 20 and part.metrics == alone.metrics
    assert part.importance is None  # shuffling would scramble the context rows
