"""Data drift: how far a window of live inputs has moved from the reference.

The defaults are the field's (``spec.monitoring.Drift``; Evidently's among them).
A window of fewer than ``small_window`` rows is judged by statistical tests:
two-sample Kolmogorov-Smirnov for numbers and chi-square for categories (text
and booleans), drifted at p < ``p_value``. A larger window is judged by
distances, because on many rows every test rejects a difference too small to
matter: the Wasserstein distance divided by the reference's standard deviation
for numbers, and the Jensen-Shannon distance for categories, drifted at >=
``distance``. The Jensen-Shannon distance uses the natural logarithm, as
SciPy's and Evidently's default, so it lies in [0, sqrt(ln 2) ~ 0.83] and a
threshold means the same here as there (in base 2 the same distance reads
1.2 times larger). Date-time columns are not compared.

PSI is reported for every feature: over ``bins`` bins cut at the reference's
quantiles for numbers, over the categories for text, with empty bins given a
share of ``EPSILON`` so that the logarithm stays finite.

Missing values (None, NaN, non-finite numbers and the empty text that marks
missing text) take no part: ``quality.check`` reports them. A feature without
values on either side is reported with no statistic, is not counted as drifted
and is left out of the drifted share. The data set's verdict follows
``settings.rule`` (see ``spec.monitoring``): by default the features are weighed
by the champion's importance (``weights``), a small window drifts by a weighted
Bonferroni test at ``dataset_p_value`` and a large one when the drifted features
carry ``weighted_share`` of the weight; ``share``: when at least ``share`` of the
compared features drift; ``any``: when any one does at the Bonferroni-corrected
``p_value / features``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

from shipyard.schema import Schema
from shipyard.spec.monitoring import Drift

NUMERIC, CATEGORICAL = "numeric", "categorical"
KINDS = {"number": NUMERIC, "integer": NUMERIC, "string": CATEGORICAL, "boolean": CATEGORICAL}
EPSILON = 1e-4  # PSI: the share an empty bin counts as
MIN_EXPECTED = 5  # chi-square: Cochran's rule for the smallest expected count of a cell
PREDICTION = "prediction"  # the feature name prediction drift is reported under
_TRUE = {"true", "1", "1.0", "yes"}
_FALSE = {"false", "0", "0.0", "no"}


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str  # NUMERIC or CATEGORICAL
    method: str  # "ks", "chi2", "wasserstein" or "jensenshannon"
    statistic: float  # the p-value of a test, or a distance; NaN without values
    threshold: float
    drifted: bool
    psi: float
    psi_band: str | None  # "stable", "moderate", "major"; None without values
    values: int  # the window's non-missing values of the feature

    def to_dict(self) -> dict:
        # None for NaN (no values) and infinity (a constant reference that moved): JSON has neither
        return {"feature": self.feature, "kind": self.kind, "method": self.method,
                "statistic": _finite(self.statistic), "threshold": self.threshold,
                "drifted": self.drifted, "psi": _finite(self.psi), "psi_band": self.psi_band,
                "values": self.values}


@dataclass(frozen=True)
class DriftResult:
    rows: int
    reference_rows: int
    method: str  # "test" (small window) or "distance"
    features: list[FeatureDrift]
    share: float  # drifted share of the features that could be compared
    dataset_drift: bool
    rule: str = "share"
    weighted: float = 0.0  # the weight the drifted features carry (rule weighted)
    weights: dict[str, float] | None = None  # each compared feature's weight (rule weighted)

    @property
    def drifted(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    def to_dict(self) -> dict:
        return {"rows": self.rows, "reference_rows": self.reference_rows, "method": self.method,
                "features": [f.to_dict() for f in self.features], "share": self.share,
                "dataset_drift": self.dataset_drift, "drifted": self.drifted,
                "rule": self.rule, "weighted": self.weighted, "weights": self.weights}


def compare(reference: pd.DataFrame, current: pd.DataFrame, schema: Schema,
            settings: Drift | None = None,
            importance: dict[str, float] | None = None) -> DriftResult:
    """Each schema column of ``current`` against the same column of ``reference``;
    ``importance`` (feature -> the model's permutation importance) weighs the
    features for ``rule: weighted``."""
    settings = settings or Drift()
    rule = settings.rule
    test = len(current) < settings.small_window
    if settings.rule == "any":
        compared = sum(c.kind in KINDS for c in schema.columns)
        settings = settings.model_copy(update={"p_value": settings.p_value / max(compared, 1)})
    features = []
    for column in schema.columns:
        kind = KINDS.get(column.kind)
        if kind is None:  # date-times: the time moves on by design
            continue
        ref, cur = column_of(reference, column.name), column_of(current, column.name)
        if kind == NUMERIC:
            features.append(numeric_drift(column.name, numbers(ref, sort=True),
                                          numbers(cur, sort=True), test, settings, presorted=True))
        else:
            boolean = column.kind == "boolean"
            features.append(categorical_drift(column.name, category_counts(ref, boolean),
                                              category_counts(cur, boolean), test, settings))
    compared = [f for f in features if f.psi_band is not None]
    share = sum(f.drifted for f in compared) / len(compared) if compared else 0.0
    weights, weighted = None, 0.0
    if rule == "weighted":
        weights = feature_weights([f.feature for f in compared], importance)
        weighted = sum(weights[f.feature] for f in compared if f.drifted)
        if test:  # weighted Bonferroni: the family's false-alarm rate is dataset_p_value
            drifted = any(f.statistic < settings.dataset_p_value * weights[f.feature]
                          for f in compared)
        else:
            drifted = weighted >= settings.weighted_share - 1e-12
    elif rule == "any":
        drifted = any(f.drifted for f in compared)
    else:
        drifted = share >= settings.share
    return DriftResult(len(current), len(reference), "test" if test else "distance", features,
                       share, bool(compared) and drifted, rule, weighted, weights)


def feature_weights(features: list[str], importance: dict[str, float] | None
                    ) -> dict[str, float]:
    """Each feature's weight, summing to 1: half from its share of the (positive)
    importance, half shared equally; equal weights without importances."""
    if not features:
        return {}
    even = 1.0 / len(features)
    gains = {f: max(float((importance or {}).get(f, 0.0)), 0.0) for f in features}
    gains = {f: g if math.isfinite(g) else 0.0 for f, g in gains.items()}
    total = sum(gains.values())
    if total <= 0:
        return dict.fromkeys(features, even)
    return {f: 0.5 * gains[f] / total + 0.5 * even for f in features}


def prediction_drift(ref_values, cur_values, categorical: bool,
                     settings: Drift | None = None) -> FeatureDrift:
    """Drift of the model's outputs: numeric scores or values, or classes (and flags)."""
    settings = settings or Drift()
    ref, cur = pd.Series(np.asarray(ref_values)), pd.Series(np.asarray(cur_values))
    test = len(cur) < settings.small_window
    if categorical:
        return categorical_drift(PREDICTION, category_counts(ref), category_counts(cur), test,
                                 settings)
    return numeric_drift(PREDICTION, numbers(ref), numbers(cur), test, settings)


def column_of(frame: pd.DataFrame, name: str) -> pd.Series:
    """``frame[name]``; a column the log never saw is a column of missing values."""
    return frame[name] if name in frame.columns else pd.Series([None] * len(frame), dtype=object)


def numbers(series: pd.Series, sort: bool = False) -> np.ndarray:
    """The finite numbers of a column (a new array, sorted if asked); anything else is
    missing."""
    if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(
            series.dtype):
        series = pd.to_numeric(series, errors="coerce")
    values = series.to_numpy(dtype=float, na_value=np.nan)
    values = values[np.isfinite(values)]  # a copy: sorting it in place touches no caller's data
    if sort:
        values.sort()
    return values


def category_counts(series: pd.Series, boolean: bool = False) -> pd.Series:
    """How often each category occurs, missing values (and empty text) left out.

    Labels are text so that the reference (Parquet) and the log (JSON) agree: a
    boolean is "true"/"false" however it was written (True, 1, "true"), and a
    whole float is written as an integer (1.0 -> "1")."""
    counts = series.value_counts(dropna=True)  # counted on the raw values: few distinct ones
    labels = [_label(v, boolean) for v in counts.index]
    counts = pd.Series(counts.to_numpy(), index=labels, dtype="int64")
    return counts[counts.index != ""].groupby(level=0, sort=True).sum()


def _label(value, boolean: bool) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, float, np.number)):
        if not math.isfinite(value):
            return ""
        value = int(value) if float(value).is_integer() else float(value)
    text = str(value)
    if boolean:
        lowered = text.strip().lower()
        return "true" if lowered in _TRUE else "false" if lowered in _FALSE else text
    return text


