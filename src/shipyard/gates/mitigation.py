"""Fairness mitigation with Fairlearn: a new binary classifier in place of the
trained model, built by the method the project file names.

``exponentiated_gradient`` (:class:`Reduction`) retrains the model's estimator under
the constraint, on the rows the model's own preprocessing makes. ``threshold_optimizer``
(:class:`GroupThresholds`) keeps the trained model and picks a decision threshold per
group of the sensitive columns, which it reads from the input rows.

Both take the same rows as the model, predict its class labels and are fitted,
clone-able and picklable scikit-learn estimators, so they are logged and served like
any model. Fairlearn's own predictions are randomised (a row's class is drawn with
the rule's probability); these are deterministic, so a run can be reproduced: the
probability is ``predict_proba``'s positive column and ``predict`` says positive
where it is at least 0.5. A binary threshold tuned in training does not apply.
"""

from __future__ import annotations

import inspect
import warnings
from contextlib import contextmanager

import numpy as np
import pandas as pd
from fairlearn.postprocessing import ThresholdOptimizer
from fairlearn.reductions import (
    DemographicParity,
    EqualizedOdds,
    ErrorRateParity,
    ExponentiatedGradient,
    FalsePositiveRateParity,
    TruePositiveRateParity,
)
from pandas.errors import Pandas4Warning
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted, has_fit_parameter

from shipyard.errors import SpecError
from shipyard.gates.fairness import groups_of
from shipyard.spec.gates import Mitigation

MOMENTS = {"demographic_parity": DemographicParity, "equalized_odds": EqualizedOdds,
           "true_positive_rate_parity": TruePositiveRateParity,
           "false_positive_rate_parity": FalsePositiveRateParity,
           "error_rate_parity": ErrorRateParity}


