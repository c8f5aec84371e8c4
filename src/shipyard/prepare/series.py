"""Window features over each entity's history, as a scikit-learn transformer.

Rows of one entity (an engine, a customer) are ordered by time; each row gets
statistics of its own and its entity's earlier rows only, so a model never sees
the future. Rows come back in the order given (a pipeline keeps ``X`` aligned
with ``y``), without the entity and time columns, which place a row but say
nothing by themselves.

At prediction time the caller sends each entity's recent history (at least the
longest window, and the whole history when ``elapsed`` is on, since it counts
the rows it is given) and reads the prediction of each entity's last row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api.indexers import BaseIndexer
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from shipyard.errors import DataError

STATS = ("mean", "std", "min", "max", "slope")
SMOOTHERS = ("median", "ewm")
ELAPSED = "elapsed_rows"


class SeriesFeatures(TransformerMixin, BaseEstimator):
    """Causal per-entity features: smoothing, rolling statistics, lags, elapsed rows.

    For each series column (default: every float64 column but the entity, time
    and regime columns), in this order: standardise within the operating regime
    (``regime``: per-regime mean and std learnt by ``fit``; unseen regimes use the
    overall ones), smooth (``smooth``: ``method`` "median" over ``window`` rows or
    "ewm" with span ``window``, for ``columns`` or all), then add rolling
    ``stats`` over each of ``windows`` rows (``{col}_{stat}_{w}``; ``slope`` is
    the least-squares slope per row), ``lags`` (``{col}_lag_{n}``, NaN before
    the entity has n earlier rows) and ``elapsed_rows`` (rows since the entity's
    first row in the frame). Windows hold the rows that exist so far, so early rows
    get values too (one value has std and slope 0); missing values are skipped.
    ``keep_raw`` keeps each series column (standardised with ``regime``), smoothed
    ones also give ``{col}_smooth``; other columns pass through unchanged.
    """

    def __init__(self, entity, time, columns=None, smooth=None, windows=(5, 10, 20),
                 stats=("mean", "std", "slope"), lags=(), elapsed=True, regime=None,
                 keep_raw=True):
        self.entity = entity
        self.time = time
        self.columns = columns
        self.smooth = smooth
        self.windows = windows
        self.stats = stats
        self.lags = lags
        self.elapsed = elapsed
        self.regime = regime
        self.keep_raw = keep_raw

    def fit(self, X, y=None):
        frame = _frame(X)
        method, _, smoothed = self._settings()
        roles = [self.entity, self.time] + ([self.regime] if self.regime else [])
        _require(frame, roles, "the data")
        series = _series_columns(frame, self.columns, roles)
        if smoothed is not None and (extra := [c for c in smoothed if c not in series]):
            raise DataError(f"prepare.series.smooth.columns: {', '.join(map(repr, extra))} "
                            "are not series columns", details=[f"series: {series}"])
        self.series_ = series
        self.smoothed_ = [] if method is None else (series if smoothed is None else smoothed)
        self.passthrough_ = [c for c in frame.columns if c not in series and c not in
                             (self.entity, self.time)]
        # The input's own order, for the columns that go out as they came in.
        self.kept_ = [c for c in frame.columns if c in self.passthrough_ or
                      (self.keep_raw and c in series)]
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.n_features_in_ = frame.shape[1]
        if self.regime:
            values = _numbers(frame, series)
            groups = values.groupby(frame[self.regime].to_numpy(), dropna=True)
            self.regime_mean_, self.global_mean_ = groups.mean(), values.mean()
            # A column constant within a regime is only centred, not divided by zero.
            self.regime_std_ = groups.std(ddof=0).where(lambda s: s > 0, 1.0)
            self.global_std_ = values.std(ddof=0).where(lambda s: s > 0, 1.0)
        self.feature_names_out_ = self._names()
        return self

    def transform(self, X):
        check_is_fitted(self, "feature_names_out_")
        frame = _frame(X)
        _require(frame, [self.entity, self.time, *self.series_, *self.passthrough_], "the data")
        order, first = _order(frame, self.entity, self.time)
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        values = _numbers(frame, self.series_)
        if self.regime:
            values = self._standardise(values, frame[self.regime])
        values = values.iloc[order].reset_index(drop=True)  # sorted by entity, then time
        out = {c: frame[c] for c in self.passthrough_}
        features = self._features(values, first)
        out.update({name: column[inverse] for name, column in features.items()})
        return pd.DataFrame({name: out[name] for name in self.feature_names_out_},
                            index=frame.index)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "feature_names_out_")
        return np.asarray(self.feature_names_out_, dtype=object)

    def _features(self, values: pd.DataFrame, first: np.ndarray) -> dict[str, np.ndarray]:
        method, span, _ = self._settings()
        out = {c: values[c].to_numpy() for c in self.series_} if self.keep_raw else {}
        if self.smoothed_:
            smooth = _smoothed(values[self.smoothed_], first, method, span)
            values = values.copy()
            values[self.smoothed_] = smooth
            out.update({f"{c}_smooth": smooth[c].to_numpy() for c in self.smoothed_})
        position = np.arange(len(values)) - first
        for w in self.windows:
            rolling = values.rolling(_Trailing(window_size=w, first=first), min_periods=1)
            for stat in self.stats:
                result = (_slope(values, rolling.sum(), position, first, w) if stat == "slope"
                          else rolling.std(ddof=0) if stat == "std" else getattr(rolling, stat)())
                out.update({f"{c}_{stat}_{w}": result[c].to_numpy() for c in values.columns})
        for n in self.lags:
            earlier = np.arange(len(values)) - n
            has = earlier >= first
            lagged = np.where(has[:, None], values.to_numpy()[np.where(has, earlier, 0)], np.nan)
            out.update({f"{c}_lag_{n}": lagged[:, i] for i, c in enumerate(values.columns)})
        if self.elapsed:
            out[ELAPSED] = position.astype("float64")
        return out

    def _standardise(self, values: pd.DataFrame, regime: pd.Series) -> pd.DataFrame:
        keys = regime.to_numpy()
        # Rows of a regime never seen in training (or without one) get the overall stats.
        mean = self.regime_mean_.reindex(keys).fillna(self.global_mean_)
        std = self.regime_std_.reindex(keys).fillna(self.global_std_)
        return pd.DataFrame((values.to_numpy() - mean.to_numpy()) / std.to_numpy(),
                            columns=values.columns, index=values.index)

    def _names(self) -> list[str]:
        names = self.kept_ + [f"{c}_smooth" for c in self.smoothed_]
        names += [f"{c}_{s}_{w}" for w in self.windows for s in self.stats for c in self.series_]
        names += [f"{c}_lag_{n}" for n in self.lags for c in self.series_]
        return names + ([ELAPSED] if self.elapsed else [])

    def _settings(self) -> tuple[str | None, int, list[str] | None]:
        """Check the parameters; return the smoothing's method, window and columns."""
        if bad := [s for s in self.stats if s not in STATS]:
            raise ValueError(f"The 'stats' parameter of SeriesFeatures must be a list of "
                             f"{', '.join(STATS)}. Got {bad!r} instead.")
        for key in ("windows", "lags"):
            values = list(getattr(self, key))
            if any(not isinstance(v, int | np.integer) or v < 1 for v in values):
                raise ValueError(f"The '{key}' parameter of SeriesFeatures must be a list of "
                                 f"whole numbers >= 1. Got {values!r} instead.")
        if self.smooth is None:
            return None, 0, None
        given = dict(self.smooth)  # a mapping, or the project file's Smooth
        method, window = given.get("method", "median"), given.get("window", 5)
        columns = given.get("columns")
        if method not in SMOOTHERS or not isinstance(window, int | np.integer) or window < 1:
            raise ValueError(f"The 'smooth' parameter of SeriesFeatures must have method in "
                             f"{SMOOTHERS} and a window >= 1. Got {self.smooth!r} instead.")
        return method, int(window), None if columns is None else list(columns)


