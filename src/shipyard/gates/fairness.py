"""The fairness gate: a model's metrics per group of the sensitive columns (Fairlearn's
``MetricFrame``), the gaps and ratios between groups, and checks of them against the
project file's bounds.

A group is one value of the sensitive column, or one combination of values when
there are several; a missing value forms a group of its own, ``(missing)``, so the
rows without the attribute are audited too instead of silently dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    selection_rate,
)
from sklearn.metrics import accuracy_score, mean_absolute_error, root_mean_squared_error

from shipyard.gates.record import GateResult, judge
from shipyard.metrics import BINARY, MULTICLASS, REGRESSION
from shipyard.spec.gates import RATIO_METRICS, FairnessGate

MISSING = "(missing)"


def true_positive_rate(y_true, y_pred) -> float:
    """The share of positive rows predicted positive; NaN for a group without any
    (Fairlearn's own reports 0 there, which would make a gap out of an absence)."""
    return _rate(y_true, y_pred, 1)


def false_positive_rate(y_true, y_pred) -> float:
    """The share of negative rows predicted positive; NaN for a group without any."""
    return _rate(y_true, y_pred, 0)


def _rate(y_true, y_pred, truth: int) -> float:
    rows = np.asarray(y_true) == truth
    return float(np.mean(np.asarray(y_pred)[rows] == 1)) if rows.any() else math.nan


# Per-group metrics of each task: the column name in Audit.groups and how people read it.
GROUP_METRICS = {
    BINARY: {"selection_rate": selection_rate, "true_positive_rate": true_positive_rate,
             "false_positive_rate": false_positive_rate, "accuracy": accuracy_score},
    MULTICLASS: {"accuracy": accuracy_score},
    REGRESSION: {"mean_prediction": lambda y_true, y_pred: float(np.mean(y_pred)),
                 "mae": mean_absolute_error, "rmse": root_mean_squared_error},
}
WORDS = {"selection_rate": "selection rate", "true_positive_rate": "true positive rate",
         "false_positive_rate": "false positive rate", "accuracy": "accuracy",
         "mean_prediction": "mean prediction", "mae": "mean absolute error",
         "rmse": "root mean squared error"}
# The per-group metric(s) each summary metric compares between groups.
COMPARES = {
    "demographic_parity_difference": ("selection_rate",),
    "demographic_parity_ratio": ("selection_rate",),
    "equalized_odds_difference": ("true_positive_rate", "false_positive_rate"),
    "equalized_odds_ratio": ("true_positive_rate", "false_positive_rate"),
    "accuracy_difference": ("accuracy",),
    "mae_difference": ("mae",),
    "rmse_difference": ("rmse",),
}


@dataclass(frozen=True)
class Audit:
    task: str
    sensitive: list[str]
    groups: pd.DataFrame  # one row per group: the sensitive columns, "count", the metrics
    overall: dict[str, float]
    summary: dict[str, float]

    def label(self, row: int) -> str:
        """The group of ``groups``' row ``row`` as people read it: ``sex=Male``."""
        return ", ".join(f"{c}={self.groups[c].iloc[row]}" for c in self.sensitive)

    def to_dict(self) -> dict:
        records = [{k: _plain(v) for k, v in r.items()}
                   for r in self.groups.to_dict(orient="records")]
        return {"task": self.task, "sensitive": list(self.sensitive), "groups": records,
                "overall": {k: _plain(v) for k, v in self.overall.items()},
                "summary": {k: _plain(v) for k, v in self.summary.items()}}


def _plain(value):
    """JSON-ready: numpy scalars as Python numbers, NaN as None."""
    if isinstance(value, (np.integer, np.floating, float, int)) and not isinstance(value, bool):
        value = value.item() if hasattr(value, "item") else value
        return None if isinstance(value, float) and math.isnan(value) else value
    return value


def groups_of(sensitive: pd.DataFrame) -> pd.DataFrame:
    """The sensitive columns as text, with missing values as their own group.

    Text keeps mixed columns sortable and the group names as the report shows them."""
    return pd.DataFrame({c: [MISSING if pd.isna(v) else str(v) for v in sensitive[c]]
                         for c in sensitive.columns}, dtype=object)


def _binary(y, positive) -> np.ndarray:
    values = np.asarray(y)
    if positive is not None:
        return (values == positive).astype(int)
    if values.dtype == bool:
        return values.astype(int)
    if not set(pd.unique(values).tolist()) <= {0, 1}:
        raise ValueError("binary audit: give the labels as 0/1 (1 = the positive class), or "
                         "name the positive class")
    return values.astype(int)


def audit(task: str, y_true, y_pred, sensitive: pd.DataFrame, *, positive=None) -> Audit:
    """Group metrics of ``y_pred`` against ``y_true`` over ``sensitive``'s columns.

    Binary: labels as 0/1 ints (1 = positive class), or class labels with
    ``positive`` naming the positive one. Multiclass: class labels. Regression:
    numbers."""
    if task not in GROUP_METRICS:
        raise ValueError(f"fairness audit: a {task} task has no group metrics")
    if len(sensitive) != len(y_true) or len(y_pred) != len(y_true):
        raise ValueError(f"fairness audit: {len(y_true)} labels, {len(y_pred)} predictions "
                         f"and {len(sensitive)} rows of sensitive values must match")
    if task == BINARY:
        y_true, y_pred = _binary(y_true, positive), _binary(y_pred, positive)
    elif task == REGRESSION:
        y_true = np.asarray(y_true, dtype=float)
        y_pred = np.asarray(y_pred, dtype=float)
    else:
        y_true, y_pred = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    by = groups_of(sensitive.reset_index(drop=True))
    frame = MetricFrame(metrics={"count": count, **GROUP_METRICS[task]}, y_true=y_true,
                        y_pred=y_pred, sensitive_features=by)
    table = frame.by_group
    # several columns give every combination of values; keep those that occur
    table = table[table["count"].notna() & (table["count"] > 0)].reset_index()
    table["count"] = table["count"].astype(int)
    overall = {k: float(v) for k, v in frame.overall.items() if k != "count"}
    return Audit(task, list(sensitive.columns), table, overall,
                 _summary(task, y_true, y_pred, by, frame))


def _summary(task: str, y_true, y_pred, by: pd.DataFrame, frame: MetricFrame) -> dict:
    table = frame.by_group
    gaps, ratios = _gaps(table), _ratios(table)
    if task == REGRESSION:
        return {"mae_difference": gaps["mae"], "rmse_difference": gaps["rmse"]}
    out = {"accuracy_difference": gaps["accuracy"]}
    if task == BINARY:
        # Equalized odds as Fairlearn defines it (the worse of the TPR and FPR gaps),
        # but from this table's rates: a group without positive (negative) rows has
        # no TPR (FPR) and is left out of that comparison instead of counted as 0.
        dp = demographic_parity_difference(y_true, y_pred, sensitive_features=by)
        out = {"demographic_parity_difference": float(dp),
               "demographic_parity_ratio": ratios["selection_rate"],
               "equalized_odds_difference": _nan(max, gaps["true_positive_rate"],
                                                 gaps["false_positive_rate"]),
               "equalized_odds_ratio": _nan(min, ratios["true_positive_rate"],
                                            ratios["false_positive_rate"]), **out}
    return out


def _gaps(table: pd.DataFrame) -> dict[str, float]:
    """Largest minus smallest group value of each column (NaN when none has one)."""
    return {col: float(table[col].max() - table[col].min()) for col in table.columns}


def _ratios(table: pd.DataFrame) -> dict[str, float]:
    """Smallest over largest group value of each column: 1 when every group is at 0
    (nobody is treated differently), NaN when no group has a value."""
    out = {}
    for col in table.columns:
        low, high = table[col].min(), table[col].max()
        out[col] = math.nan if pd.isna(high) else 1.0 if high == 0 else float(low / high)
    return out


def _nan(pick, *values: float) -> float:
    """``pick`` (min or max) of the values that are known; NaN when none is."""
    known = [v for v in values if not math.isnan(v)]
    return pick(known) if known else math.nan


def _extremes(a: Audit, column: str) -> tuple[int, int] | None:
    """Rows of the groups with the lowest and the highest ``column`` (NaN skipped)."""
    values = a.groups[column]
    if values.notna().sum() < 1:
        return None
    return int(values.idxmin()), int(values.idxmax())


def _worst(a: Audit, metric: str) -> str:
    """The per-group metric that decides ``metric``: for equalized odds, the one of
    TPR and FPR with the larger gap (difference) or the smaller ratio."""
    compared = COMPARES[metric]
    if len(compared) == 1:
        return compared[0]

    def spread(col: str) -> float:
        low, high = a.groups[col].min(), a.groups[col].max()
        if metric in RATIO_METRICS:
            return -(low / high) if high else -1.0
        return high - low

    return max(compared, key=lambda c: (-math.inf if math.isnan(spread(c)) else spread(c)))


def details(a: Audit, metric: str, bound: float) -> str:
    col = _worst(a, metric)
    ends = _extremes(a, col)
    if ends is None:
        return f"no group has a {WORDS[col]} to compare"
    low, high = ends
    lo_v, hi_v = a.groups[col].iloc[low], a.groups[col].iloc[high]
    word = WORDS[col]
    if metric in RATIO_METRICS:
        ratio = a.summary.get(metric, math.nan)
        return (f"{word} {lo_v:.2f} for {a.label(low)} is {ratio:.2f} of {hi_v:.2f} for "
                f"{a.label(high)}; the project requires at least {bound:g}")
    gap = a.summary.get(metric, math.nan)
    return (f"{word} {hi_v:.2f} for {a.label(high)} vs {lo_v:.2f} for {a.label(low)}: a gap "
            f"of {gap:.2f}; the project allows {bound:g}")


def check(spec: FairnessGate, audit: Audit) -> list[GateResult]:
    """One record per check of ``spec``: gaps must stay at most ``max``, ratios at
    least ``min``."""
    results = []
    for c in spec.checks:
        ratio = c.metric in RATIO_METRICS
        op, bound = (">=", c.min) if ratio else ("<=", c.max)
        if c.metric not in audit.summary:
            results.append(judge("fairness", c.metric, math.nan, op, bound,
                                 f"'{c.metric}' does not fit a {audit.task} task",
                                 spec.blocking))
            continue
        results.append(judge("fairness", c.metric, audit.summary[c.metric], op, bound,
                             details(audit, c.metric, bound), spec.blocking))
    return results


__all__ = ["COMPARES", "GROUP_METRICS", "MISSING", "WORDS", "Audit", "audit", "check",
           "details", "groups_of"]