@contextmanager
def _quiet_fairlearn():
    """Fairlearn 0.15 grows Series with ``.at``, which pandas 3 warns will stop
    working in pandas 4; the results are right today, and the fix is Fairlearn's."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=Pandas4Warning, module="fairlearn")
        yield


def group_keys(sensitive: pd.DataFrame) -> np.ndarray:
    """One group name per row (``Female`` or ``Female, Black``), missing values as
    their own group, as the audit names them."""
    by = groups_of(sensitive.reset_index(drop=True))
    return by.astype(str).agg(", ".join, axis=1).to_numpy(dtype=object)


def _takes_weights(estimator) -> bool:
    """Whether ``fit`` takes ``sample_weight``, by name or through ``**kwargs`` (as
    Shipyard's XGBoost wrapper passes everything on)."""
    fit = inspect.signature(estimator.fit).parameters.values()
    return has_fit_parameter(estimator, "sample_weight") or \
        any(p.kind is p.VAR_KEYWORD for p in fit)


def _unwrapped(model):
    """The pipeline under a tuned-threshold wrapper: mitigation decides by its own rule."""
    while isinstance(model, (FixedThresholdClassifier, FrozenEstimator)):
        model = model.estimator
    return model


class Reduction(ClassifierMixin, BaseEstimator):
    """Fairlearn's ExponentiatedGradient over the preprocessing of ``pipeline``.

    ``fit`` fits clones of the pipeline's preprocessing steps once, then searches a
    mixture of clones of its final estimator that meets ``constraint`` within
    ``eps`` on those rows. Resampling steps (SMOTE, undersampling, dropped outliers)
    are left out: they add rows that belong to no group or remove real ones, so the
    constraint would be measured on rows that are not the population; the reduction
    weights rows itself instead.

    ``predict_proba``'s positive column is the share of the mixture (by weight) that
    predicts the positive class: the probability with which Fairlearn's randomised
    ``predict`` would say positive, not a calibrated probability of the outcome.
    """

    def __init__(self, pipeline=None, constraint: str = "demographic_parity", eps: float = 0.01,
                 max_iter: int = 50, seed: int = 0, positive=None):
        self.pipeline = pipeline
        self.constraint = constraint
        self.eps = eps
        self.max_iter = max_iter
        self.seed = seed
        self.positive = positive

    def fit(self, X: pd.DataFrame, y, *, sensitive_features: pd.DataFrame):
        pipeline = _unwrapped(self.pipeline)
        steps = [(n, clone(s)) for n, s in pipeline.steps[:-1]
                 if s not in (None, "passthrough") and not hasattr(s, "fit_resample")]
        estimator = clone(pipeline.steps[-1][1])
        if not _takes_weights(estimator):
            raise SpecError(f"exponentiated_gradient reweights the training rows, and "
                            f"{type(estimator).__name__} takes no sample weights",
                            hint="use mitigation.method: threshold_optimizer, or another model")
        params = estimator.get_params()
        # The reduction fits each estimator to relabelled, reweighted rows; class
        # weights would skew that cost-sensitive problem, so they are switched off.
        estimator.set_params(**{k: v for k, v in (("random_state", self.seed),
                                                   ("class_weight", None)) if k in params})
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        positive = self.classes_[-1] if self.positive is None else self.positive
        if len(self.classes_) != 2 or positive not in self.classes_:
            raise ValueError(f"mitigation needs two classes with {positive!r} among them, got "
                             f"{list(self.classes_)}")
        self.positive_index_ = int(np.flatnonzero(self.classes_ == positive)[0])
        self.preprocess_ = Pipeline(steps) if steps else None
        rows = X if self.preprocess_ is None else self.preprocess_.fit_transform(X, y)
        search = ExponentiatedGradient(estimator, constraints=MOMENTS[self.constraint](),
                                       eps=self.eps, max_iter=self.max_iter)
        with _quiet_fairlearn():
            search.fit(rows, (y == positive).astype(int),
                       sensitive_features=group_keys(sensitive_features))
        # Keep the members that carry weight, not the search (its history, lambdas, data).
        used = [i for i in search.weights_.index if search.weights_[i] > 0]
        self.estimators_ = [search.predictors_[i] for i in used]
        self.weights_ = np.array([search.weights_[i] for i in used], dtype=float)
        self.n_iter_ = int(search.last_iter_) + 1
        return self

    def _positive(self, X) -> np.ndarray:
        check_is_fitted(self)
        rows = X if self.preprocess_ is None else self.preprocess_.transform(X)
        votes = np.column_stack([np.asarray(e.predict(rows), dtype=float)
                                 for e in self.estimators_])
        return votes @ self.weights_

    def predict_proba(self, X) -> np.ndarray:
        return _two_columns(self._positive(X), self.positive_index_)

    def predict(self, X) -> np.ndarray:
        # Fairlearn's predict draws each row's class at random with this probability
        # (EG's _pmf_predict); a fixed cut keeps a run and its reproduction identical.
        return _decide(self._positive(X), self.classes_, self.positive_index_)


class _PositiveScore(BaseEstimator):
    """The fitted model's probability of the positive class as column 1, where
    ThresholdOptimizer reads it, whichever position that class has in the model."""

    def __init__(self, model=None, positive=None):
        self.model = model
        self.positive = positive

    def fit(self, X=None, y=None):
        self.index_ = int(np.flatnonzero(np.asarray(self.model.classes_) == self.positive)[0])
        return self

    def predict_proba(self, X) -> np.ndarray:
        p = np.asarray(self.model.predict_proba(X))[:, self.index_]
        return np.column_stack([1 - p, p])


class GroupThresholds(ClassifierMixin, BaseEstimator):
    """Fairlearn's ThresholdOptimizer on a fitted ``model`` (a FrozenEstimator, so
    cloning keeps it fitted): one threshold rule per group of the ``sensitive``
    columns, which must be among the model's input columns.

    ``predict_proba``'s positive column is the probability with which Fairlearn's
    randomised rule for the row's group says positive (between the group's two
    thresholds it mixes them). Rows of a group not seen in ``fit`` get the model's
    own probability."""

    def __init__(self, model=None, sensitive=(), constraint: str = "demographic_parity",
                 positive=None):
        self.model = model
        self.sensitive = sensitive
        self.constraint = constraint
        self.positive = positive

    def fit(self, X: pd.DataFrame, y, sensitive_features=None):
        y = np.asarray(y)
        self.classes_ = np.asarray(_unwrapped(self.model).classes_)
        positive = self.classes_[-1] if self.positive is None else self.positive
        self.positive_index_ = int(np.flatnonzero(self.classes_ == positive)[0])
        self.scorer_ = _PositiveScore(self.model, positive).fit()
        self.optimizer_ = ThresholdOptimizer(
            estimator=self.scorer_, constraints=self.constraint, prefit=True,
            predict_method="predict_proba")
        with _quiet_fairlearn():
            self.optimizer_.fit(X, (y == positive).astype(int),
                                sensitive_features=self._keys(X))
        return self

    def _keys(self, X: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.sensitive if c not in X.columns]
        if missing:
            raise SpecError(f"threshold_optimizer reads {', '.join(missing)} from the input "
                            "rows, and they are not there",
                            hint="keep the sensitive columns among the features")
        return group_keys(X[list(self.sensitive)])

    def _positive(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self)
        keys = self._keys(X)
        p = self.optimizer_._pmf_predict(X, sensitive_features=keys)[:, 1]
        known = np.isin(keys, list(self.optimizer_.interpolated_thresholder_.interpolation_dict))
        if not known.all():
            p[~known] = self.scorer_.predict_proba(X[~known])[:, 1]
        return p

    def predict_proba(self, X) -> np.ndarray:
        return _two_columns(self._positive(X), self.positive_index_)

    def predict(self, X) -> np.ndarray:
        # ThresholdOptimizer.predict draws at random between a group's two thresholds;
        # cutting the expected probability at 0.5 keeps predictions reproducible.
        return _decide(self._positive(X), self.classes_, self.positive_index_)


def _two_columns(p: np.ndarray, positive_index: int) -> np.ndarray:
    # a sum of weights can come out a rounding error above 1
    p = np.clip(p, 0.0, 1.0)
    out = np.column_stack([1 - p, p])
    return out if positive_index == 1 else out[:, ::-1]


def _decide(p: np.ndarray, classes: np.ndarray, positive_index: int) -> np.ndarray:
    return np.where(p >= 0.5, classes[positive_index], classes[1 - positive_index])


def mitigate(spec: Mitigation, model, X: pd.DataFrame, y: np.ndarray, sensitive: pd.DataFrame,
             *, seed: int, positive=None):
    """A new fitted classifier in place of ``model`` (the trained pipeline, possibly
    behind a tuned threshold), taking the same rows ``X``. ``sensitive`` holds the
    sensitive columns' values for ``X``'s rows; ``positive`` is the positive class
    (default: the model's last class)."""
    pipeline = _unwrapped(model)
    if positive is None:
        positive = pipeline.classes_[-1]
    if spec.method == "exponentiated_gradient":
        return Reduction(pipeline, spec.constraint, spec.eps, spec.max_iter, seed,
                         positive).fit(X, y, sensitive_features=sensitive)
    return GroupThresholds(FrozenEstimator(pipeline), list(sensitive.columns), spec.constraint,
                           positive).fit(X, y)


__all__ = ["MOMENTS", "GroupThresholds", "Reduction", "group_keys", "mitigate"]
