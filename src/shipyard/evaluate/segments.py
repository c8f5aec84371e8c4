"""Metrics per segment: the holdout split by the values of one column.

A model that is good on average can be poor for one region, product or fleet;
the table shows every metric of the task on each segment's rows. A metric
that a segment cannot define is NaN there rather than a misleading number:
ROC-AUC and PR-AUC need every class among the segment's actual values, a binary
recall needs a positive row, a binary precision needs a predicted positive, R²
needs two different actual values. (On the whole holdout scikit-learn's
``zero_division=0`` convention applies, so the model has one number to beat.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shipyard.errors import DataError
from shipyard.metrics import ANOMALY, BINARY, REGRESSION, Prediction, for_task

MAX_SEGMENTS = 30  # the largest segments get a row each; the rest share one
MISSING = "(missing)"


def _defined(name: str, p: Prediction) -> bool:
    y = np.asarray(p.y_true)
    if p.task == REGRESSION:
        return name != "r2" or bool(np.ptp(y.astype(float)) > 0)
    if name in ("roc_auc", "pr_auc"):
        return bool(np.isin(np.asarray(p.classes, dtype=object), y.astype(object)).all())
    if p.task in (BINARY, ANOMALY):
        has_positive = bool((y == p.positive_class).any())
        flagged = bool((np.asarray(p.y_pred) == p.positive_class).any())
        return {"recall": has_positive, "precision": flagged,
                "f1": has_positive or flagged}.get(name, True)
    return True


def _subset(p: Prediction, rows: np.ndarray) -> Prediction:
    proba = None if p.proba is None else p.proba[rows]
    score = None if p.score is None else p.score[rows]
    return Prediction(p.task, p.y_true[rows], p.y_pred[rows], proba, p.classes, p.positive,
                      score)


def score(p: Prediction) -> dict[str, float]:
    """Every metric of the task that ``p``'s rows define; NaN for the others."""
    return {m.name: m.compute(p) if _defined(m.name, p) else float("nan")
            for m in for_task(p.task)}


def _groups(values: pd.Series) -> list[tuple[object, np.ndarray]]:
    """(segment value, row positions), largest first, ties by value so that the
    order does not depend on the data's row order."""
    filled = values.astype(object).where(values.notna(), MISSING)
    positions = pd.Series(np.arange(len(filled))).groupby(filled.to_numpy(), sort=False)
    groups = [(key, rows.to_numpy()) for key, rows in positions]
    groups.sort(key=lambda kv: (-len(kv[1]), str(kv[0])))
    if len(groups) <= MAX_SEGMENTS:
        return groups
    rest = np.sort(np.concatenate([rows for _, rows in groups[MAX_SEGMENTS - 1:]]))
    other = f"(other {len(groups) - MAX_SEGMENTS + 1:,} values)"
    return [*groups[:MAX_SEGMENTS - 1], (other, rest)]


def by_segment(p: Prediction, segments) -> pd.DataFrame:
    """One row per segment: its value (the column is named after ``segments``
    when it is a named Series), its row count and every metric of the task."""
    if not isinstance(segments, pd.Series):
        array = np.asarray(segments)
        if array.ndim != 1:
            raise DataError(f"The segment values must be one column; got an array of shape "
                            f"{array.shape}.", hint="pass the values of a single column")
        segments = pd.Series(array)
    if len(segments) != len(p.y_true):
        raise DataError(f"The segment values have {len(segments):,} entries but the holdout has "
                        f"{len(p.y_true):,} rows.",
                        hint="pass one segment value per holdout row, in the holdout's order")
    name = "segment" if segments.name is None else str(segments.name)
    if name == "rows" or name in {m.name for m in for_task(p.task)}:
        name = f"segment ({name})"  # a column named like a metric would be overwritten
    rows = [{name: key, "rows": len(positions), **score(_subset(p, positions))}
            for key, positions in _groups(segments.reset_index(drop=True))]
    return pd.DataFrame(rows)
