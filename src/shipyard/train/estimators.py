"""Estimators the catalogue needs that the libraries do not ship as such."""

from __future__ import annotations

import numpy as np
from sklearn.preprocessing import LabelEncoder
from xgboost import XGBClassifier


class LabelledXGBClassifier(XGBClassifier):
    """XGBoost's classifier for any labels: XGBoost only accepts 0..k-1, so labels
    are encoded on fit (and in evaluation sets) and decoded on predict; ``classes_``
    holds the original labels like every scikit-learn classifier."""

    def fit(self, X, y, **kwargs):
        labels = LabelEncoder().fit(y)
        if kwargs.get("eval_set"):
            kwargs["eval_set"] = [(Xe, labels.transform(ye)) for Xe, ye in kwargs["eval_set"]]
        self._labels = None  # while XGBoost fits, it must see its own integer classes
        super().fit(X, labels.transform(y), **kwargs)
        self._labels = labels
        return self

    @property
    def classes_(self) -> np.ndarray:
        labels = getattr(self, "_labels", None)
        return labels.classes_ if labels is not None else np.arange(self.n_classes_)

    def predict_proba(self, X, **kwargs):
        # float32 rows that miss 1 by rounding make scikit-learn's log loss complain.
        proba = np.asarray(super().predict_proba(X, **kwargs), dtype=np.float64)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X, **kwargs):
        return self._labels.inverse_transform(np.asarray(super().predict(X, **kwargs),
                                                         dtype=int))
