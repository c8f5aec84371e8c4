"""Rows unlike the rest: the multivariate outlier share from an isolation forest.

The per-column share (the IQR rule) is a column statistic, see
:func:`shipyard.profile.stats.outlier_share`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest

from shipyard.profile.findings import MULTIVARIATE_OUTLIERS, Finding
from shipyard.profile.stats import as_floats

MIN_ROWS = 50  # fewer rows than this give no stable notion of "the rest"
# With one or two columns the IQR rule and a glance at the histograms say it better,
# and the forest's scores there flag a skewed distribution's tail as outlying.
MIN_COLUMNS = 3
TREES = 100
# An isolation forest's own threshold (contamination="auto") flags 15-25% of clean
# Gaussian rows in two to five dimensions. Instead a row is an outlier when its
# anomaly score is very far out (4 IQR above the upper quartile) among all rows'
# scores: under 1% of rows on clean data of three or more columns, Gaussian,
# skewed, discrete or mixed; close to the true share when a few percent of rows
# are injected far from the rest. A cluster shifted in one column only is left
# to the per-column rule.
SCORE_FENCE = 4.0
MULTIVARIATE_SHARE = 0.01  # a finding above this share of rows


def multivariate_outlier_share(frame: pd.DataFrame, names: list[str], rows: np.ndarray,
                               *, seed: int = 0) -> float | None:
    """Share of ``rows`` (positions) that an isolation forest on the numeric
    columns ``names`` (missing values set to the column's median) finds far
    out; None with fewer than :data:`MIN_COLUMNS` columns or :data:`MIN_ROWS` rows."""
    if len(names) < MIN_COLUMNS or len(rows) < MIN_ROWS:
        return None
    values = np.column_stack([as_floats(frame[name])[rows] for name in names])
    present = ~np.isnan(values)
    # medians of present values; an all-missing column is 0 everywhere, which isolates nothing
    medians = np.array([np.median(col[ok]) if ok.any() else 0.0
                        for col, ok in zip(values.T, present.T, strict=True)])
    values = np.where(present, values, medians)
    forest = IsolationForest(n_estimators=TREES, random_state=seed).fit(values)
    anomaly = -forest.score_samples(values)
    q1, q3 = np.percentile(anomaly, [25, 75])
    return float(np.mean(anomaly > q3 + SCORE_FENCE * (q3 - q1)))


def multivariate_findings(share: float | None, n_columns: int) -> list[Finding]:
    if share is None or share <= MULTIVARIATE_SHARE:
        return []
    return [Finding(
        MULTIVARIATE_OUTLIERS, "warning", None,
        f"{share:.1%} of rows are far out in the joint distribution of {n_columns} numeric "
        "columns (isolation forest): look for sensor faults, unit mix-ups or a distinct "
        "population before training.", share)]
