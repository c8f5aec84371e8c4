"""The profile of a whole frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from shipyard.errors import DataError, did_you_mean
from shipyard.metrics import TASKS
from shipyard.profile.findings import Finding, find
from shipyard.profile.stats import (
    ColumnProfile,
    TargetProfile,
    column_profile,
    factorized,
    target_profile,
)


@dataclass(frozen=True)
class Profile:
    """What the data looks like: size, per-column statistics, the target, findings."""

    n_rows: int
    n_columns: int
    duplicate_rows: int
    columns: list[ColumnProfile]
    target: TargetProfile
    findings: list[Finding]

    def column(self, name: str) -> ColumnProfile:
        """The profile of the column ``name``; KeyError when there is none."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def flagged(self, kind: str) -> list[str]:
        """The columns with a finding of ``kind`` (e.g. identifiers to leave out)."""
        return [f.column for f in self.findings if f.kind == kind and f.column is not None]

    @property
    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.findings)


def _check_column(frame: pd.DataFrame, name: str | None, role: str) -> None:
    if name is not None and name not in frame.columns:
        raise DataError(
            f"The {role} column '{name}' is not in the data{did_you_mean(name, frame.columns)}.",
            details=[f"columns: {', '.join(map(str, frame.columns[:20]))}"],
        )


def _duplicates(codes: list[np.ndarray], n_rows: int) -> int:
    """Rows equal to an earlier row, from the columns' value codes: the running
    row key is re-factorized after each column, so it stays below ``n_rows``
    and ``key * (n_values + 1) + code`` cannot overflow. The most varied columns
    go first: once every key is distinct there is no duplicate to find."""
    key = np.zeros(n_rows, dtype=np.int64)
    distinct = 1
    for column in sorted(codes, key=lambda c: int(c.max()), reverse=True):
        key, uniques = pd.factorize(key * (int(column.max()) + 2) + column + 1)
        distinct = len(uniques)
        if distinct == n_rows:
            break
    return n_rows - distinct


def profile(frame: pd.DataFrame, *, target: str, task: str, entity: str | None = None,
            time: str | None = None) -> Profile:
    """Statistics and findings for ``frame``, whose ``target`` column is predicted
    in ``task`` (regression, binary or multiclass). ``entity`` and ``time`` name
    the columns that identify a row's subject and moment, if any."""
    if task not in TASKS:
        raise ValueError(f"The 'task' parameter of profile must be one of {TASKS}. "
                         f"Got {task!r} instead.")
    for name, role in ((target, "target"), (entity, "entity"), (time, "time")):
        _check_column(frame, name, role)
    if frame.columns.has_duplicates:
        repeated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise DataError(f"The data has repeated column names: {', '.join(repeated)}.",
                        hint="give each column a distinct alias in the SQL query")
    if len(frame) == 0:
        raise DataError("The data has no rows.", hint="check the query's filters")
    n_rows = len(frame)
    codes, columns = [], []
    for name in frame.columns:
        series = frame[name]
        column_codes, uniques = factorized(series)
        codes.append(column_codes)
        columns.append(column_profile(series, str(name), column_codes, uniques))
    target_stats = target_profile(frame[target], target, task)
    duplicates = _duplicates(codes, n_rows)
    keys = {name for name in (entity, time) if name is not None}
    findings = find(columns, target_stats, n_rows=n_rows, duplicate_rows=duplicates,
                    key_columns=keys)
    return Profile(n_rows=n_rows, n_columns=frame.shape[1], duplicate_rows=duplicates,
                   columns=columns, target=target_stats, findings=findings)
