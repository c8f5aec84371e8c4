"""Statistics of one column and of the target."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shipyard.errors import DataError
from shipyard.metrics import REGRESSION
from shipyard.schema import NUMERIC_KINDS, kind_of

TOP_VALUES = 5
MAX_BINS = 40


@dataclass(frozen=True)
class ColumnProfile:
    """One column. Numeric summaries are None for non-numeric columns (and for
    numeric ones without any value); ``top`` lists the most frequent text values."""

    name: str
    kind: str  # a schema kind, or "datetime" / "other" for what cannot be a feature as is
    missing_share: float
    distinct: int  # distinct non-missing values
    top_share: float = 0.0  # share of rows holding the most frequent value
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    p25: float | None = None
    median: float | None = None
    p75: float | None = None
    max: float | None = None
    top: tuple[tuple[str, int], ...] = ()

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
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    p25: float | None = None
    median: float | None = None
    p75: float | None = None
    max: float | None = None
    bin_edges: tuple[float, ...] = ()
    bin_counts: tuple[int, ...] = ()
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


def _as_floats(series: pd.Series) -> np.ndarray:
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    # infinities would turn every summary into inf or NaN; they count as missing here
    return values[np.isfinite(values)]


def summary(values: np.ndarray) -> dict[str, float | None]:
    """mean, std (sample), min, quartiles and max of finite floats; {} when empty."""
    if values.size == 0:
        return {}
    q = np.percentile(values, [0, 25, 50, 75, 100])
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return {"mean": float(values.mean()), "std": std, "min": float(q[0]), "p25": float(q[1]),
            "median": float(q[2]), "p75": float(q[3]), "max": float(q[4])}


def factorized(series: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Each row's value code (-1 when missing) and the distinct values.

    The codes serve both the column's counts and the search for duplicate rows,
    so each column is hashed once.
    """
    try:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    except TypeError:  # unhashable cells (lists, dicts): use their text form
        codes, uniques = pd.factorize(series.map(repr).where(series.notna()))
    # uniques stay as they are: turning 200k timestamps into objects costs more than the rest
    return np.asarray(codes, dtype=np.int64), uniques


def column_profile(series: pd.Series, name: str, codes: np.ndarray,
                   uniques: pd.Index) -> ColumnProfile:
    """``series``'s statistics, given its :func:`factorized` codes and values."""
    n = len(series)
    kind = column_kind(series)
    present = codes[codes >= 0]
    counts = np.bincount(present, minlength=len(uniques))
    stats: dict[str, Any] = {}
    if kind in NUMERIC_KINDS:
        stats = summary(_as_floats(series))
    elif kind == "string":
        order = np.argsort(-counts, kind="stable")[:TOP_VALUES]
        stats["top"] = tuple((str(uniques[i]), int(counts[i])) for i in order)
    return ColumnProfile(
        name=name, kind=kind, missing_share=(n - present.size) / n if n else 0.0,
        distinct=len(uniques), top_share=int(counts.max()) / n if len(counts) else 0.0,
        **stats,
    )


def _histogram(values: np.ndarray) -> tuple[tuple[float, ...], tuple[int, ...]]:
    if values.size == 0:
        return (), ()
    edges = np.histogram_bin_edges(values, bins="auto")
    if len(edges) - 1 > MAX_BINS:
        edges = np.histogram_bin_edges(values, bins=MAX_BINS)
    counts, edges = np.histogram(values, bins=edges)
    return tuple(float(e) for e in edges), tuple(int(c) for c in counts)


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
        values = _as_floats(series)
        edges, counts = _histogram(values)
        return TargetProfile(name=name, task=task, missing=missing, bin_edges=edges,
                             bin_counts=counts, **summary(values))
    counts = series.value_counts(dropna=True)
    counts = counts[counts > 0]
    by_class = {_plain(k): int(v) for k, v in counts.items()}
    if not by_class:
        return TargetProfile(name=name, task=task, missing=missing)
    total = sum(by_class.values())
    smallest, largest = min(by_class.values()), max(by_class.values())
    return TargetProfile(name=name, task=task, missing=missing, counts=by_class,
                         minority_share=smallest / total, imbalance_ratio=largest / smallest)
