"""Resampling rare classes inside the training folds only, and class weights."""

import pickle
from collections import Counter

import numpy as np
import pytest
from imblearn.over_sampling import ADASYN, SMOTE, BorderlineSMOTE
from imblearn.pipeline import Pipeline
from imblearn.under_sampling import RandomUnderSampler
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from shipyard.errors import DataError
from shipyard.prepare.imbalance import class_weight_param, resampler
from shipyard.spec.options import Imbalance


def rare(n: int = 400, seed: int = 0):
    X, y = make_classification(n_samples=n, n_features=4, n_informative=3, n_redundant=0,
                               weights=[0.9], class_sep=0.8, flip_y=0.02, random_state=seed)
    return X, np.where(y == 1, "fail", "ok")


@pytest.mark.parametrize("method, kind", [
    ("smote", SMOTE), ("borderline_smote", BorderlineSMOTE), ("adasyn", ADASYN),
    ("undersample", RandomUnderSampler),
])
def test_each_method_balances_the_classes(method, kind):
    X, y = rare()
    sampler = resampler(Imbalance(method=method), seed=7, task="binary")
    assert type(sampler) is kind
    assert sampler.get_params()["random_state"] == 7
    assert sampler.get_params()["sampling_strategy"] == "auto"
    counts = Counter(sampler.fit_resample(X, y)[1])
    before = Counter(y)
    assert counts["fail"] / counts["ok"] > 0.9  # ADASYN lands near, not on, a tie
    if method == "undersample":
        assert counts["fail"] == before["fail"] and counts["ok"] < before["ok"]
    else:
        assert counts["ok"] == before["ok"] and counts["fail"] > before["fail"]


@pytest.mark.parametrize("method", ["smote", "undersample"])
def test_ratio_is_the_minority_to_majority_ratio_after(method):
    X, y = rare()
    sampler = resampler(Imbalance(method=method, ratio=0.5), seed=0, task="binary")
    counts = Counter(sampler.fit_resample(X, y)[1])
    assert counts["fail"] / counts["ok"] == pytest.approx(0.5, abs=0.01)


def test_resampling_is_seeded_and_pickles():
    X, y = rare()
    first = resampler(Imbalance(method="smote"), seed=3).fit_resample(X, y)[0]
    again = pickle.loads(pickle.dumps(clone(resampler(Imbalance(method="smote"), seed=3))))
    assert np.array_equal(again.fit_resample(X, y)[0], first)
    other = resampler(Imbalance(method="smote"), seed=4).fit_resample(X, y)[0]
    assert not np.array_equal(other, first)


@pytest.mark.parametrize("method", ["none", "class_weight"])
def test_no_sampler_when_no_rows_are_resampled(method):
    assert resampler(Imbalance(method=method), seed=0, task="binary") is None


@pytest.mark.parametrize("spec, task, message", [
    ({"method": "smote"}, "regression", "prepare.imbalance.method: 'smote' is for classification"),
    ({"method": "class_weight"}, "regression", "'class_weight' is for classification"),
    ({"method": "smote", "ratio": 0.5}, "multiclass",
     "prepare.imbalance.ratio: a ratio applies to binary tasks only"),
])
def test_settings_that_do_not_fit_the_task(spec, task, message):
    with pytest.raises(DataError, match=message):
        resampler(Imbalance(**spec), seed=0, task=task)


def test_multiclass_without_ratio_balances_every_class():
    X, y = make_classification(n_samples=300, n_classes=3, n_informative=3,
                               weights=[0.7, 0.2], random_state=0)
    counts = Counter(resampler(Imbalance(method="smote"), 0, "multiclass").fit_resample(X, y)[1])
    assert len(set(counts.values())) == 1


def test_class_weight_param():
    assert class_weight_param(LogisticRegression()) == {"class_weight": "balanced"}
    assert class_weight_param(LogisticRegression) == {"class_weight": "balanced"}
    assert class_weight_param(KNeighborsClassifier()) == {}
    balanced = LogisticRegression(**class_weight_param(LogisticRegression))
    X, y = rare()
    plain = LogisticRegression().fit(X, y)
    recall = [np.mean(m.predict(X)[y == "fail"] == "fail") for m in (plain, balanced.fit(X, y))]
    assert recall[1] > recall[0]  # weighting the rare class finds more of it


def test_smote_in_a_pipeline_resamples_the_training_fold_only():
    X, y = rare()
    pipe = Pipeline([("resample", resampler(Imbalance(method="smote"), seed=0)),
                     ("scale", StandardScaler()), ("model", LogisticRegression())])
    folds = list(StratifiedKFold(4, shuffle=True, random_state=0).split(X, y))
    result = cross_validate(pipe, X, y, cv=folds, return_estimator=True, scoring="recall_macro")
    for (train, test), fitted in zip(folds, result["estimator"], strict=True):
        majority = Counter(y[train])["ok"]
        assert fitted["scale"].n_samples_seen_ == 2 * majority > len(train)  # enlarged
        assert len(fitted.predict(X[test])) == len(test)  # not resampled
    pipe.fit(X, y)
    assert len(pipe.predict(X)) == len(X)
