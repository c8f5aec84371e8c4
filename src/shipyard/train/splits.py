"""How rows are split: the holdout that judges the final model, and the folds
that choose it. One rule for both, set by the project's split strategy:

* ``random``: shuffled rows;
* ``stratified``: shuffled, keeping each class's share in every part;
* ``group``: every row of an entity (an engine, a customer) on one side only,
  so the model is judged on entities it has never seen;
* ``time``: the latest rows are held out; folds train on the past and
  validate on what follows.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from sklearn.model_selection import (
    GroupKFold,
    GroupShuffleSplit,
    KFold,
    StratifiedKFold,
    TimeSeriesSplit,
    train_test_split,
)

from shipyard.errors import DataError
from shipyard.prepare import Dataset

Indices = tuple[np.ndarray, np.ndarray]


def holdout(ds: Dataset, strategy: str, fraction: float, seed: int) -> Indices:
    """(train rows, holdout rows) of ``ds``."""
    rows = np.arange(len(ds))
    if strategy == "group":
        _need_groups(ds, 2, "a holdout")
        splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        return next(splitter.split(rows, groups=ds.groups))
    if strategy == "time":
        order = _time_order(ds)
        cut = int(round(len(ds) * (1 - fraction)))
        return np.sort(order[:cut]), np.sort(order[cut:])
    stratify = ds.y if strategy == "stratified" else None
    if stratify is not None:
        _need_per_class(ds, 2, "a stratified holdout")
    train, test = train_test_split(rows, test_size=fraction, random_state=seed, shuffle=True,
                                   stratify=stratify)
    return np.sort(train), np.sort(test)


def folds(ds: Dataset, strategy: str, n: int, seed: int) -> Iterator[Indices]:
    """Cross-validation folds over ``ds`` as (fit rows, validation rows)."""
    rows = np.arange(len(ds))
    if strategy == "group":
        _need_groups(ds, n, f"{n} folds")
        yield from GroupKFold(n_splits=n, shuffle=True, random_state=seed).split(
            rows, groups=ds.groups)
    elif strategy == "time":
        order = _time_order(ds)
        for fit, val in TimeSeriesSplit(n_splits=n).split(order):
            yield order[fit], order[val]
    elif strategy == "stratified":
        _need_per_class(ds, n, f"{n} stratified folds")
        yield from StratifiedKFold(n_splits=n, shuffle=True, random_state=seed).split(rows, ds.y)
    else:
        if len(ds) < n:
            raise DataError(f"{len(ds)} rows cannot make {n} folds")
        yield from KFold(n_splits=n, shuffle=True, random_state=seed).split(rows)


def _time_order(ds: Dataset) -> np.ndarray:
    if ds.times is None:
        raise DataError("The 'time' split needs the project's time column")
    return np.argsort(ds.times, kind="stable")


def _need_groups(ds: Dataset, n: int, what: str) -> None:
    count = len(np.unique(ds.groups))
    if count < n:
        raise DataError(f"{count} distinct entities cannot make {what}",
                        hint="use more data, fewer split.folds, or another split.strategy")


def _need_per_class(ds: Dataset, n: int, what: str) -> None:
    labels, counts = np.unique(ds.y, return_counts=True)
    if counts.min() < n:
        raise DataError(f"The class {labels[counts.argmin()]!r} has {counts.min()} row(s): too "
                        f"few for {what}", hint="use fewer split.folds or gather more rows")