class _Trailing(BaseIndexer):
    """The current row and up to ``window_size - 1`` rows before it, never crossing
    back into the previous entity (``first`` is each row's entity start)."""

    def get_window_bounds(self, num_values=0, min_periods=None, center=None, closed=None,
                          step=None):
        end = np.arange(1, num_values + 1, dtype=np.int64)
        start = np.maximum(end - self.window_size, self.first).astype(np.int64)
        return start, end


def _slope(values, sums, position, first, window) -> pd.DataFrame:
    """Least-squares slope of each column against row position, over the window.

    Sums of x, x*x, y and x*y over the window give it in closed form, so it costs
    a few rolling sums instead of a fit per row. Missing values drop out of all sums.
    """
    def total(frame):
        return frame.rolling(_Trailing(window_size=window, first=first), min_periods=1).sum()

    valid = values.notna().astype("float64")
    x = valid.mul(position, axis=0)
    n, sx, sxx = total(valid), total(x), total(x.mul(position, axis=0))
    sxy = total(values.mul(position, axis=0))
    spread = n * sxx - sx * sx
    slope = (n * sxy - sx * sums) / spread.where(spread > 0)
    return slope.mask((n == 1) | ((spread <= 0) & (n > 0)), 0.0)  # one point, or all at one x


def _smoothed(values, first, method, window) -> pd.DataFrame:
    if method == "median":
        return values.rolling(_Trailing(window_size=window, first=first), min_periods=1).median()
    entity = np.cumsum(np.r_[True, first[1:] != first[:-1]][:len(first)])
    smooth = values.groupby(entity, sort=False).ewm(span=window).mean()
    return smooth.reset_index(level=0, drop=True).sort_index()


