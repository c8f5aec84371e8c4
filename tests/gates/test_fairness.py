"""The fairness audit's numbers against hand-computed group rates, the checks'
verdicts and wording, and the report section."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from shipyard.gates.fairness import MISSING, audit, check
from shipyard.gates.fairness_section import section
from shipyard.spec.gates import FairnessGate

# Men: 2 positives (both predicted positive), 2 negatives (one predicted positive).
# Women: 1 positive (missed), 3 negatives (one predicted positive).
Y_TRUE = [1, 1, 0, 0, 1, 0, 0, 0]
Y_PRED = [1, 1, 1, 0, 0, 0, 1, 0]
SEX = pd.DataFrame({"sex": ["M"] * 4 + ["F"] * 4})


def gate(*checks, blocking=True) -> FairnessGate:
    return FairnessGate(sensitive=["sex"], checks=list(checks), blocking=blocking)


def row(a, **where) -> pd.Series:
    mask = np.logical_and.reduce([a.groups[k] == v for k, v in where.items()])
    assert mask.sum() == 1
    return a.groups[mask].iloc[0]


def test_binary_group_rates_match_hand_counts():
    a = audit("binary", Y_TRUE, Y_PRED, SEX)
    men, women = row(a, sex="M"), row(a, sex="F")
    assert (men["count"], women["count"]) == (4, 4)
    assert men["selection_rate"] == 0.75 and women["selection_rate"] == 0.25
    assert men["true_positive_rate"] == 1.0 and women["true_positive_rate"] == 0.0
    assert men["false_positive_rate"] == 0.5
    assert women["false_positive_rate"] == pytest.approx(1 / 3)
    assert men["accuracy"] == 0.75 and women["accuracy"] == 0.5
    assert a.overall == pytest.approx({"selection_rate": 0.5, "true_positive_rate": 2 / 3,
                                       "false_positive_rate": 0.4, "accuracy": 5 / 8})
    assert a.summary == pytest.approx({
        "demographic_parity_difference": 0.5, "demographic_parity_ratio": 1 / 3,
        "equalized_odds_difference": 1.0, "equalized_odds_ratio": 0.0,
        "accuracy_difference": 0.25})
    assert list(a.groups.columns) == ["sex", "count", "selection_rate", "true_positive_rate",
                                      "false_positive_rate", "accuracy"]


def test_class_labels_with_a_positive_class_give_the_same_audit():
    words = {1: ">50K", 0: "<=50K"}
    a = audit("binary", [words[v] for v in Y_TRUE], [words[v] for v in Y_PRED], SEX,
              positive=">50K")
    assert a.summary == audit("binary", Y_TRUE, Y_PRED, SEX).summary
    with pytest.raises(ValueError, match="positive class"):
        audit("binary", [words[v] for v in Y_TRUE], [words[v] for v in Y_PRED], SEX)


def test_difference_check_fails_with_the_groups_at_the_extremes():
    a = audit("binary", Y_TRUE, Y_PRED, SEX)
    failed, passed = check(gate({"metric": "demographic_parity_difference", "max": 0.1},
                                {"metric": "accuracy_difference", "max": 0.3}), a)
    assert (failed.gate, failed.metric, failed.op, failed.threshold) == \
        ("fairness", "demographic_parity_difference", "<=", 0.1)
    assert failed.actual == 0.5 and not failed.passed and failed.blocking
    assert failed.details == ("selection rate 0.75 for sex=M vs 0.25 for sex=F: a gap of "
                              "0.50; the project allows 0.1")
    assert passed.passed and passed.actual == 0.25 and "accuracy 0.75 for sex=M" in passed.details


def test_ratio_check_needs_at_least_its_bound():
    a = audit("binary", Y_TRUE, Y_PRED, SEX)
    strict, loose = check(gate({"metric": "demographic_parity_ratio", "min": 0.8},
                               {"metric": "demographic_parity_ratio", "min": 0.3},
                               blocking=False), a)
    assert strict.op == ">=" and not strict.passed and not strict.blocking
    assert strict.details == ("selection rate 0.25 for sex=F is 0.33 of 0.75 for sex=M; "
                              "the project requires at least 0.8")
    assert loose.passed and loose.actual == pytest.approx(1 / 3)


def test_equalized_odds_names_the_rate_with_the_larger_gap():
    a = audit("binary", Y_TRUE, Y_PRED, SEX)
    (r,) = check(gate({"metric": "equalized_odds_difference", "max": 0.2}), a)
    assert not r.passed
    assert r.details.startswith("true positive rate 1.00 for sex=M vs 0.00 for sex=F")


def test_missing_values_form_their_own_group_and_absent_rates_are_left_out():
    sensitive = pd.DataFrame({"sex": ["M", "M", "F", "F", None, np.nan]})
    # the missing group has no positive rows: it has no true positive rate
    a = audit("binary", [1, 0, 1, 0, 0, 0], [1, 0, 1, 1, 1, 0], sensitive)
    missing = row(a, sex=MISSING)
    assert missing["count"] == 2 and missing["selection_rate"] == 0.5
    assert math.isnan(missing["true_positive_rate"]) and missing["false_positive_rate"] == 0.5
    # TPR is 1 in both groups that have positives; FPR spans 0 (M) to 1 (F)
    assert a.summary["equalized_odds_difference"] == 1.0
    assert row(a, sex="F")["false_positive_rate"] == 1.0
    record = a.to_dict()
    json.dumps(record)  # JSON-ready: NaN became None
    assert {"sex": MISSING, "count": 2, "selection_rate": 0.5, "true_positive_rate": None,
            "false_positive_rate": 0.5, "accuracy": 0.5} in record["groups"]


def test_several_columns_give_only_the_combinations_that_occur():
    sensitive = pd.DataFrame({"sex": ["M", "M", "F", "F"], "race": ["a", "b", "a", "a"]})
    a = audit("multiclass", ["x", "y", "z", "x"], ["x", "y", "x", "x"], sensitive)
    assert sorted(zip(a.groups["sex"], a.groups["race"], strict=True)) == \
        [("F", "a"), ("M", "a"), ("M", "b")]
    assert row(a, sex="F", race="a")["accuracy"] == 0.5
    assert a.summary == {"accuracy_difference": 0.5}
    (r,) = check(FairnessGate(sensitive=["sex", "race"],
                              checks=[{"metric": "accuracy_difference", "max": 0.1}]), a)
    assert "for sex=F, race=a" in r.details and not r.passed


def test_regression_groups_have_mean_prediction_and_errors():
    sensitive = pd.DataFrame({"site": ["A", "A", "B", "B"]})
    a = audit("regression", [1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 3.0, 6.0], sensitive)
    site_a, site_b = row(a, site="A"), row(a, site="B")
    assert (site_a["mean_prediction"], site_a["mae"]) == (2.0, 0.5)
    assert site_a["rmse"] == pytest.approx(math.sqrt(0.5))
    assert (site_b["mean_prediction"], site_b["mae"]) == (4.5, 1.0)
    assert site_b["rmse"] == pytest.approx(math.sqrt(2))
    assert a.summary == pytest.approx({"mae_difference": 0.5,
                                       "rmse_difference": math.sqrt(2) - math.sqrt(0.5)})
    (r,) = check(FairnessGate(sensitive=["site"], checks=[{"metric": "mae_difference",
                                                           "max": 1.0}]), a)
    assert r.passed and r.op == "<=" and "mean absolute error 1.00 for site=B" in r.details


def test_a_metric_the_task_has_not_never_passes():
    a = audit("regression", [1.0, 2.0], [1.0, 2.0], pd.DataFrame({"g": ["a", "b"]}))
    (r,) = check(FairnessGate(sensitive=["g"], checks=[
        {"metric": "demographic_parity_difference", "max": 0.1}]), a)
    assert not r.passed and "does not fit a regression task" in r.details


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="must match"):
        audit("binary", [1, 0], [1, 0, 1], pd.DataFrame({"sex": ["M", "F"]}))


def test_section_shows_groups_plot_and_verdicts():
    before = audit("binary", Y_TRUE, Y_PRED, SEX)
    results = check(gate({"metric": "demographic_parity_difference", "max": 0.1},
                         {"metric": "accuracy_difference", "max": 0.3}), before)
    s = section(before, results)
    assert s.title == "Fairness"
    assert s.html.count("<img") == 1 and "data:image/png;base64," in s.html
    assert "FAIL" in s.html and "pass" in s.html and "not checked" in s.html
    assert "1 blocking fairness check(s) failed" in s.html
    assert "selection rate 0.75 for sex=M" in s.html and "all rows" in s.html
    assert "Mitigation" not in s.html


def test_section_with_mitigation_shows_effect_and_cost():
    before = audit("binary", Y_TRUE, Y_PRED, SEX)
    after = audit("binary", Y_TRUE, [1, 1, 0, 0, 1, 1, 0, 0], SEX)  # both groups at 0.5
    results = check(gate({"metric": "demographic_parity_difference", "max": 0.1}), after)
    s = section(before, results, after, cost={"accuracy": (0.625, 0.875)},
                method="exponentiated_gradient")
    assert results[0].passed and "Every fairness check passed" in s.html
    assert "Mitigation: exponentiated gradient" in s.html
    assert "+0.2500" in s.html  # the accuracy change
    assert "-0.5000" in s.html  # the parity gap closed
    assert "Per group, before" in s.html and "Per group, after" in s.html
    assert s.html.count("<img") == 1 and 'alt="Group metrics by sex"' in s.html
