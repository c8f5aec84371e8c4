"""The checks across columns: outliers, correlation, leakage; and findings as data."""

import numpy as np
import pandas as pd
import pytest

from shipyard.profile import NOT_A_FEATURE, profile
from tests.profile.findings import kinds, one

N = 2000


def _gaussian(n=N, columns="abcde", seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, len(columns))), columns=list(columns))
    return frame.assign(y=rng.integers(0, 2, n))


@pytest.mark.parametrize(("spikes", "found"), [(120, True), (60, False)])
def test_outliers_finding_above_five_percent(spikes, found):
    rng = np.random.default_rng(1)
    values = np.r_[rng.uniform(0, 1, N - spikes), np.full(spikes, 50.0)]
    p = profile(_gaussian().assign(v=values, engine=values), target="y", task="binary",
                entity="engine")
    assert p.column("v").outlier_share == pytest.approx(spikes / N)
    assert ("outliers" in kinds(p, "v")) is found
    assert kinds(p, "engine") == []  # keys are not features
    if found:
        finding = one(p, "outliers")
        assert (finding.severity, finding.value) == ("info", pytest.approx(0.06))


def test_clean_data_has_no_outlier_or_correlation_findings():
    p = profile(_gaussian(), target="y", task="binary")
    assert p.findings == []
    assert p.multivariate_outlier_share < 0.005
    assert p.outlier_columns == tuple("abcde")
    assert all(col.outlier_share < 0.02 for col in p.columns if col.name != "y")


def test_isolation_forest_finds_injected_rows():
    frame = _gaussian()
    rng = np.random.default_rng(2)
    injected = 100  # 5% of rows, far from the rest in every column
    frame.iloc[:injected, :5] = rng.uniform(-9, 9, (injected, 5))
    p = profile(frame, target="y", task="binary")
    assert 0.03 < p.multivariate_outlier_share < 0.07
    finding = one(p, "multivariate_outliers")
    assert finding.severity == "warning" and finding.value == p.multivariate_outlier_share


def test_isolation_forest_needs_three_spread_columns():
    frame = _gaussian(columns="ab").assign(rare=np.r_[np.zeros(N - 5), np.ones(5)])
    p = profile(frame, target="y", task="binary")
    assert p.multivariate_outlier_share is None and p.outlier_columns == ()


def test_correlated_pair_is_found_and_the_target_is_left_to_leakage():
    frame = _gaussian()
    rng = np.random.default_rng(3)
    frame["a_again"] = frame["a"] * 3 + rng.normal(scale=0.05, size=N)  # r ~ 0.9999
    frame["b_loosely"] = frame["b"] + rng.normal(scale=0.5, size=N)  # r ~ 0.9
    frame["a"] = frame["a"].where(rng.random(N) > 0.1)  # gaps do not hide it
    p = profile(frame, target="y", task="binary")
    finding = one(p, "correlated")
    assert (finding.column, finding.other_column) == ("a", "a_again")
    assert finding.value > 0.99 and finding.severity == "info"
    assert p.correlations.of("a", "a_again") == pytest.approx(finding.value)
    assert 0.85 < p.correlations.of("b", "b_loosely") < 0.95
    assert "y" in p.correlations.columns  # a binary target's correlations are shown
    assert p.correlations.pairs(0.95) == [("a", "a_again", finding.value)]


def _labels(n=N, seed=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return rng, y


def test_a_copy_of_a_binary_target_is_a_leak_and_a_useful_feature_is_not():
    rng, y = _labels()
    frame = pd.DataFrame({
        "copy": y * 5.0 - 1, "as_text": np.where(y == 1, "churned", "stayed"),
        "useful": y + rng.normal(scale=0.8, size=N), "noise": rng.normal(size=N),
        "after": np.where(rng.random(N) < 0.7, np.nan, y + 0.01 * rng.normal(size=N)),
        "customer": [f"c{i}" for i in range(N)], "y": y,
    })
    p = profile(frame, target="y", task="binary")
    assert p.score_metric == "roc_auc"
    assert p.columns_flagged("leakage") == ["copy", "as_text", "after"]
    assert all(f.severity == "error" for f in p.findings if f.kind == "leakage")
    assert p.has_errors and p.findings[0].kind == "leakage"  # loud, first, and still a profile
    assert 0.65 < p.column_scores["useful"] < 0.9
    assert abs(p.column_scores["noise"] - 0.5) < 0.1
    assert "customer" not in p.column_scores  # identifiers are not scored
    assert p.not_features() == ["customer"]


def test_regression_leaks_through_a_transform():
    rng = np.random.default_rng(5)
    rul = rng.gamma(2.0, 30.0, N)
    frame = pd.DataFrame({
        "log_rul": np.log1p(rul), "rul_in_days": rul * 7 + rng.normal(scale=0.1, size=N),
        "useful": rul + rng.normal(scale=15, size=N), "noise": rng.normal(size=N), "rul": rul,
    })
    p = profile(frame, target="rul", task="regression")
    assert p.score_metric == "r2"
    assert p.columns_flagged("leakage") == ["log_rul", "rul_in_days"]
    assert p.column_scores["log_rul"] > 0.99
    assert 0.8 < p.column_scores["useful"] < 0.95
    assert abs(p.column_scores["noise"]) < 0.1
    assert "correlated" not in kinds(p)  # pairs with the target are leakage's business


def test_multiclass_leak_uses_balanced_accuracy():
    rng = np.random.default_rng(6)
    # one class dominates: plain accuracy would rate every column above 0.99
    y = np.r_[np.zeros(N - 60), np.ones(30), np.full(30, 2)].astype(int)
    frame = pd.DataFrame({"noise": rng.normal(size=N), "code": y * 10 + 3, "y": y})
    p = profile(frame, target="y", task="multiclass")
    assert p.score_metric == "balanced_accuracy"
    assert p.columns_flagged("leakage") == ["code"]
    assert p.column_scores["noise"] < 0.6


def test_few_rows_are_not_judged_for_leakage():
    y = np.arange(60) % 2
    p = profile(pd.DataFrame({"copy": y, "y": y}), target="y", task="binary")
    assert p.column_scores == {} and "leakage" not in kinds(p)


def test_columns_flagged_by_several_kinds_in_frame_order():
    rng, y = _labels()
    frame = pd.DataFrame({"id": np.arange(N), "flat": np.ones(N), "copy": y.astype(float),
                          "x": rng.normal(size=N), "y": y})
    p = profile(frame, target="y", task="binary")
    assert p.columns_flagged("constant", "identifier") == ["id", "flat"]
    assert p.columns_flagged(*NOT_A_FEATURE) == p.not_features() == ["id", "flat"]
    assert p.columns_flagged("leakage", "identifier") == ["id", "copy"]
    assert p.columns_flagged("outliers") == []
    assert (p.count("error"), p.count("warning")) == (1, 2)


def test_findings_are_records():
    rng, y = _labels()
    p = profile(pd.DataFrame({"a": rng.normal(size=N), "copy": y, "y": y}), target="y",
                task="binary")
    record = p.findings[0].to_dict()
    assert record == {"kind": "leakage", "severity": "error", "column": "copy",
                      "message": p.findings[0].message, "value": 1.0, "other_column": None}
