"""Extreme numeric values: clip them to fences, or drop the training rows that have them.

Fences are learnt from the training rows only, per column, ignoring missing values:
``iqr`` puts them ``iqr`` interquartile ranges beyond the quartiles, ``quantile``
at two quantiles. A column with two distinct values or fewer (flags, one-hot
columns) or whose fences collapse to one value is left alone: any rule would
call its rarer value an outlier and erase what it says.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from imblearn import FunctionSampler
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from shipyard.errors import DataError

RULES = ("iqr", "quantile")


def fences(X: np.ndarray, rule: str = "iqr", iqr: float = 1.5,
           quantiles: tuple[float, float] = (0.01, 0.99)) -> tuple[np.ndarray, np.ndarray]:
    """Per-column (lower, upper) fences of a 2-D float array; +-inf where a column is
    left alone (no values, two distinct values or fewer, or collapsed fences)."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    low, high = quantiles
    if not 0 <= low < high <= 1:
        raise ValueError(f"quantiles must be (low, high) with 0 <= low < high <= 1, "
                         f"got {quantiles!r}")
    lower = np.full(X.shape[1], -np.inf)
    upper = np.full(X.shape[1], np.inf)
    for j in range(X.shape[1]):
        values = X[:, j][~np.isnan(X[:, j])]
        if np.unique(values).size <= 2:
            continue
        if rule == "iqr":
            q1, q3 = np.quantile(values, [0.25, 0.75])
            lo, hi = q1 - iqr * (q3 - q1), q3 + iqr * (q3 - q1)
        else:
            lo, hi = np.quantile(values, [low, high])
        if lo < hi:
            lower[j], upper[j] = lo, hi
    return lower, upper


class Clipper(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Clip each numeric column to fences learnt at fit; missing values stay missing.

    ``rule`` is ``"iqr"`` (fences ``iqr`` interquartile ranges beyond the quartiles)
    or ``"quantile"`` (fences at ``quantiles``).
    """

    def __init__(self, rule: str = "iqr", iqr: float = 1.5,
                 quantiles: tuple[float, float] = (0.01, 0.99)):
        self.rule = rule
        self.iqr = iqr
        self.quantiles = quantiles

    def fit(self, X, y=None):
        """Learn the fences of each column of ``X``."""
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=True)
        self.lower_, self.upper_ = fences(X, self.rule, self.iqr, self.quantiles)
        return self

    def transform(self, X):
        """``X`` as a new float array, each column clipped to its fences."""
        check_is_fitted(self, "lower_")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan",
                          reset=False, copy=True)
        return np.clip(X, self.lower_, self.upper_, out=X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def drop_sampler(rule: str = "iqr", iqr: float = 1.5,
                 quantiles: tuple[float, float] = (0.01, 0.99)) -> FunctionSampler:
    """A sampler for an imblearn ``Pipeline`` that removes the training rows with a
    value outside the fences learnt on those same rows.

    Samplers act only when the pipeline is fitted, so evaluation and serving keep
    every row. On a DataFrame only the numeric columns are judged; on an array
    every column is.
    """
    fences(np.empty((0, 0)), rule, iqr, quantiles)  # bad settings fail now, not at fit
    return FunctionSampler(func=drop_rows, validate=False,
                           kw_args={"rule": rule, "iqr": iqr, "quantiles": tuple(quantiles)})


def drop_rows(X, y, rule: str = "iqr", iqr: float = 1.5,
              quantiles: tuple[float, float] = (0.01, 0.99)):
    """``X`` and ``y`` without the rows that have a value outside the fences."""
    if isinstance(X, pd.DataFrame):
        values = X.select_dtypes(include="number").to_numpy(dtype=np.float64)
    else:
        values = np.asarray(X, dtype=np.float64)
    lower, upper = fences(values, rule, iqr, quantiles)
    keep = ~((values < lower) | (values > upper)).any(axis=1)
    if not keep.any():
        raise DataError("prepare.outliers.action: 'drop' would remove every training row",
                        hint="use action: clip, or widen prepare.outliers.iqr / quantiles")
    rows = np.flatnonzero(keep)
    X_kept = X.iloc[rows] if isinstance(X, pd.DataFrame) else np.asarray(X)[rows]
    y_kept = y.iloc[rows] if isinstance(y, pd.Series) else np.asarray(y)[rows]
    return X_kept, y_kept
