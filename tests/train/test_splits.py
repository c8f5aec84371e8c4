"""Holdout and folds follow the project's split strategy."""

import numpy as np
import pytest

from shipyard.errors import DataError
from shipyard.prepare import dataset
from shipyard.train import splits
from tests.helpers import frame, project


def _ds(task="regression", target="y"):
    p = project(task, target=target, extra="entity: eid\ntime: t\n")
    return dataset(frame(), p)


def test_group_split_keeps_entities_on_one_side():
    ds = _ds()
    train, test = splits.holdout(ds, "group", 0.25, seed=1)
    assert not set(ds.groups[train]) & set(ds.groups[test])
    assert len(train) + len(test) == len(ds)
    for fit, val in splits.folds(ds, "group", 4, seed=1):
        assert not set(ds.groups[fit]) & set(ds.groups[val])


def test_time_split_holds_out_the_latest_rows():
    ds = _ds()
    train, test = splits.holdout(ds, "time", 0.2, seed=0)
    assert ds.times[train].max() < ds.times[test].min()
    for fit, val in splits.folds(ds, "time", 3, seed=0):
        assert ds.times[fit].max() < ds.times[val].min()


def test_stratified_split_keeps_class_shares():
    ds = _ds("binary", "label")
    train, test = splits.holdout(ds, "stratified", 0.3, seed=0)
    share = np.mean(ds.y == "Yes")
    assert abs(np.mean(ds.y[test] == "Yes") - share) < 0.01


def test_same_seed_same_split_other_seed_other_split():
    ds = _ds()
    a = splits.holdout(ds, "random", 0.2, seed=3)[1]
    assert np.array_equal(a, splits.holdout(ds, "random", 0.2, seed=3)[1])
    assert not np.array_equal(a, splits.holdout(ds, "random", 0.2, seed=4)[1])


def test_too_few_entities_or_class_rows():
    ds = _ds()
    small = ds.take(np.flatnonzero(np.isin(ds.groups, [0, 1, 2])))
    with pytest.raises(DataError, match="3 distinct entities cannot make 5 folds"):
        list(splits.folds(small, "group", 5, seed=0))
    cls = _ds("binary", "label")
    rare = cls.take(np.r_[np.flatnonzero(cls.y == "No")[:2], np.flatnonzero(cls.y == "Yes")])
    with pytest.raises(DataError, match="has 2 row"):
        list(splits.folds(rare, "stratified", 3, seed=0))
