"""Outlier fences: clipping at transform, dropping training rows at fit only."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from imblearn.pipeline import Pipeline
from sklearn.base import clone
from sklearn.exceptions import SkipTestWarning
from sklearn.linear_model import LinearRegression
from sklearn.utils.estimator_checks import check_estimator

from shipyard.errors import DataError
from shipyard.prepare.outliers import Clipper, drop_sampler


def numbers(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.uniform(0, 10, n),
                      "flag": (rng.random(n) < 0.03).astype(float)})
    X.loc[0, "a"] = 50.0
    X.loc[1, "b"] = -40.0
    X.loc[2, "a"] = np.nan
    return X


def iqr_fences(values: pd.Series, k: float = 1.5) -> tuple[float, float]:
    q1, q3 = values.dropna().quantile([0.25, 0.75])
    return q1 - k * (q3 - q1), q3 + k * (q3 - q1)


@pytest.mark.parametrize("rule, k", [("iqr", 1.5), ("iqr", 3.0), ("quantile", None)])
def test_clipper_learns_fences_and_clips_to_them(rule, k):
    X = numbers()
    clipper = Clipper(rule=rule, iqr=k or 1.5, quantiles=(0.05, 0.9)).fit(X)
    if rule == "iqr":
        expected = [iqr_fences(X[c], k) for c in ("a", "b")]
    else:
        expected = [tuple(X[c].dropna().quantile([0.05, 0.9])) for c in ("a", "b")]
    assert np.allclose(clipper.lower_[:2], [e[0] for e in expected])
    assert np.allclose(clipper.upper_[:2], [e[1] for e in expected])
    out = clipper.transform(X)
    assert out[0, 0] == pytest.approx(expected[0][1])  # 50 comes down to the upper fence
    assert out[1, 1] == pytest.approx(expected[1][0])  # -40 comes up to the lower fence
    assert np.isnan(out[2, 0])  # missing stays missing
    inside = X["b"].between(*expected[1])
    assert np.array_equal(out[inside.to_numpy(), 1], X.loc[inside, "b"].to_numpy())


def test_clipper_leaves_flags_and_collapsed_columns_alone():
    X = numbers().assign(mostly_zero=0.0)
    X.loc[:3, "mostly_zero"] = [5.0, 7.0, 9.0, 11.0]  # quartiles both 0: the fences collapse
    out = Clipper().fit(X).transform(X)
    assert np.array_equal(out[:, 2], X["flag"].to_numpy())
    assert np.array_equal(out[:, 3], X["mostly_zero"].to_numpy())


def test_clipper_is_a_well_behaved_estimator():
    X = numbers()
    before = X.copy()
    clipper = Clipper(rule="quantile", quantiles=(0.1, 0.9))
    out = clipper.fit_transform(X)
    pd.testing.assert_frame_equal(X, before)
    assert clipper.get_params() == {"rule": "quantile", "iqr": 1.5, "quantiles": (0.1, 0.9)}
    assert list(clipper.get_feature_names_out()) == ["a", "b", "flag"]
    assert np.array_equal(pickle.loads(pickle.dumps(clipper)).transform(X), out,
                          equal_nan=True)
    assert np.array_equal(clone(clipper).fit(X).transform(X), out, equal_nan=True)
    frame = clone(clipper).set_output(transform="pandas").fit(X).transform(X)
    assert list(frame.columns) == ["a", "b", "flag"] and frame.index.equals(X.index)
    with pytest.raises(ValueError, match="Feature names seen at fit time, yet now missing"):
        clipper.transform(X[["a", "b"]])


def test_clipper_rejects_an_unknown_rule_when_fitted():
    clipper = Clipper(rule="zscore")  # storing is not validating
    with pytest.raises(ValueError, match="rule must be one of"):
        clipper.fit(numbers())


@pytest.mark.parametrize("rule", ["iqr", "quantile"])
def test_drop_sampler_removes_rows_outside_the_fences(rule):
    X = numbers().assign(text=lambda d: np.where(d["a"] > 0, "p", "q"))
    y = pd.Series(np.arange(len(X), dtype=float))
    Xs, ys = drop_sampler(rule, 1.5, (0.02, 0.98)).fit_resample(X, y)
    if rule == "iqr":
        fa, fb = iqr_fences(X["a"]), iqr_fences(X["b"])
    else:
        fa, fb = X["a"].dropna().quantile([0.02, 0.98]), X["b"].quantile([0.02, 0.98])
    outside = ~X["a"].between(*fa) & X["a"].notna() | ~X["b"].between(*fb)
    assert 0 in X.index[outside] and 1 in X.index[outside]
    assert list(Xs.index) == list(X.index[~outside])  # rows with a 3% flag stay
    assert np.array_equal(ys.to_numpy(), y[~outside].to_numpy())  # y follows its rows
    assert list(Xs.columns) == list(X.columns)  # text columns ride along, unjudged
    assert 2 in Xs.index  # a missing value is not an outlier


def test_drop_sampler_works_on_arrays_after_encoding():
    X = numbers()
    values = X.fillna(0.0).to_numpy()
    Xs, ys = drop_sampler("iqr").fit_resample(values, np.arange(len(values)))
    assert isinstance(Xs, np.ndarray) and Xs.shape[1] == 3
    assert 0 not in ys and 1 not in ys and len(ys) == len(Xs) < len(values)
    assert np.array_equal(Xs, values[ys])


def test_dropping_acts_at_fit_only():
    X = numbers().fillna(0.0)
    y = 2 * X["b"].to_numpy()
    pipe = Pipeline([("drop", drop_sampler("iqr")), ("model", LinearRegression())])
    pipe.fit(X, y)
    assert len(pipe.predict(X)) == len(X)  # evaluation and serving keep every row
    clean = X.drop(index=[0, 1])
    again = LinearRegression().fit(clean, y[2:])
    assert np.allclose(pipe[-1].coef_, again.coef_)  # trained on the kept rows only


def test_dropping_every_row_is_a_data_error():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 12))  # narrow fences on many columns: every row is out somewhere
    with pytest.raises(DataError, match="would remove every training row"):
        drop_sampler("quantile", quantiles=(0.45, 0.55)).fit_resample(X, np.arange(50.0))


def test_drop_sampler_rejects_bad_settings_at_once_and_pickles():
    with pytest.raises(ValueError, match="rule must be one of"):
        drop_sampler("zscore")
    with pytest.raises(ValueError, match="low < high"):
        drop_sampler("quantile", quantiles=(0.9, 0.1))
    sampler = pickle.loads(pickle.dumps(clone(drop_sampler("quantile", 2.0, (0.1, 0.9)))))
    assert sampler.kw_args == {"rule": "quantile", "iqr": 2.0, "quantiles": (0.1, 0.9)}
    assert sampler.validate is False


@pytest.mark.parametrize("rule", ["iqr", "quantile"])
def test_clipper_passes_scikit_learns_estimator_checks(rule):
    with warnings.catch_warnings():
        # Checks that need optional array libraries are skipped, with a warning each.
        warnings.simplefilter("ignore", SkipTestWarning)
        results = check_estimator(Clipper(rule=rule), on_fail=None)
    assert [r["check_name"] for r in results if r["status"] == "failed"] == []
