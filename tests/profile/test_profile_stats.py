import typing

import numpy as np
import pandas as pd
import pytest

from shipyard.errors import DataError
from shipyard.profile import ColumnProfile, Summary, TargetProfile, profile


@pytest.fixture
def frame():
    return pd.DataFrame({
        "engine": [1, 1, 2, 2, 3, 1],
        "temp": [1.0, 2.0, np.nan, 4.0, 5.0, 2.0],
        "site": ["a", "b", "a", None, "a", "b"],
        "ok": [True, False, True, True, True, False],
        "when": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04",
                                "2024-01-05", "2024-01-02"]),
        "y": [0, 1, 0, 1, 1, 1],
    })


def test_sizes_and_duplicates(frame):
    p = profile(frame, target="y", task="binary", entity="engine", time="when")
    assert (p.n_rows, p.n_columns) == (6, 6)
    assert p.duplicate_rows == 1  # the last row repeats the second


def test_column_statistics(frame):
    p = profile(frame, target="y", task="binary")
    temp = p.column("temp")
    assert temp.kind == "number"
    assert temp.missing_share == pytest.approx(1 / 6)
    assert temp.distinct == 4
    values = np.array([1.0, 2.0, 4.0, 5.0, 2.0])
    s = temp.summary
    assert s.mean == pytest.approx(values.mean())
    assert s.std == pytest.approx(values.std(ddof=1))
    assert (s.min, s.p25, s.median, s.p75, s.max) == (1.0, 2.0, 2.0, 4.0, 5.0)
    assert temp.top == ()

    site = p.column("site")
    assert site.kind == "string"
    assert site.missing_share == pytest.approx(1 / 6)
    assert site.distinct == 2
    assert site.top == (("a", 3), ("b", 2))
    assert site.summary is None and site.histogram is None and site.outlier_share is None

    assert [p.column(c).kind for c in ("engine", "ok", "when", "y")] == [
        "integer", "boolean", "datetime", "integer"]
    assert p.column("ok").summary.mean == pytest.approx(4 / 6)
    assert p.column("ok").top == (("True", 4), ("False", 2))
    assert p.column("when").distinct == 5
    assert p.column("engine").missing_share == 0


def test_classification_target(frame):
    t = profile(frame, target="y", task="binary").target
    assert t.counts == {1: 4, 0: 2}
    assert t.minority_share == pytest.approx(2 / 6)
    assert t.imbalance_ratio == pytest.approx(2.0)
    assert t.missing == 0


def test_regression_target_summary_and_histogram():
    y = np.arange(100, dtype=float)
    frame = pd.DataFrame({"x": np.ones(102), "rul": np.r_[y, np.nan, np.nan]})
    t = profile(frame, target="rul", task="regression").target
    assert t.missing == 2
    assert t.summary.mean == pytest.approx(49.5) and t.summary.median == pytest.approx(49.5)
    assert (t.summary.min, t.summary.max) == (0.0, 99.0)
    assert sum(t.histogram.counts) == 100
    assert len(t.histogram.edges) == len(t.histogram.counts) + 1
    assert t.counts == {} and t.imbalance_ratio is None


def test_one_summary_type_serves_columns_and_target():
    spread_out = {"mean", "std", "min", "p25", "median", "p75", "max"}
    for cls in (ColumnProfile, TargetProfile):
        hints = typing.get_type_hints(cls)
        assert hints["summary"] == Summary | None
        assert not spread_out & set(hints)
    frame = pd.DataFrame({"x": np.arange(200) % 7, "rul": np.linspace(0, 50, 200)})
    p = profile(frame, target="rul", task="regression")
    assert isinstance(p.target.summary, Summary)
    assert p.target.summary == p.column("rul").summary
    assert p.column("rul").summary.fences() == pytest.approx((-25.0, 75.0))


