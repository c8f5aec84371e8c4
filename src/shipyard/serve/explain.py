"""Why the model said what it said about one row: each input column's share of
the prediction, from the tree ensemble's own exact contributions (TreeSHAP, as
LightGBM's ``pred_contrib`` and XGBoost's ``pred_contribs`` compute it).

A model sees derived features (an engine's 30-flight EGT slope, a one-hot
category); a mechanic looks at sensors. Each feature's contribution is added to
the input column it was made from, so the answer names ``egt_c``, with the
derived feature that weighed most. Contributions are in the units of the model's
raw output (flights of RUL for the demo; log-odds for a binary classifier), and
they add up, with the base value, to that output.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shipyard.card import LoadedModel
from shipyard.metrics import BINARY, REGRESSION

TOP = 3  # input columns named per explanation


class Explainer:
    """Explains rows of one model version; build with :func:`explainer_for`."""

    def __init__(self, model: LoadedModel, estimator, top: int = TOP):
        self.card = model.card
        inner = getattr(model.pipeline, "estimator_", model.pipeline)
        self.before = inner[:-1]  # every step up to the estimator
        self.estimator = estimator
        self.top = top
        names = [str(n) for n in self.before.get_feature_names_out()]
        self.features = names
        sources = [c for c in self.card.schema.names if c not in self._roles()]
        self.by_source: dict[str, np.ndarray] = {}
        for j, name in enumerate(names):
            self.by_source.setdefault(_source(name, sources), []).append(j)
        self.by_source = {s: np.asarray(idx) for s, idx in self.by_source.items()}

    def _roles(self) -> set[str]:
        step = self.before[0] if len(self.before) else None
        return {getattr(step, "entity", None), getattr(step, "time", None)} - {None}

    def explain(self, frame: pd.DataFrame, *, after_series: bool = False) -> list[dict]:
        """One explanation per row of ``frame``: the model's input (``after_series``:
        the series step's output, as stateful serving computes it)."""
        steps = self.before[1:] if after_series else self.before
        matrix = steps.transform(frame) if len(steps) else frame
        values = np.asarray(matrix, dtype=np.float64)
        contrib = self._contributions(matrix)
        return [self._one(values[i], contrib[i]) for i in range(len(values))]

    def _contributions(self, matrix) -> np.ndarray:
        est = self.estimator
        if hasattr(est, "coef_"):
            # A linear model: each feature adds coefficient x value, exactly; the
            # pipeline standardises numbers, so that is relative to the training mean.
            coef = np.asarray(est.coef_, dtype=np.float64).reshape(-1)
            values = np.asarray(matrix, dtype=np.float64)
            base = float(np.asarray(est.intercept_, dtype=np.float64).reshape(-1)[0])
            return np.column_stack([np.nan_to_num(values) * coef, np.full(len(values), base)])
        if type(est).__module__.startswith("lightgbm"):
            out = est.predict(matrix, pred_contrib=True)
        else:  # xgboost
            import xgboost

            booster = est.get_booster()
            data = xgboost.DMatrix(np.asarray(matrix, dtype=np.float64),
                                   feature_names=booster.feature_names)
            out = booster.predict(data, pred_contribs=True)
        return np.asarray(out, dtype=np.float64)

    def _one(self, values: np.ndarray, contrib: np.ndarray) -> dict:
        per_feature, base = contrib[:-1], float(contrib[-1])
        totals = {s: float(per_feature[idx].sum()) for s, idx in self.by_source.items()}
        ranked = sorted(totals, key=lambda s: -abs(totals[s]))[:self.top]
        out = []
        for source in ranked:
            idx = self.by_source[source]
            strongest = idx[int(np.argmax(np.abs(per_feature[idx])))]
            value = values[strongest]
            out.append({"column": source, "contribution": round(totals[source], 4),
                        "feature": self.features[strongest],
                        "value": None if np.isnan(value) else round(float(value), 4)})
        return {"base": round(base, 4), "top": out}


def explainer_for(model: LoadedModel, top: int = TOP) -> Explainer | None:
    """An explainer when the version's estimator gives exact contributions (LightGBM
    or XGBoost trees, or a linear model; for regression or binary classification),
    else None."""
    if model.card.task not in (REGRESSION, BINARY):
        return None
    inner = getattr(model.pipeline, "estimator_", model.pipeline)
    steps = getattr(inner, "steps", None)
    if not steps:
        return None
    estimator = steps[-1][1]
    module = type(estimator).__module__
    linear = getattr(estimator, "coef_", None) is not None and \
        np.asarray(estimator.coef_).reshape(-1).shape[0] == getattr(estimator, "n_features_in_", -1)
    if not (linear or module.startswith("lightgbm") or module.startswith("xgboost")):
        return None
    try:
        return Explainer(model, estimator, top)
    except (AttributeError, ValueError, TypeError):  # a step that cannot name its features
        return None


def _source(feature: str, sources: list[str]) -> str:
    """The input column a derived feature was made from: the longest input name it
    starts with (``egt_c_slope_30`` -> ``egt_c``), else the feature itself."""
    if feature in sources:
        return feature
    best = ""
    for name in sources:
        if feature.startswith(name + "_") and len(name) > len(best):
            best = name
    return best or feature
