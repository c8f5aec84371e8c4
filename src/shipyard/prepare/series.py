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

import hashlib
import pickle
import threading
import warnings
from collections import OrderedDict
from contextlib import contextmanager

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from shipyard.errors import DataError
from shipyard.prepare import regimes, windows

STATS = ("mean", "std", "min", "max", "slope")
SMOOTHERS = ("median", "ewm")
ELAPSED = "elapsed_rows"
REGIME = "operating_regime"  # the found regime, a feature when regimes are clustered
AUTO = "auto"
# Transforms kept by a digest of step and input, inside `memo()`: tuning
# cross-validates the same folds with the same series step once per trial, and long
# windows cost seconds a fold.
_MEMO: OrderedDict[str, pd.DataFrame] = OrderedDict()
_MEMO_BYTES = 1 << 30
_MEMO_LOCK = threading.Lock()
_memo_users = 0


@contextmanager
def memo():
    """Within it, a transform of an input this step has already transformed (same
    fitted state, same rows) is the kept result; the kept results go at its end.
    Training uses it; a server does not keep what it answered."""
    global _memo_users
    with _MEMO_LOCK:
        _memo_users += 1
    try:
        yield
    finally:
        with _MEMO_LOCK:
            _memo_users -= 1
            if not _memo_users:
                _MEMO.clear()