def test_iqr_outlier_share_is_exact():
    # sorted: -100, 1..8, 100 -> quartiles 2.25 and 6.75 (linear), fences -4.5 and 13.5;
    # missing and infinite values are not counted
    values = [1, 2, 3, 4, 5, 6, 7, 8, 100, -100, np.nan, np.inf]
    frame = pd.DataFrame({"v": values, "y": np.arange(12) % 2})
    col = profile(frame, target="y", task="binary").column("v")
    assert (col.summary.p25, col.summary.p75) == (2.25, 6.75)
    assert col.summary.fences() == (-4.5, 13.5)
    assert col.outlier_share == pytest.approx(2 / 10)


def test_outlier_share_is_none_where_the_iqr_rule_does_not_apply():
    frame = pd.DataFrame({"zeros": np.r_[np.zeros(95), np.arange(1, 6)],
                          "flag": np.arange(100) < 3, "y": np.arange(100) % 2})
    p = profile(frame, target="y", task="binary")
    assert p.column("zeros").summary.p75 == 0.0
    assert p.column("zeros").outlier_share is None  # fences collapse onto zero
    assert p.column("flag").outlier_share is None  # booleans have no tails
    clean = profile(pd.DataFrame({"v": np.arange(100.0), "y": np.arange(100) % 2}),
                    target="y", task="binary")
    assert clean.column("v").outlier_share == 0.0


def test_column_histograms():
    when = pd.to_datetime(["1970-01-02", "1970-01-11", None, "1970-01-31"]).as_unit("s")
    frame = pd.DataFrame({
        "count": [0, 1, 1, 3], "x": [0.5, 1.5, 2.5, 3.5], "when": when,
        "text": ["a", "b", "b", None], "y": [0, 1, 0, 1],
    })
    p = profile(frame, target="y", task="binary")
    count = p.column("count").histogram
    assert count.edges == (-0.5, 0.5, 1.5, 2.5, 3.5)  # one bin per integer
    assert count.counts == (1, 2, 0, 1)
    assert sum(p.column("x").histogram.counts) == 4
    days = p.column("when").histogram  # days since 1970-01-01, any time unit
    assert (days.edges[0], days.edges[-1]) == (1.0, 30.0) and sum(days.counts) == 3
    assert p.column("text").histogram is None


def test_duplicates_match_pandas_on_mixed_data():
    rng = np.random.default_rng(1)
    n = 3000
    frame = pd.DataFrame({
        "a": rng.integers(0, 3, n),
        "b": rng.choice(["x", "y", None], n),
        "c": np.where(rng.random(n) < 0.3, np.nan, rng.integers(0, 2, n)),
        "y": rng.integers(0, 2, n),
    })
    p = profile(frame, target="y", task="binary")
    assert p.duplicate_rows == int(frame.duplicated().sum())
    assert p.duplicate_rows > 0


def test_unhashable_and_categorical_cells():
    frame = pd.DataFrame({
        "tags": [["a"], ["a"], ["b"], None],
        "cat": pd.Categorical(["p", "p", "q", None], categories=["p", "q", "unused"]),
        "y": [1.0, 1.0, 2.0, 3.0],
    })
    p = profile(frame, target="y", task="regression")
    assert p.column("tags").distinct == 2
    assert p.column("cat").distinct == 2  # unused categories do not count
    assert p.duplicate_rows == 1


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"target": "temps", "task": "binary"}, DataError, "target column 'temps'.*mean 'temp'"),
    ({"target": "y", "task": "binary", "entity": "eng"}, DataError, "entity column 'eng'"),
    ({"target": "y", "task": "ranking"}, ValueError, "'task' parameter"),
    ({"target": "site", "task": "regression"}, DataError, "must be numeric"),
])
def test_bad_input(frame, kwargs, error, message):
    with pytest.raises(error, match=message):
        profile(frame, **kwargs)


def test_empty_frame_is_an_error(frame):
    with pytest.raises(DataError, match="no rows"):
        profile(frame.iloc[:0], target="y", task="binary")