def numeric_drift(name: str, ref: np.ndarray, cur: np.ndarray, test: bool,
                  settings: Drift, presorted: bool = False) -> FeatureDrift:
    """``ref`` and ``cur`` are finite numbers (as ``numbers`` gives them), ``presorted``
    when they are sorted already: the distance and the PSI bins need them sorted."""
    method = "ks" if test else "wasserstein"
    if len(ref) == 0 or len(cur) == 0:
        return _without_values(name, NUMERIC, method, settings, test, len(cur))
    if not presorted:
        ref, cur = np.sort(ref), np.sort(cur)
    if test:
        statistic = float(stats.ks_2samp(ref, cur).pvalue)
    else:
        statistic = _normalised_wasserstein(ref, cur)
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, settings.bins + 1)[1:-1]))
    psi = _psi(_bin_counts(ref, edges), _bin_counts(cur, edges))
    return _result(name, NUMERIC, method, statistic, psi, settings, test, len(cur))


def categorical_drift(name: str, ref: pd.Series, cur: pd.Series, test: bool,
                      settings: Drift) -> FeatureDrift:
    """``ref`` and ``cur`` count each category (as ``category_counts`` does)."""
    method = "chi2" if test else "jensenshannon"
    if ref.sum() == 0 or cur.sum() == 0:
        return _without_values(name, CATEGORICAL, method, settings, test, int(cur.sum()))
    categories = ref.index.union(cur.index)
    r = ref.reindex(categories, fill_value=0).to_numpy(dtype=float)
    c = cur.reindex(categories, fill_value=0).to_numpy(dtype=float)
    if test:
        statistic = _chi2_pvalue(r, c)
    else:
        statistic = float(jensenshannon(r / r.sum(), c / c.sum()))
        statistic = 0.0 if math.isnan(statistic) else statistic  # rounding below 0 in the sqrt
    return _result(name, CATEGORICAL, method, statistic, _psi(r, c), settings, test, int(c.sum()))


