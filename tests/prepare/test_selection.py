"""Feature selection: constant, duplicate, correlated and unimportant columns."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import SkipTestWarning
from sklearn.utils.estimator_checks import check_estimator

from shipyard.prepare.selection import FeatureSelector


def matrix(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    signal, other = rng.normal(size=n), rng.normal(size=n)
    X = pd.DataFrame({
        "signal": signal,
        "const": 3.0,
        "copy": signal,
        "near": signal + rng.normal(scale=0.05, size=n),  # |r| about 0.999
        "other": other,
        "noise1": rng.normal(size=n),
        "noise2": rng.normal(size=n),
    })
    y = 3 * signal + other + rng.normal(scale=0.1, size=n)
    return X, y


def test_defaults_drop_constant_and_duplicate_columns():
    X, y = matrix()
    selector = FeatureSelector().fit(X, y)
    assert list(selector.get_feature_names_out()) == ["signal", "near", "other", "noise1",
                                                      "noise2"]
    assert selector.dropped_ == {"const": "constant", "copy": "duplicate of 'signal'"}
    assert np.array_equal(selector.transform(X), X.drop(columns=["const", "copy"]).to_numpy())


def test_each_rule_can_be_switched_off():
    X, y = matrix()
    selector = FeatureSelector(drop_constant=False, drop_duplicates=False).fit(X, y)
    assert selector.dropped_ == {}
    assert selector.transform(X).shape == X.shape


def test_a_column_that_is_constant_where_observed_but_has_gaps_is_kept():
    X, y = matrix()
    X.loc[::5, "const"] = np.nan  # whether a value is missing can still tell something
    X.loc[:, "empty"] = np.nan
    selector = FeatureSelector().fit(X, y)
    assert "const" not in selector.dropped_ and selector.dropped_["empty"] == "constant"


@pytest.mark.parametrize("limit, dropped", [
    (0.99, {"near"}),  # signal ~ near
    (0.999999, set()),
])
def test_correlated_pairs_lose_their_later_column(limit, dropped):
    X, y = matrix()
    selector = FeatureSelector(max_correlation=limit).fit(X, y)
    assert set(selector.dropped_) - {"const", "copy"} == dropped
    if dropped:
        assert selector.dropped_["near"].startswith("correlated with 'signal' (|r| = 0.99")
        assert "signal" in selector.get_feature_names_out()


def test_correlation_is_judged_by_its_absolute_value():
    X, y = matrix()
    X["near"] = -X["near"]
    assert "near" in FeatureSelector(max_correlation=0.99).fit(X, y).dropped_


@pytest.mark.parametrize("task, target", [
    ("regression", lambda y: y),
    ("binary", lambda y: np.where(y > 0, "yes", "no")),
    ("multiclass", lambda y: np.digitize(y, [-1.5, 1.5])),
])
def test_top_features_keeps_the_most_important(task, target):
    X, y = matrix()
    selector = FeatureSelector(top_features=2, task=task, seed=3).fit(X, target(y))
    assert set(selector.get_feature_names_out()) <= {"signal", "near", "other"}
    assert "signal" in selector.get_feature_names_out() or "near" in (
        selector.get_feature_names_out())
    assert selector.transform(X).shape == (len(X), 2)
    assert "not among the top 2" in selector.dropped_["noise1"]
    again = FeatureSelector(top_features=2, task=task, seed=3).fit(X, target(y))
    assert again.dropped_ == selector.dropped_  # seeded


def test_top_features_larger_than_what_is_left_changes_nothing():
    X, y = matrix()
    selector = FeatureSelector(top_features=50).fit(X, y)
    assert set(selector.dropped_) == {"const", "copy"}


def test_top_features_needs_a_target():
    with pytest.raises(ValueError, match="needs y"):
        FeatureSelector(top_features=2).fit(matrix()[0])


def test_never_drops_every_column():
    X = pd.DataFrame({"a": [1.0] * 20, "b": [2.0] * 20})
    selector = FeatureSelector().fit(X)
    assert list(selector.get_feature_names_out()) == ["a"]
    assert selector.dropped_ == {"b": "constant"}


def test_arrays_get_positional_names_that_a_pipeline_can_replace():
    X, y = matrix()
    selector = FeatureSelector(max_correlation=0.99).fit(X.to_numpy(), y)
    assert set(selector.dropped_) == {"x1", "x2", "x3"}
    assert list(selector.get_feature_names_out(list(X.columns))) == ["signal", "other",
                                                                     "noise1", "noise2"]


def test_selector_is_a_well_behaved_estimator():
    X, y = matrix()
    before = X.copy()
    selector = FeatureSelector(max_correlation=0.9, top_features=3, task="regression", seed=1)
    assert clone(selector).get_params() == selector.get_params()
    out = selector.fit(X, y).transform(X)
    pd.testing.assert_frame_equal(X, before)
    restored = pickle.loads(pickle.dumps(selector))
    assert np.array_equal(restored.transform(X), out) and restored.dropped_ == selector.dropped_
    frame = clone(selector).set_output(transform="pandas").fit(X, y).transform(X)
    assert list(frame.columns) == list(selector.get_feature_names_out())


def test_selector_passes_scikit_learns_estimator_checks():
    with warnings.catch_warnings():
        # Checks that need optional array libraries are skipped, with a warning each.
        warnings.simplefilter("ignore", SkipTestWarning)
        results = check_estimator(FeatureSelector(max_correlation=0.9), on_fail=None)
    assert [r["check_name"] for r in results if r["status"] == "failed"] == []
