"""Statistics of one column and of the target."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shipyard.errors import DataError
from shipyard.metrics import REGRESSION
from shipyard.schema import NUMERIC_KINDS, kind_of

TOP_VALUES = 8  # enough for a bar chart; the columns table shows fewer
MAX_BINS = 40
IQR_FENCE = 1.5  # Tukey's fences: beyond 1.5 IQR outside the quartiles
EPOCH = pd.Timestamp("1970-01-01")


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation, minimum, quartiles and maximum of a
    column's finite values."""

    mean: float
    std: float
    min: float
    p25: float
    median: float
    p75: float
    max: float

    @property
    def iqr(self) -> float:
        return self.p75 - self.p25

    def fences(self, k: float = IQR_FENCE) -> tuple[float, float]:
        """The values beyond which a value is an outlier by the IQR rule."""
        return self.p25 - k * self.iqr, self.p75 + k * self.iqr

    @classmethod
    def of(cls, values: np.ndarray) -> Summary | None:
        """The summary of finite floats; None when there are none."""
        if values.size == 0:
            return None
        q = np.percentile(values, [0, 25, 50, 75, 100])
        std = float(values.std(ddof=1)) if values.size > 1 else 0.0
        return cls(mean=float(values.mean()), std=std, min=float(q[0]), p25=float(q[1]),
                   median=float(q[2]), p75=float(q[3]), max=float(q[4]))


