"""Confidence-based performance estimation against the realised metrics it predicts."""

import math

import numpy as np
import pytest
from scipy.special import expit, logit
from sklearn import metrics as skm

from shipyard.monitor.estimate import METRICS, EstimateError, Estimator, realised


def population(n: int, seed: int, shift: float = 0.0):
    """True probabilities of a logistic model and labels drawn from them; ``shift``
    moves the inputs (covariate shift), not the relation between input and label."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    p = expit(-1.2 + 1.8 * x)
    return p, (rng.random(n) < p).astype(int)


def errors(estimator: Estimator, make_scores, windows: int, rows: int, shift: float = 0.0):
    """Estimated minus realised, per metric, over ``windows`` windows."""
    out = {name: [] for name in METRICS}
    for i in range(windows):
        p, y = population(rows, seed=100 + i, shift=shift)
        scores = make_scores(p)
        estimated, actual = estimator.estimate(scores), realised(scores, y)
        for name in METRICS:
            out[name].append(estimated[name] - actual[name])
    return {name: np.array(values) for name, values in out.items()}


def test_calibrated_model_is_kept_and_estimated_closely():
    # (a test at the 5% level: one seed in twenty would calibrate; this one does not)
    p, y = population(5000, seed=2)
    estimator = Estimator.fit(p, y, threshold=0.5)
    assert estimator.reference == realised(p, y, 0.5)
    assert not estimator.calibrated  # Cox's test finds nothing to correct
    assert estimator.cox["p_value"] >= 0.05 and estimator.cox["slope"] == pytest.approx(1, abs=0.1)
    err = errors(estimator, lambda q: q, windows=40, rows=2000)
    assert np.abs(err["f1"]).mean() < 0.02 and abs(err["f1"].mean()) < 0.01
    assert np.abs(err["roc_auc"]).mean() < 0.01 and abs(err["roc_auc"].mean()) < 0.005
    assert np.abs(err["accuracy"]).mean() < 0.015
    assert np.abs(err["precision"]).mean() < 0.03 and np.abs(err["recall"]).mean() < 0.03


def overconfident(p):
    return expit(3 * logit(p))


def test_overconfident_model_is_calibrated_first():
    p, y = population(5000, seed=2)
    estimator = Estimator.fit(overconfident(p), y, threshold=0.5)
    assert estimator.calibrated and estimator.cox["p_value"] < 1e-6
    assert estimator.cox["slope"] == pytest.approx(1 / 3, abs=0.05)
    calibrated = estimator.probabilities(overconfident(np.array([0.1, 0.5, 0.9])))
    assert calibrated == pytest.approx([0.1, 0.5, 0.9], abs=0.06)
    err = errors(estimator, overconfident, windows=30, rows=2000)
    assert np.abs(err["f1"]).mean() < 0.02 and np.abs(err["roc_auc"]).mean() < 0.01
    # taking the raw scores at their word would have been wrong by a lot more
    naive = Estimator(0.5, False, {}, {})
    naive_err = errors(naive, overconfident, windows=10, rows=2000)
    assert np.abs(naive_err["roc_auc"]).mean() > 3 * np.abs(err["roc_auc"]).mean()


def test_mild_overconfidence_is_calibrated_too():
    # stretched by 15% in log-odds: the Brier score hardly notices, but taken at their
    # word these scores overestimate F1 and ROC-AUC by 0.02-0.03
    def stretched(p):
        return expit(1.15 * logit(p))

    p, y = population(5000, seed=10)
    estimator = Estimator.fit(stretched(p), y)
    assert estimator.calibrated
    err = errors(estimator, stretched, windows=15, rows=2000)
    naive = errors(Estimator(0.5, False, {}, {}), stretched, windows=15, rows=2000)
    assert naive["f1"].mean() > 0.02 and naive["roc_auc"].mean() > 0.015
    assert abs(err["f1"].mean()) < 0.01 and abs(err["roc_auc"].mean()) < 0.01


def test_estimate_follows_a_covariate_shift():
    p, y = population(5000, seed=3)
    estimator = Estimator.fit(p, y, threshold=0.5)
    shifted = realised(*population(20_000, seed=4, shift=-0.8))
    assert estimator.reference["f1"] - shifted["f1"] > 0.1  # performance really fell
    err = errors(estimator, lambda q: q, windows=20, rows=2000, shift=-0.8)
    assert np.abs(err["f1"]).mean() < 0.03 and np.abs(err["roc_auc"]).mean() < 0.015


def test_threshold_decides_the_predicted_positives():
    p, y = population(5000, seed=5)
    low, high = Estimator.fit(p, y, threshold=0.2), Estimator.fit(p, y, threshold=0.8)
    window, labels = population(3000, seed=6)
    assert low.estimate(window)["recall"] > high.estimate(window)["recall"] + 0.4
    for estimator in (low, high):
        truth = realised(window, labels, estimator.threshold)
        assert estimator.estimate(window)["recall"] == pytest.approx(truth["recall"], abs=0.03)
    assert low.estimate(window)["roc_auc"] == pytest.approx(high.estimate(window)["roc_auc"])


def test_empty_and_degenerate_windows():
    p, y = population(2000, seed=7)
    estimator = Estimator.fit(p, y)
    assert all(math.isnan(v) for v in estimator.estimate([]).values())
    assert all(math.isnan(v) for v in estimator.estimate([np.nan, np.nan]).values())
    with_gaps = estimator.estimate(np.r_[p[:500], [np.nan] * 10])
    assert with_gaps == estimator.estimate(p[:500])
    # every row surely negative: nothing predicted, nothing to find, no ROC curve
    sure = estimator.estimate(np.zeros(50))
    assert sure["precision"] == sure["recall"] == sure["f1"] == 0.0
    assert sure["accuracy"] == 1.0 and math.isnan(sure["roc_auc"])
    assert set(sure) == set(METRICS)


def test_reference_that_cannot_calibrate():
    p, y = population(500, seed=8)
    with pytest.raises(EstimateError, match="0 negative and 500 positive"):
        Estimator.fit(p, np.ones(500, dtype=int))
    with pytest.raises(EstimateError, match=r"probabilities in \[0, 1\]"):
        Estimator.fit(p * 3, y)
    with pytest.raises(EstimateError, match="500 scores but 499 labels"):
        Estimator.fit(p, y[:-1])
    with pytest.raises(EstimateError, match="labels of 0 and 1"):
        Estimator.fit(p, np.where(y == 1, 2, 0))
    # missing labels (rows not yet labelled) and missing scores are left out
    labels = np.where(np.arange(500) % 10 == 0, None, y).astype(object)
    fitted = Estimator.fit(np.r_[p[:-1], np.nan], labels)
    assert fitted.reference["accuracy"] == pytest.approx(
        realised(p[:-1][labels[:-1] != None], labels[:-1][labels[:-1] != None].astype(int))  # noqa: E711
        ["accuracy"])


def test_realised_matches_scikit_learn():
    p, y = population(3000, seed=13)
    scores = np.round(p, 2)  # ties
    for threshold in (0.3, 0.5):
        predicted = (scores >= threshold).astype(int)
        got = realised(scores, y, threshold)
        assert got["f1"] == pytest.approx(skm.f1_score(y, predicted))
        assert got["precision"] == pytest.approx(skm.precision_score(y, predicted))
        assert got["recall"] == pytest.approx(skm.recall_score(y, predicted))
        assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, predicted))
        assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, scores))
    none = realised(np.full(10, 0.1), np.ones(10, dtype=int))
    assert none["precision"] == none["f1"] == 0.0 and math.isnan(none["roc_auc"])


def test_to_dict():
    p, y = population(1000, seed=9)
    out = Estimator.fit(overconfident(p), y, threshold=0.4).to_dict()
    assert out["threshold"] == 0.4 and out["calibrated"] is True
    assert set(out["reference"]) == set(METRICS)
    assert set(out["cox"]) == {"intercept", "slope", "p_value"}