class SeriesFeatures(TransformerMixin, BaseEstimator):
    """Causal per-entity features: smoothing, rolling statistics, lags, elapsed rows.

    For each series column (default: every float64 column but the entity, time
    and regime columns), in this order: standardise within the operating regime
    (per-regime mean and std learnt by ``fit``; unseen regimes use the overall
    ones), smooth (``smooth``: ``method`` "median" over ``window`` rows or
    "ewm" with span ``window``, for ``columns`` or all), then add rolling
    ``stats`` over each of ``windows`` rows (``{col}_{stat}_{w}``; ``slope`` is
    the least-squares slope per row), ``lags`` (``{col}_lag_{n}``, NaN before
    the entity has n earlier rows) and ``elapsed_rows`` (rows since the entity's
    first row in the frame). Windows hold the rows that exist so far, so early rows
    get values too (one value has std and slope 0); missing values are skipped.
    ``keep_raw`` keeps each series column (standardised with ``regime``), smoothed
    ones also give ``{col}_smooth``; other columns pass through unchanged.

    ``regime`` is a column that names the regime; or ``"auto"``, regimes found by
    clustering the series columns; or a mapping ``{"columns": [...], "clusters":
    k, "max_clusters": 8}``, clustered on those columns (operating settings, which
    then pass through unchanged and are not series), with ``k`` clusters or as many
    as the silhouette chooses (:mod:`.regimes`). Found regimes are also a feature,
    ``operating_regime``.
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
        named, found = self._regime_settings()
        roles = [self.entity, self.time] + ([named] if named else []) + \
            list((found or {}).get("columns") or [])
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
        self.regimes_ = None
        if found is not None:
            inputs = found["columns"] or series
            self.regimes_ = regimes.find(_numbers(frame, inputs).to_numpy(), inputs,
                                         found["clusters"], found["max_clusters"])
        keys = self._regime_keys(frame) if self.regime else None
        if keys is not None:
            values = _numbers(frame, series)
            groups = values.groupby(keys, dropna=True)
            self.regime_mean_, self.global_mean_ = groups.mean(), values.mean()
            # A column constant within a regime is only centred, not divided by zero.
            self.regime_std_ = groups.std(ddof=0).where(lambda s: s > 0, 1.0)
            self.global_std_ = values.std(ddof=0).where(lambda s: s > 0, 1.0)
            self.__dict__.pop("_regime_table", None)
        standard = _numbers(frame, series).to_numpy()
        if keys is not None:
            standard = self._standardise(standard, keys)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column
            center = np.nanmean(standard, axis=0) if len(standard) else np.zeros(len(series))
        self.center_ = np.where(np.isfinite(center), center, 0.0)
        self.feature_names_out_ = self._names()
        return self

    def transform(self, X):
        check_is_fitted(self, "feature_names_out_")
        frame = _frame(X)
        _require(frame, [self.entity, self.time, *self.series_, *self.passthrough_], "the data")
        if not _memo_users:
            return self._transform(frame)
        key = self._memo_key(frame)
        with _MEMO_LOCK:
            known = _MEMO.get(key)
            if known is not None:
                _MEMO.move_to_end(key)
        if known is not None:
            return known.copy(deep=False)  # copy-on-write: the memo cannot be changed
        out = self._transform(frame)
        with _MEMO_LOCK:
            _MEMO[key] = out
            while sum(f.memory_usage(index=False).sum() for f in _MEMO.values()) > \
                    _MEMO_BYTES and len(_MEMO) > 1:
                _MEMO.popitem(last=False)
        return out.copy(deep=False)

    def _memo_key(self, frame: pd.DataFrame) -> str:
        """A digest of everything the output depends on: the parameters, what fit
        learnt and the input's values, index, names and types."""
        digest = hashlib.blake2b(digest_size=20)
        state = {k: v for k, v in vars(self).items() if k != "_regime_table"}
        digest.update(pickle.dumps(state, protocol=5))
        digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
        digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
        return digest.hexdigest()

    def _transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        order, first = _order(frame, self.entity, self.time)
        named = self._regime_settings()[0]
        history = {c: (frame[c].to_numpy() if c == named else
                       _numbers(frame, [c])[c].to_numpy())[order]
                   for c in self.history_columns()}
        every = np.arange(len(order))
        features = self.features_at(history, first, every, (every - first).astype("float64"))
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        out = {c: frame[c] for c in self.passthrough_}
        out.update({name: column[inverse] for name, column in features.items()})
        return pd.DataFrame({name: out[name] for name in self.feature_names_out_},
                            index=frame.index)

    def features_at(self, history: dict[str, np.ndarray], first: np.ndarray, at: np.ndarray,
                    elapsed: np.ndarray) -> dict[str, np.ndarray]:
        """The made features of rows ``at`` of ``history``: everything in
        ``feature_names_out_`` but the passthrough columns.

        ``history`` holds the columns of ``history_columns()`` for rows grouped
        by entity, each entity's in time order; ``first`` is each row's entity's
        first position; ``elapsed`` each row's rows since its entity's first ever
        (which ``history`` may no longer hold). ``transform`` passes every row of a
        frame; the server passes each entity's recent readings and asks for the
        newest: one computation, the same numbers (see :mod:`.windows`)."""
        check_is_fitted(self, "feature_names_out_")
        method, span, _ = self._settings()
        values = np.column_stack([np.asarray(history[c], dtype=np.float64)
                                  for c in self.series_]) if self.series_ \
            else np.zeros((len(first), 0))
        keys = self._regime_keys(history) if self.regime else None
        if keys is not None:
            values = self._standardise(values, keys)
        center = getattr(self, "center_", None)
        center = np.zeros(len(self.series_)) if center is None else center
        out = {c: values[at, i] for i, c in enumerate(self.series_)} if self.keep_raw else {}
        if self.smoothed_:
            # The windows read smoothed values back to their longest reach: smooth
            # only the rows they reach (all of them in training).
            reach = max([*self.windows, *(n + 1 for n in self.lags), 1])
            rows = _reached(first, at, reach)
            index = [self.series_.index(c) for c in self.smoothed_]
            smooth = windows.smoothed(values[:, index], first, rows, method, span)
            values = values.copy()
            values[:, index] = np.nan
            values[rows[:, None], np.asarray(index)[None, :]] = smooth
            position = np.searchsorted(rows, at)
            out.update({f"{c}_smooth": smooth[position, j] for j, c in enumerate(self.smoothed_)})
        stats = windows.window_stats(values, first, at, self.windows, self.stats, center)
        for w in self.windows:
            for stat in self.stats:
                result = stats[(stat, w)]
                out.update({f"{c}_{stat}_{w}": result[:, i] for i, c in enumerate(self.series_)})
        for n in self.lags:
            lagged = windows.lagged(values, first, at, n)
            out.update({f"{c}_lag_{n}": lagged[:, i] for i, c in enumerate(self.series_)})
        if self.elapsed:
            out[ELAPSED] = np.asarray(elapsed, dtype=np.float64)[at]
        if self._found():
            out[REGIME] = np.asarray(keys, dtype=np.float64)[at]
        return out

    def history_columns(self) -> list[str]:
        """The columns of an entity's readings that ``features_at`` reads: the series
        columns and what places a reading in its regime."""
        check_is_fitted(self, "feature_names_out_")
        named = self._regime_settings()[0]
        extra = [named] if named else self.regimes_.columns if self._found() else []
        return [*self.series_, *(c for c in extra if c not in self.series_)]

    def _found(self) -> bool:
        return getattr(self, "regimes_", None) is not None

    def _regime_keys(self, rows) -> np.ndarray:
        """Each row's regime: the named column's value, or the found regime."""
        if self._found():
            return self.regimes_.assign(np.column_stack(
                [np.asarray(rows[c], dtype=np.float64) for c in self.regimes_.columns]))
        return np.asarray(rows[self.regime])

    def _regime_settings(self) -> tuple[str | None, dict | None]:
        """(the regime column, None) or (None, the clustering's settings)."""
        if not self.regime:
            return None, None
        if isinstance(self.regime, str) and self.regime != AUTO:
            return self.regime, None
        given = {} if self.regime == AUTO else dict(self.regime)
        if unknown := set(given) - {"columns", "clusters", "max_clusters"}:
            raise ValueError(f"The 'regime' parameter of SeriesFeatures takes columns, "
                             f"clusters and max_clusters. Got {sorted(unknown)!r} too.")
        clusters, most = given.get("clusters"), given.get("max_clusters", regimes.MAX_CLUSTERS)
        for name, value, low in (("clusters", clusters, 1), ("max_clusters", most, 2)):
            if value is not None and (not isinstance(value, int | np.integer) or value < low):
                raise ValueError(f"The 'regime' parameter's {name} must be a whole number "
                                 f">= {low}. Got {value!r} instead.")
        columns = given.get("columns")
        return None, {"columns": None if columns is None else list(columns),
                      "clusters": clusters, "max_clusters": int(most)}

    def history_rows(self) -> int:
        """Rows of an entity's history (the newest reading included) that the newest
        reading's features read: its longest window or lag, plus what the smoothing
        of the oldest of those rows reads."""
        check_is_fitted(self, "feature_names_out_")
        method, span, _ = self._settings()
        reach = max([*self.windows, *(n + 1 for n in self.lags), 1])
        if not self.smoothed_:
            return reach
        return reach - 1 + (span if method == "median" else windows.ewm_rows(span))

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "feature_names_out_")
        return np.asarray(self.feature_names_out_, dtype=object)

    def _standardise(self, values: np.ndarray, regime) -> np.ndarray:
        # Rows of a regime never seen in training (or without one) get the overall stats.
        lookup, mean, std = self._regimes()
        other = len(mean) - 1
        index = np.fromiter((lookup.get(k, other) for k in np.asarray(regime, dtype=object)),
                            dtype=np.intp, count=len(regime))
        return (values - mean[index]) / std[index]

    def _regimes(self) -> tuple[dict, np.ndarray, np.ndarray]:
        """Regime -> row of the mean and std tables; the last row is the overall one."""
        found = self.__dict__.get("_regime_table")
        if found is None:
            keys = list(self.regime_mean_.index)
            mean = np.vstack([self.regime_mean_[self.series_].to_numpy(dtype=np.float64),
                              self.global_mean_[self.series_].to_numpy(dtype=np.float64)])
            std = np.vstack([self.regime_std_[self.series_].to_numpy(dtype=np.float64),
                             self.global_std_[self.series_].to_numpy(dtype=np.float64)])
            found = ({k: i for i, k in enumerate(keys) if k == k}, mean, std)  # k == k: not NaN
            self.__dict__["_regime_table"] = found
        return found

    def _names(self) -> list[str]:
        names = self.kept_ + [f"{c}_smooth" for c in self.smoothed_]
        names += [f"{c}_{s}_{w}" for w in self.windows for s in self.stats for c in self.series_]
        names += [f"{c}_lag_{n}" for n in self.lags for c in self.series_]
        return names + ([ELAPSED] if self.elapsed else []) + ([REGIME] if self._found() else [])

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