def _order(frame: pd.DataFrame, entity: str, time: str) -> tuple[np.ndarray, np.ndarray]:
    """Row positions sorted by entity then time (ties keep their order), and for
    each sorted row the sorted position of its entity's first row."""
    for key, name in (("entity", entity), ("time", time)):
        if missing := int(frame[name].isna().sum()):
            raise DataError(f"{key}: {missing} rows have no value in '{name}'; each row needs "
                            f"its {key} to be placed in a series")
    codes, ranks = pd.factorize(frame[entity])[0], pd.factorize(frame[time], sort=True)[0]
    order = np.lexsort((ranks, codes))
    ordered = codes[order]
    starts = np.r_[True, ordered[1:] != ordered[:-1]][:len(order)]
    first = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
    return order, first


def _numbers(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    try:
        return frame[columns].astype("float64")
    except (TypeError, ValueError) as exc:
        raise DataError("prepare.series: window features need numeric columns",
                        details=[str(exc)]) from exc


def _series_columns(frame: pd.DataFrame, columns, roles: list[str]) -> list[str]:
    if columns is None:
        return [c for c in frame.columns if c not in roles and frame[c].dtype == np.float64]
    _require(frame, list(columns), "prepare.series.columns")
    if text := [c for c in columns if not pd.api.types.is_numeric_dtype(frame[c].dtype)]:
        raise DataError(f"prepare.series.columns: window features need numeric columns; "
                        f"{', '.join(map(repr, text))} are not")
    return list(columns)


def _frame(X) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"SeriesFeatures takes a pandas DataFrame with the entity and time "
                        f"columns, got {type(X).__name__}")
    return X


def _require(frame: pd.DataFrame, names: list[str], where: str) -> None:
    if missing := [c for c in names if c not in frame.columns]:
        raise DataError(f"{where}: missing column{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(map(repr, missing[:10]))}",
                        details=[f"columns: {', '.join(map(str, list(frame.columns)[:20]))}"])