@dataclass(frozen=True)
class Histogram:
    """Row counts between bin edges (``len(edges) == len(counts) + 1``)."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]


@dataclass(frozen=True)
class ColumnProfile:
    """One column. ``summary`` is None for non-numeric columns (and for numeric
    ones without any value); ``top`` lists the most frequent values of text and
    boolean columns. ``histogram`` is over the values of numeric columns, and
    over days since 1970-01-01 for dates and times."""

    name: str
    kind: str  # a schema kind, or "datetime" / "other" for what cannot be a feature as is
    missing_share: float
    distinct: int  # distinct non-missing values
    top_share: float = 0.0  # share of rows holding the most frequent value
    summary: Summary | None = None
    # share of present values outside the IQR fences; None when the rule does not
    # apply (booleans, or quartiles that coincide, where every other value would count)
    outlier_share: float | None = None
    top: tuple[tuple[str, int], ...] = ()
    histogram: Histogram | None = None

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC_KINDS


@dataclass(frozen=True)
class TargetProfile:
    """The target. Regression fills the summary and the histogram; classification
    fills ``counts`` (class -> rows, most frequent first) and the imbalance."""

    name: str
    task: str
    missing: int  # rows without a target
    summary: Summary | None = None
    histogram: Histogram | None = None
    counts: dict[Any, int] = field(default_factory=dict)
    minority_share: float | None = None
    imbalance_ratio: float | None = None  # majority rows / minority rows

    @property
    def n_classes(self) -> int:
        return len(self.counts)


def column_kind(series: pd.Series) -> str:
    kind = kind_of(series)
    if kind is not None:
        return kind
    if pd.api.types.is_datetime64_any_dtype(series.dtype) or isinstance(
            series.dtype, pd.PeriodDtype):
        return "datetime"
    return "other"


def as_floats(series: pd.Series) -> np.ndarray:
    """The column as float64, NaN where missing or infinite (infinities would
    turn every summary into inf or NaN, so they count as missing here)."""
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    return np.where(np.isfinite(values), values, np.nan)


def _days(series: pd.Series) -> np.ndarray:
    """Dates and times as days since 1970-01-01 (matplotlib's date numbers), NaN
    when missing; computed through timedeltas so any resolution or zone works."""
    if isinstance(series.dtype, pd.PeriodDtype):
        series = series.dt.to_timestamp()
    epoch = EPOCH.tz_localize(series.dt.tz) if series.dt.tz is not None else EPOCH
    return ((series - epoch) / pd.Timedelta(days=1)).to_numpy(dtype="float64", na_value=np.nan)


def factorized(series: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Each row's value code (-1 when missing) and the distinct values.

    The codes serve the column's counts, the search for duplicate rows and the
    one-column models of the leakage check, so each column is hashed once.
    """
    try:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    except TypeError:  # unhashable cells (lists, dicts): use their text form
        codes, uniques = pd.factorize(series.map(repr).where(series.notna()))
    # uniques stay as they are: turning 200k timestamps into objects costs more than the rest
    return np.asarray(codes, dtype=np.int64), uniques


def histogram(values: np.ndarray, *, integer: bool = False) -> Histogram | None:
    """Counts of finite ``values``: one bin per integer when integers span few
    values (automatic bins would split them unevenly), else automatic bins."""
    if values.size == 0:
        return None
    low, high = float(values.min()), float(values.max())
    if integer and high - low < MAX_BINS:
        edges = np.arange(low - 0.5, high + 1.0)
    else:
        edges = np.histogram_bin_edges(values, bins="auto")
        if len(edges) - 1 > MAX_BINS:
            edges = np.histogram_bin_edges(values, bins=MAX_BINS)
    counts, edges = np.histogram(values, bins=edges)
    return Histogram(tuple(float(e) for e in edges), tuple(int(c) for c in counts))


def outlier_share(values: np.ndarray, summary: Summary | None) -> float | None:
    """Share of ``values`` outside the IQR fences of their ``summary``."""
    if summary is None or summary.iqr == 0:
        return None
    low, high = summary.fences()
    return float(np.count_nonzero((values < low) | (values > high)) / values.size)


def column_profile(series: pd.Series, name: str, codes: np.ndarray,
                   uniques: pd.Index) -> ColumnProfile:
    """``series``'s statistics, given its :func:`factorized` codes and values."""
    n = len(series)
    kind = column_kind(series)
    present = codes[codes >= 0]
    counts = np.bincount(present, minlength=len(uniques))
    stats: dict[str, Any] = {}
    if kind in NUMERIC_KINDS:
        values = as_floats(series)
        values = values[~np.isnan(values)]
        stats["summary"] = Summary.of(values)
        if kind != "boolean":
            stats["outlier_share"] = outlier_share(values, stats["summary"])
            stats["histogram"] = histogram(values, integer=kind == "integer")
    elif kind == "datetime":
        days = _days(series)
        stats["histogram"] = histogram(days[~np.isnan(days)])
    if kind in ("string", "boolean", "other"):
        order = np.argsort(-counts, kind="stable")[:TOP_VALUES]
        stats["top"] = tuple((str(uniques[i]), int(counts[i])) for i in order)
    return ColumnProfile(
        name=name, kind=kind, missing_share=(n - present.size) / n if n else 0.0,
        distinct=len(uniques), top_share=int(counts.max()) / n if len(counts) else 0.0,
        **stats,
    )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def target_profile(series: pd.Series, name: str, task: str) -> TargetProfile:
    missing = int(series.isna().sum())
    if task == REGRESSION:
        if column_kind(series) not in NUMERIC_KINDS:
            raise DataError(
                f"The target '{name}' must be numeric for a regression; it holds "
                f"{series.dtype} values.",
                hint="convert it in the SQL query, or choose a classification task",
            )
        values = as_floats(series)
        values = values[~np.isnan(values)]
        return TargetProfile(name=name, task=task, missing=missing,
                             summary=Summary.of(values), histogram=histogram(values))
    counts = series.value_counts(dropna=True)
    counts = counts[counts > 0]
    by_class = {_plain(k): int(v) for k, v in counts.items()}
    if not by_class:
        return TargetProfile(name=name, task=task, missing=missing)
    total = sum(by_class.values())
    smallest, largest = min(by_class.values()), max(by_class.values())
    return TargetProfile(name=name, task=task, missing=missing, counts=by_class,
                         minority_share=smallest / total, imbalance_ratio=largest / smallest)
