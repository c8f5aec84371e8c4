"""Targets derived from each entity's history (the project file's ``label``).

Each entity's rows, ordered by time, run until its last row, where it fails:
run-to-failure data such as NASA's C-MAPSS engines. From that, every row gets

* ``rul``: rows left until the entity's last row (0 on the last row), capped at
  ``cap`` when given (piecewise-linear RUL: early in life the readings cannot
  tell how far away failure is, only that it is far);
* ``fails_within``: 1.0 when the failure is at most ``horizon`` rows ahead
  (the last row itself included), else 0.0.

With ``event``, only entities where that column is true on some row failed; the
others stopped for another reason (still running, removed for maintenance), so
their rows get NaN: censored, and set aside by training like any row without a
target. Targets are float64 either way, so NaN can mark them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shipyard.errors import DataError


def derive(frame: pd.DataFrame, label, entity: str, time: str, target: str) -> pd.DataFrame:
    """A copy of ``frame`` (same rows, same order) with the derived ``target`` column.

    ``label`` is the project file's ``Label`` (or anything with ``kind``, ``cap``,
    ``horizon`` and ``event``).
    """
    for key, name in (("entity", entity), ("time", time), ("label.event", label.event)):
        if name is not None and name not in frame.columns:
            raise DataError(f"{key}: the column '{name}' is not in the data",
                            details=[f"columns: {', '.join(map(str, list(frame.columns)[:20]))}"],
                            hint="select it in source.query")
    if target in frame.columns:
        raise DataError(f"label: the data already has a column '{target}', the target; the "
                        "derived label would overwrite it",
                        hint=f"drop '{target}' from source.query, or remove 'label' to use "
                             "the column as it is")
    for key, name in (("entity", entity), ("time", time)):
        if missing := int(frame[name].isna().sum()):
            raise DataError(f"{key}: {missing} rows have no value in '{name}'; a label "
                            f"follows each entity through time")
    codes = pd.factorize(frame[entity])[0]
    # Stable sort by time within each entity: rows at the same time keep their order.
    order = np.lexsort((pd.factorize(frame[time], sort=True)[0], codes))
    ordered = codes[order]
    starts = np.r_[True, ordered[1:] != ordered[:-1]][:len(order)]
    position = np.arange(len(order)) - np.maximum.accumulate(
        np.where(starts, np.arange(len(order)), 0))
    rows_left = np.empty(len(order))
    rows_left[order] = np.bincount(codes)[ordered] - 1 - position

    if label.kind == "rul":
        values = rows_left if label.cap is None else np.minimum(rows_left, label.cap)
    elif label.kind == "fails_within":
        values = (rows_left <= label.horizon).astype("float64")
    else:
        raise DataError(f"label.kind: expected 'rul' or 'fails_within', got {label.kind!r}")
    if label.event is not None:
        failed = np.bincount(codes, weights=_truth(frame[label.event], label.event)) > 0
        values = np.where(failed[codes], values, np.nan)
    out = frame.copy()
    out[target] = values
    return out


def _truth(column: pd.Series, name: str) -> np.ndarray:
    """True/false per row from a boolean or 0/1 column; missing counts as false."""
    if pd.api.types.is_bool_dtype(column.dtype) or pd.api.types.is_numeric_dtype(column.dtype):
        return column.astype("float64").fillna(0.0).to_numpy() != 0
    sample = column.dropna().head(3).tolist()
    raise DataError(f"label.event: the column '{name}' must be true/false or 1/0, found "
                    f"{sample!r}", hint="cast it in source.query, e.g. reason = 'failure'")
