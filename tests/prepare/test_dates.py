"""Date columns become numbers; every other column passes through untouched."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from shipyard.errors import DataError
from shipyard.prepare.dates import FEATURES, DateFeatures

ALL = list(FEATURES)


def rows() -> pd.DataFrame:
    return pd.DataFrame({
        "when": pd.to_datetime(["2024-03-01 06:30", "2024-02-29 23:00", None,
                                "2025-12-31 00:15"]),
        "x": [1.0, np.nan, 3.0, 4.0],
        "t": pd.Series(["a", "", "c", "d"], dtype=object),
    })


@pytest.mark.parametrize("feature, expected", [
    ("year", [2024, 2024, np.nan, 2025]),
    ("month", [3, 2, np.nan, 12]),
    ("day", [1, 29, np.nan, 31]),
    ("dayofweek", [4, 3, np.nan, 2]),  # Friday, Thursday, -, Wednesday (Monday is 0)
    ("hour", [6, 23, np.nan, 0]),
    ("elapsed", [7.5 / 24, 0.0, np.nan, 670 + 1.25 / 24]),  # days since 2024-02-29 23:00
])
def test_each_feature(feature, expected):
    out = DateFeatures(["when"], [feature]).fit_transform(rows())
    assert list(out.columns) == [f"when_{feature}", "x", "t"]
    assert out[f"when_{feature}"].dtype == np.float64
    assert np.allclose(out[f"when_{feature}"], expected, equal_nan=True)


def test_other_columns_pass_through_unchanged_and_input_is_kept():
    X = rows()
    before = X.copy()
    out = DateFeatures(["when"], ["year", "hour"]).fit_transform(X)
    pd.testing.assert_frame_equal(X, before)
    pd.testing.assert_series_equal(out["x"], X["x"])
    pd.testing.assert_series_equal(out["t"], X["t"])
    assert out["t"].dtype == object


def test_elapsed_counts_from_the_earliest_date_seen_at_fit():
    dates = DateFeatures(["when"], ["elapsed"]).fit(rows())
    later = rows().assign(when=pd.to_datetime(["2024-03-10 23:00"] * 4))
    assert np.allclose(dates.transform(later)["when_elapsed"], 10.0)


def test_iso_text_as_a_server_receives_it():
    dates = DateFeatures(["when"], ["month", "hour"]).fit(rows())
    text = rows().assign(when=pd.Series(["2024-07-04T18:00:00", "", "junk", "2024-01-02"],
                                        dtype=object))
    out = dates.transform(text)
    assert np.allclose(out["when_month"], [7, np.nan, np.nan, 1], equal_nan=True)
    assert np.allclose(out["when_hour"], [18, np.nan, np.nan, 0], equal_nan=True)


def test_feature_names_and_set_output():
    dates = DateFeatures(["when"], ALL).fit(rows())
    names = [f"when_{f}" for f in ALL] + ["x", "t"]
    assert list(dates.get_feature_names_out()) == names
    pandas_out = clone(dates).set_output(transform="pandas").fit_transform(rows())
    assert list(pandas_out.columns) == names


def test_clone_and_pickle():
    dates = DateFeatures(["when"], ["elapsed", "dayofweek"])
    assert clone(dates).get_params() == {"columns": ["when"], "features": ["elapsed",
                                                                           "dayofweek"]}
    out = dates.fit_transform(rows())
    pd.testing.assert_frame_equal(pickle.loads(pickle.dumps(dates)).transform(rows()), out)


@pytest.mark.parametrize("columns, features, X, error, message", [
    (["then"], ["year"], rows(), DataError, "date column 'then' is not in the data"),
    (["when"], ["week"], rows(), DataError, "unknown date feature 'week'"),
    (["when"], ["year"], rows().to_numpy(), TypeError, "takes a pandas DataFrame"),
])
def test_bad_input(columns, features, X, error, message):
    with pytest.raises(error, match=message):
        DateFeatures(columns, features).fit(X)


def test_columns_must_match_those_seen_at_fit():
    dates = DateFeatures(["when"], ["year"]).fit(rows())
    with pytest.raises(DataError, match="differ from those seen when fitting"):
        dates.transform(rows()[["x", "when", "t"]])
