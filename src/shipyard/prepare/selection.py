"""Feature selection on the encoded matrix, learnt on the training rows.

Rules run in order, each on the columns the previous ones kept: constant
columns, exact duplicates, one of each highly correlated pair (the later one
goes), then, when asked, all but the most important columns by a quick seeded
LightGBM model. The first column is always kept, so a model has something to
learn from.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from shipyard.metrics import REGRESSION


class FeatureSelector(SelectorMixin, BaseEstimator):
    """Drop uninformative columns; ``dropped_`` maps each dropped name to why.

    ``task`` (``"regression"``, ``"binary"``, ``"multiclass"``) and ``seed`` are for
    the model that ranks columns when ``top_features`` is set.
    """

    def __init__(self, drop_constant: bool = True, drop_duplicates: bool = True,
                 max_correlation: float | None = None, top_features: int | None = None,
                 task: str = REGRESSION, seed: int = 0):
        self.drop_constant = drop_constant
        self.drop_duplicates = drop_duplicates
        self.max_correlation = max_correlation
        self.top_features = top_features
        self.task = task
        self.seed = seed

    def fit(self, X, y=None):
        """Choose the columns of ``X`` to keep; ``y`` is needed for ``top_features``."""
        if self.top_features is not None and y is None:
            raise ValueError("top_features ranks columns by a model, which needs y")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=True)
        names = self._names()
        keep = list(range(X.shape[1]))
        dropped: dict[str, str] = {}
        if self.drop_constant:
            keep = self._drop(keep, _constant(X, keep), names, dropped)
        if self.drop_duplicates:
            keep = self._drop(keep, _duplicates(X, keep, names), names, dropped)
        if self.max_correlation is not None:
            keep = self._drop(keep, _correlated(X, keep, names, self.max_correlation),
                              names, dropped)
        if self.top_features is not None and self.top_features < len(keep):
            ranked = _least_important(X, y, keep, self.top_features, self.task, self.seed)
            keep = self._drop(keep, ranked, names, dropped)
        if not keep:  # every column constant: keep the first rather than none
            keep = [0]
            del dropped[names[0]]
        self.support_ = np.zeros(X.shape[1], dtype=bool)
        self.support_[keep] = True
        self.dropped_ = dropped
        return self

    def _get_support_mask(self):
        check_is_fitted(self, "support_")
        return self.support_

    def _names(self) -> list[str]:
        if hasattr(self, "feature_names_in_"):
            return [str(n) for n in self.feature_names_in_]
        return [f"x{i}" for i in range(self.n_features_in_)]

    @staticmethod
    def _drop(keep: list[int], reasons: dict[int, str], names: list[str],
              dropped: dict[str, str]) -> list[int]:
        for j, reason in reasons.items():
            dropped[names[j]] = reason
        return [j for j in keep if j not in reasons]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def _constant(X: np.ndarray, keep: list[int]) -> dict[int, str]:
    reasons = {}
    for j in keep:
        column = X[:, j]
        missing = np.isnan(column)
        if missing.all() or (not missing.any() and column.min() == column.max()):
            reasons[j] = "constant"
    return reasons


def _duplicates(X: np.ndarray, keep: list[int], names: list[str]) -> dict[int, str]:
    first: dict[bytes, int] = {}
    reasons = {}
    for j in keep:
        key = np.ascontiguousarray(X[:, j]).tobytes()
        if key in first:
            reasons[j] = f"duplicate of '{names[first[key]]}'"
        else:
            first[key] = j
    return reasons


def _correlated(X: np.ndarray, keep: list[int], names: list[str],
                limit: float) -> dict[int, str]:
    # pandas handles gaps pairwise and gives NaN (never "too high") for constants.
    corr = pd.DataFrame(X[:, keep]).corr().abs().to_numpy()
    chosen: list[int] = []  # positions in keep
    reasons = {}
    for i, j in enumerate(keep):
        over = [k for k in chosen if corr[i, k] > limit]
        if over:
            k = over[0]
            reasons[j] = f"correlated with '{names[keep[k]]}' (|r| = {corr[i, k]:.3f})"
        else:
            chosen.append(i)
    return reasons


def _least_important(X: np.ndarray, y, keep: list[int], top: int, task: str,
                     seed: int) -> dict[int, str]:
    from lightgbm import LGBMClassifier, LGBMRegressor  # slow to import; only when used

    model_class = LGBMRegressor if task == REGRESSION else LGBMClassifier
    model = model_class(n_estimators=50, num_leaves=15, min_child_samples=10,
                        importance_type="gain", random_state=seed, n_jobs=1, verbose=-1)
    model.fit(X[:, keep], np.asarray(y))
    gain = model.feature_importances_
    order = np.argsort(-gain, kind="stable")  # ties: the earlier column wins
    return {keep[i]: f"not among the top {top} by model importance (gain {gain[i]:.3g})"
            for i in order[top:]}