def series_step(pipeline) -> SeriesFeatures | None:
    """The pipeline's leading series step, when it has one."""
    inner = getattr(pipeline, "estimator_", pipeline)
    steps = getattr(inner, "steps", None)
    if steps and isinstance(steps[0][1], SeriesFeatures):
        return steps[0][1]
    return None


def _reached(first: np.ndarray, at: np.ndarray, reach: int) -> np.ndarray:
    """The rows within ``reach`` rows back from each of ``at`` (same entity), sorted."""
    if len(at) == len(first):  # every row: training
        return at
    back = at[:, None] - np.arange(reach)[None, :]
    inside = back >= first[at][:, None]
    return np.unique(back[inside])


def _order(frame: pd.DataFrame, entity: str, time: str) -> tuple[np.ndarray, np.ndarray]:
    """Row positions sorted by entity then time (ties keep their order), and for
    each sorted row the sorted position of its entity's first row."""
    for key, name in (("entity", entity), ("time", time)):
        if missing := int(frame[name].isna().sum()):
            raise DataError(f"{key}: {missing} rows have no value in '{name}'; each row needs "
                            f"its {key} to be placed in a series")
    codes, ranks = pd.factorize(frame[entity])[0], pd.factorize(frame[time], sort=True)[0]
    order = np.lexsort((ranks, codes))
    return order, windows.starts(codes[order])


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
