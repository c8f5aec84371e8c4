"""Metrics per segment, checked against the same metrics computed by hand on
each segment's rows."""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression, Ridge

from shipyard.errors import DataError
from shipyard.evaluate import evaluate
from shipyard.evaluate.segments import MAX_SEGMENTS


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(6)
    X = pd.DataFrame(rng.normal(size=(1000, 3)), columns=["a", "b", "c"])
    y = np.where(X["a"] + rng.normal(0, 0.8, 1000) > 0.7, "fail", "ok")
    model = LogisticRegression().fit(X[:500], y[:500])
    region = pd.Series(rng.choice(["north", "south", "east"], 500, p=[0.5, 0.3, 0.2]),
                       name="region")
    return model, X[500:], y[500:], region


def test_binary_segments_reproduce_metrics_by_hand(binary):
    model, X, y, region = binary
    e = evaluate(model, X, y, task="binary", positive="fail", segments=region)
    table = e.segments
    assert list(table.columns[:2]) == ["region", "rows"]
    assert list(table["region"]) == ["north", "south", "east"]  # largest first
    labels, p_fail = model.predict(X), model.predict_proba(X)[:, 0]
    for row in table.to_dict("records"):
        rows = region.to_numpy() == row["region"]
        assert row["rows"] == rows.sum()
        y_s, labels_s = y[rows], labels[rows]
        assert row["accuracy"] == pytest.approx(skm.accuracy_score(y_s, labels_s))
        assert row["recall"] == pytest.approx(skm.recall_score(y_s, labels_s, pos_label="fail"))
        assert row["f1"] == pytest.approx(skm.f1_score(y_s, labels_s, pos_label="fail"))
        assert row["roc_auc"] == pytest.approx(skm.roc_auc_score(y_s == "fail", p_fail[rows]))
        assert row["log_loss"] == pytest.approx(
            skm.log_loss(y_s, model.predict_proba(X)[rows], labels=["fail", "ok"]))
    # the segments differ: this is not the whole-holdout number copied three times
    assert table["roc_auc"].nunique() == 3


def test_metrics_a_segment_cannot_define_are_nan(binary):
    model, X, y, _ = binary
    # one segment of "ok" rows only, another of both classes
    segment = np.where(y == "ok", "quiet", "mixed")
    segment[:40] = "mixed"
    e = evaluate(model, X, y, task="binary", positive="fail", segments=segment)
    quiet = e.segments.set_index("segment").loc["quiet"]
    assert math.isnan(quiet["roc_auc"]) and math.isnan(quiet["pr_auc"])
    assert math.isnan(quiet["recall"])  # no "fail" row to find
    ok_rows = segment == "quiet"
    assert quiet["accuracy"] == pytest.approx(np.mean(model.predict(X)[ok_rows] == "ok"))
    assert not e.segments.set_index("segment").loc["mixed"].isna().any()


def test_regression_segments_and_missing_values():
    rng = np.random.default_rng(8)
    X = pd.DataFrame(rng.normal(size=(400, 2)), columns=["x", "z"])
    y = 3 * X["x"].to_numpy() + rng.normal(0, 1, 400) + 10
    fleet = np.array(["A320", "B737", None, "A320"] * 50, dtype=object)
    model = Ridge().fit(X[:200], y[:200])
    e = evaluate(model, X[200:], y[200:], task="regression", segments=fleet)
    table = e.segments.set_index("segment")
    assert list(table.index) == ["A320", "(missing)", "B737"]
    yhat = model.predict(X[200:])
    for key, rows in (("A320", fleet == "A320"), ("(missing)", pd.isna(fleet))):
        y_s, yhat_s = y[200:][rows], yhat[rows]
        assert table.loc[key, "rows"] == rows.sum()
        assert table.loc[key, "rmse"] == pytest.approx(math.sqrt(np.mean((y_s - yhat_s) ** 2)))
        assert table.loc[key, "mae"] == pytest.approx(np.mean(np.abs(y_s - yhat_s)))
        assert table.loc[key, "r2"] == pytest.approx(skm.r2_score(y_s, yhat_s))
        assert table.loc[key, "mape"] == pytest.approx(np.mean(np.abs((y_s - yhat_s) / y_s)))


def test_many_segments_keep_the_largest_and_pool_the_rest():
    rng = np.random.default_rng(9)
    X = pd.DataFrame({"x": rng.normal(size=600)})
    y = 2 * X["x"].to_numpy() + rng.normal(0, 0.5, 600)
    ids = np.arange(600) % 60  # 60 segments of 10 rows
    ids[:100] = 0  # segment 0 is the largest
    e = evaluate(Ridge().fit(X, y), X, y, task="regression", segments=ids)
    table = e.segments
    assert len(table) == MAX_SEGMENTS and table["segment"].iloc[0] == 0
    other = table.iloc[-1]
    assert other["segment"] == f"(other {60 - MAX_SEGMENTS + 1} values)"
    assert table["rows"].sum() == 600


@pytest.mark.parametrize("segments", [np.zeros(99), np.zeros((200, 2))])
def test_bad_segments(binary, segments):
    model, X, y, _ = binary
    with pytest.raises(DataError, match="segment values"):
        evaluate(model, X, y, task="binary", segments=segments)
