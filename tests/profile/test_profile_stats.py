import numpy as np
import pandas as pd
import pytest

from shipyard.errors import DataError
from shipyard.profile import profile


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
    assert temp.mean == pytest.approx(values.mean())
    assert temp.std == pytest.approx(values.std(ddof=1))
    assert (temp.min, temp.p25, temp.median, temp.p75, temp.max) == (1.0, 2.0, 2.0, 4.0, 5.0)
    assert temp.top == ()

    site = p.column("site")
    assert site.kind == "string"
    assert site.missing_share == pytest.approx(1 / 6)
    assert site.distinct == 2
    assert site.top == (("a", 3), ("b", 2))
    assert site.mean is None

    assert [p.column(c).kind for c in ("engine", "ok", "when", "y")] == [
        "integer", "boolean", "datetime", "integer"]
    assert p.column("ok").mean == pytest.approx(4 / 6)
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
    assert t.mean == pytest.approx(49.5) and t.median == pytest.approx(49.5)
    assert (t.min, t.max) == (0.0, 99.0)
    assert sum(t.bin_counts) == 100
    assert len(t.bin_edges) == len(t.bin_counts) + 1
    assert t.counts == {} and t.imbalance_ratio is None


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
