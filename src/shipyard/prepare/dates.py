"""Numbers from date columns: calendar parts and time elapsed since the training data began.

Models take numbers, not timestamps. Each date column ``d`` becomes
``d_year``, ``d_month``, ... in the order of the project's ``prepare.dates``
list; a missing date gives NaN in each. Other columns pass through unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from shipyard.errors import DataError

FEATURES = ("year", "month", "day", "dayofweek", "hour", "elapsed")
DAY = pd.Timedelta(days=1)
CALENDAR = {"year": "year", "month": "month", "day": "day", "dayofweek": "day_of_week",
            "hour": "hour"}  # feature -> pandas' .dt attribute


def names(column: str, features: list[str]) -> list[str]:
    """The names of the columns that date column ``column`` becomes."""
    return [f"{column}_{f}" for f in features]


class DateFeatures(TransformerMixin, BaseEstimator):
    """Replace each of ``columns`` (datetime64, or ISO 8601 text as a server
    receives it) by numeric ``features``: year, month, day, dayofweek (Monday
    is 0), hour, elapsed (days since the earliest date seen at fit)."""

    def __init__(self, columns: list[str], features: list[str]):
        self.columns = columns
        self.features = features

    def fit(self, X: pd.DataFrame, y=None):
        """Learn the earliest date of each column, for ``elapsed``."""
        self._check(X)
        unknown = [f for f in self.features if f not in FEATURES]
        if unknown:
            raise DataError(f"prepare.dates: unknown date feature '{unknown[0]}'",
                            details=[f"choose from: {', '.join(FEATURES)}"])
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.origin_ = {c: _dates(X[c]).min() for c in self.columns}
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """A new frame with the date columns replaced by their numeric features."""
        check_is_fitted(self, "origin_")
        self._check(X)
        expected = list(self.feature_names_in_)
        if list(X.columns) != expected:
            raise DataError("The columns differ from those seen when fitting",
                            details=[f"expected: {expected}", f"got: {list(X.columns)}"])
        parts = {}
        for name in X.columns:
            if name in self.columns:
                parts.update(self._features(name, _dates(X[name])))
            else:
                parts[name] = X[name]
        return pd.DataFrame(parts, index=X.index)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Input names, each date column replaced by its feature names."""
        check_is_fitted(self, "origin_")
        given = self.feature_names_in_ if input_features is None else input_features
        out = []
        for name in given:
            out.extend(names(name, self.features) if name in self.columns else [name])
        return np.asarray(out, dtype=object)

    def _check(self, X) -> None:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"DateFeatures takes a pandas DataFrame, got {type(X).__name__}")
        missing = [c for c in self.columns if c not in X.columns]
        if missing:
            raise DataError(f"prepare.dates: date column '{missing[0]}' is not in the data")

    def _features(self, name: str, dates: pd.Series) -> dict[str, pd.Series]:
        out = {}
        for feature, column in zip(self.features, names(name, self.features), strict=True):
            if feature == "elapsed":
                values = (dates - self.origin_[name]) / DAY
            else:
                values = getattr(dates.dt, CALENDAR[feature])
            out[column] = values.astype("float64")
        return out


def _dates(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values
    # Text (a request's JSON): ISO 8601 only; anything else, or "", is a missing date.
    text = values.astype(object).where(values.astype(object) != "", None)
    return pd.to_datetime(text, format="ISO8601", errors="coerce")