def _result(name, kind, method, statistic, psi, settings: Drift, test: bool,
            values: int) -> FeatureDrift:
    if test:
        threshold, drifted = settings.p_value, statistic < settings.p_value
    else:
        threshold, drifted = settings.distance, statistic >= settings.distance
    band = ("stable" if psi < settings.psi_moderate else
            "moderate" if psi < settings.psi_major else "major")
    return FeatureDrift(name, kind, method, statistic, threshold, bool(drifted), psi, band,
                        values)


def _without_values(name, kind, method, settings: Drift, test: bool, values: int
                    ) -> FeatureDrift:
    threshold = settings.p_value if test else settings.distance
    return FeatureDrift(name, kind, method, math.nan, threshold, False, math.nan, None, values)


def _normalised_wasserstein(ref: np.ndarray, cur: np.ndarray) -> float:
    """W1 of the two samples (both sorted) over the reference's standard deviation."""
    distance = _wasserstein(ref, cur)
    scale = float(np.std(ref))
    if scale == 0:  # a constant reference: any movement at all is drift
        return 0.0 if distance == 0 else math.inf
    return distance / scale


def _wasserstein(r: np.ndarray, c: np.ndarray) -> float:
    """W1 of two sorted samples, exactly, in a few passes over the larger one.

    SciPy's ``wasserstein_distance`` argsorts both samples and their concatenation
    on every call (0.4 s for a million rows). Here W1 is the area between the two
    quantile functions, the integral over t in (0, 1) of |Q_c(t) - Q_r(t)|, with
    Q_c(t) = c[j] for t in (j/m, (j+1)/m] and Q_r(t) = r[i] for t in (i/n, (i+1)/n].
    The main term takes Q_r at the start of each of the window's m steps; a step
    of the reference that falls inside one of them (at most n - 1 of those) is then
    corrected for. Levels are counted in units of 1/(n m) so that the comparisons
    are exact integers. Ties need no care: the quantile functions are the same."""
    n, m = len(r), len(c)
    i = np.arange(n + 1, dtype=np.int64)
    first = -((-i * m) // n)  # the first of the window's steps at or after level i/n
    gaps = np.repeat(r, np.diff(first))  # Q_r at the start of each of the window's steps
    np.subtract(c, gaps, out=gaps)
    main = float(np.abs(gaps, out=gaps).sum()) * n
    at = i[1:-1] * m  # the reference's inner levels
    inside = at % n != 0  # strictly inside one of the window's steps
    i, at = i[1:-1][inside], at[inside]
    j = at // n
    width = np.minimum(at + m, (j + 1) * n) - at  # until the next step of either
    correction = float(((np.abs(c[j] - r[i]) - np.abs(c[j] - r[(j * n) // m])) * width).sum())
    return (main + correction) / (n * m)


def _bin_counts(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    # Bins closed on the right, (e[i-1], e[i]]: a value equal to an edge falls in the
    # lower bin, so a heavy point mass (capital gain: mostly 0) keeps a bin of its own
    # instead of sharing one with everything above it.
    below = np.searchsorted(sorted_values, edges, side="right")
    return np.diff(np.concatenate([[0], below, [len(sorted_values)]])).astype(float)


def _psi(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    r = np.maximum(ref_counts / ref_counts.sum(), EPSILON)
    c = np.maximum(cur_counts / cur_counts.sum(), EPSILON)
    return float(np.sum((c - r) * np.log(c / r)))


def _chi2_pvalue(ref: np.ndarray, cur: np.ndarray) -> float:
    """Chi-square test that the window and the reference share one distribution.

    A two-sample test of homogeneity (the 2 x k table of counts), not a goodness of
    fit against the reference's shares: the reference is a sample as well. Categories
    the window would expect fewer than MIN_EXPECTED rows of, by the reference's
    shares, are pooled into one cell; that includes every category the reference
    never saw (expected 0). Pooling keeps the chi-square approximation honest
    (sparse cells inflate the statistic) and it is why an unseen category can never
    divide by zero: every column of the table has a positive total, and a new
    category still counts, as an excess in the pooled cell."""
    expected = ref / ref.sum() * cur.sum()
    rare = expected < MIN_EXPECTED
    if rare.any():
        ref = np.append(ref[~rare], ref[rare].sum())
        cur = np.append(cur[~rare], cur[rare].sum())
    if len(ref) < 2:  # one category on both sides: nothing can have moved
        return 1.0
    return float(stats.chi2_contingency(np.vstack([ref, cur]), correction=False).pvalue)
