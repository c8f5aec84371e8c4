"""Choosing the decision threshold on validation predictions, and serving with it."""

import pickle
from functools import cache

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, recall_score
from sklearn.model_selection import cross_val_predict, train_test_split

from shipyard.errors import DataError
from shipyard.prepare.threshold import apply, choose
from shipyard.spec.options import Threshold

F1 = Threshold(objective="f1")


@cache
def scored(seed: int = 0):
    """Imbalanced labels ("yes" is rare) and out-of-fold probabilities of "yes"."""
    X, y = make_classification(n_samples=600, n_features=5, weights=[0.9], class_sep=0.7,
                               flip_y=0.03, random_state=seed)
    y = np.where(y == 1, "yes", "no")
    proba = cross_val_predict(LogisticRegression(), X, y, cv=4, method="predict_proba")
    return X, y, proba[:, 1]


def test_none_chooses_nothing():
    _, y, p = scored()
    assert choose(y, p, "yes", Threshold()) is None


def test_f1_threshold_is_the_best_of_every_candidate():
    _, y, p = scored()
    t = choose(y, p, "yes", F1)
    positive = y == "yes"
    best = max(f1(positive, p >= c) for c in np.unique(p))
    assert f1_score(positive, p >= t) == pytest.approx(best)
    assert f1_score(positive, p >= t) > f1_score(positive, p >= 0.5)


def f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    tp = np.sum(truth & predicted)
    return 2 * tp / (truth.sum() + predicted.sum())


@pytest.mark.parametrize("target", [0.6, 0.8, 0.95])
def test_recall_threshold_is_the_highest_reaching_the_target(target):
    _, y, p = scored()
    t = choose(y, p, "yes", Threshold(objective="recall", recall=target))
    assert recall_score(y == "yes", p >= t) >= target
    higher = np.unique(p)[np.unique(p) > t]
    assert recall_score(y == "yes", p >= higher[0]) < target  # the next one up misses it


def test_the_positive_class_can_be_the_first_label():
    _, y, p = scored()
    p_no = 1 - p
    t = choose(y, p_no, "no", Threshold(objective="recall", recall=0.99))
    assert recall_score(y, np.where(p_no >= t, "no", "yes"), pos_label="no") >= 0.99


@pytest.mark.parametrize("y, p, message", [
    (["a", "b", "c", "a"], [0.1, 0.2, 0.3, 0.4], "'f1' is for binary tasks"),
    (["no", "no", "no"], [0.1, 0.5, 0.9], "have no positive class \\('yes'\\)"),
    (["no", "yes", "no"], [0.1, np.nan, 0.9], "probabilities are missing"),
])
def test_predictions_that_cannot_give_a_threshold(y, p, message):
    with pytest.raises(DataError, match=message):
        choose(np.array(y), np.array(p), "yes", F1)


def test_mismatched_lengths_are_a_caller_bug():
    with pytest.raises(ValueError, match="of one length"):
        choose(np.array(["no", "yes"]), np.array([0.5]), "yes", F1)


def test_applied_threshold_raises_recall_on_an_imbalanced_problem():
    X, y, _ = scored()
    X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
    model = LogisticRegression().fit(X_train, y_train)
    p_val = cross_val_predict(LogisticRegression(), X_train, y_train, cv=4,
                              method="predict_proba")[:, 1]
    t = choose(y_train, p_val, "yes", Threshold(objective="recall", recall=0.9))
    assert t < 0.5  # a rare class needs a lower bar
    tuned = apply(model, t, positive="yes")
    assert tuned.estimator is model  # reused as fitted, no new fit
    predicted = tuned.predict(X_test)
    proba = model.predict_proba(X_test)[:, 1]
    assert np.array_equal(predicted == "yes", proba >= t)
    assert np.array_equal(tuned.predict_proba(X_test), model.predict_proba(X_test))
    recall = [recall_score(y_test, m.predict(X_test), pos_label="yes") for m in (model, tuned)]
    assert recall[1] > recall[0]
    restored = pickle.loads(pickle.dumps(tuned))
    assert np.array_equal(restored.predict(X_test), predicted)


def test_applied_threshold_follows_the_positive_class():
    X, y, _ = scored()
    model = LogisticRegression().fit(X, y)
    p_no = model.predict_proba(X)[:, 0]
    tuned = apply(model, 0.95, positive="no")
    assert np.array_equal(tuned.predict(X) == "no", p_no >= 0.95)
    assert apply(model, 0.95).predict(X).tolist() == np.where(
        model.predict_proba(X)[:, 1] >= 0.95, "yes", "no").tolist()  # default: last class
