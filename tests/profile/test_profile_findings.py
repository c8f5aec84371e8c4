import numpy as np
import pandas as pd
import pytest

from shipyard.profile import profile
from tests.profile.findings import kinds, one

N = 1000
rng = np.random.default_rng(0)


def _frame(**columns):
    """A clean base frame (nothing to find) plus the given columns."""
    base = {"x": rng.normal(size=N), "y": np.r_[np.zeros(N // 2), np.ones(N // 2)].astype(int)}
    return pd.DataFrame({**base, **columns})


def test_a_clean_frame_has_no_findings():
    assert profile(_frame(), target="y", task="binary").findings == []


def test_constant_column():
    p = profile(_frame(c=np.full(N, 7), two=np.r_[np.zeros(N - 20), np.ones(20)]),
                target="y", task="binary")
    finding = one(p, "constant")
    assert (finding.column, finding.severity) == ("c", "warning")
    assert kinds(p, "two") == []


def test_all_missing_column_is_constant_and_mostly_missing():
    p = profile(_frame(empty=np.full(N, np.nan)), target="y", task="binary")
    assert sorted(kinds(p, "empty")) == ["constant", "high_missing"]


@pytest.mark.parametrize(("ones", "found"), [(5, True), (10, False)])
def test_near_constant_above_99_percent(ones, found):
    p = profile(_frame(rare=np.r_[np.zeros(N - ones), np.ones(ones)]), target="y", task="binary")
    assert ("near_constant" in kinds(p, "rare")) is found
    if found:
        assert one(p, "near_constant").value == pytest.approx(0.995)


@pytest.mark.parametrize(("missing", "found"), [(510, True), (500, False)])
def test_high_missing_above_half(missing, found):
    values = np.r_[np.full(missing, np.nan), rng.normal(size=N - missing)]
    p = profile(_frame(m=values), target="y", task="binary")
    assert ("high_missing" in kinds(p, "m")) is found
    if found:
        finding = one(p, "high_missing")
        assert finding.severity == "warning" and finding.value == pytest.approx(0.51)


@pytest.mark.parametrize(("repeats", "severity"), [(0, None), (5, "info"), (20, "warning")])
def test_duplicate_rows(repeats, severity):
    frame = _frame()
    frame.iloc[N - repeats:] = frame.iloc[:repeats].to_numpy()
    p = profile(frame, target="y", task="binary")
    if severity is None:
        assert "duplicate_rows" not in kinds(p)
    else:
        finding = one(p, "duplicate_rows")
        assert (finding.severity, finding.value, finding.column) == (severity, repeats, None)
        assert p.duplicate_rows == repeats


def test_identifier_like_columns():
    frame = _frame(
        row_id=np.arange(N), code=[f"C{i:05d}" for i in range(N)],
        engine=np.arange(N), reading=rng.normal(size=N), small=rng.integers(0, 50, N),
    )
    p = profile(frame, target="y", task="binary", entity="engine")
    assert set(p.flagged("identifier")) == {"row_id", "code"}
    assert kinds(p, "code") == ["identifier"]  # not also high-cardinality


def test_a_few_rows_are_not_identifiers():
    frame = pd.DataFrame({"n": np.arange(10), "y": [0, 1] * 5})
    assert profile(frame, target="y", task="binary").findings == []


@pytest.mark.parametrize(("distinct", "rows", "found"), [
    (60, 1000, True), (60, 2000, False), (40, 1000, False),
])
def test_high_cardinality_text(distinct, rows, found):
    frame = pd.DataFrame({
        "city": [f"city{i % distinct}" for i in range(rows)],
        "y": np.arange(rows) % 2,
    })
    p = profile(frame, target="y", task="binary")
    assert ("high_cardinality" in kinds(p, "city")) is found
    assert "identifier" not in kinds(p)


@pytest.mark.parametrize(("positives", "found"), [(150, True), (250, False)])
def test_binary_class_imbalance(positives, found):
    frame = _frame(y=np.r_[np.zeros(N - positives), np.ones(positives)].astype(int))
    p = profile(frame, target="y", task="binary")
    assert p.target.imbalance_ratio == pytest.approx((N - positives) / positives)
    assert p.target.minority_share == pytest.approx(positives / N)
    assert ("class_imbalance" in kinds(p)) is found
    if found:
        finding = one(p, "class_imbalance")
        assert finding.severity == "warning" and finding.value == pytest.approx(850 / 150)
        assert "5.7x" in finding.message


def test_multiclass_imbalance_is_judged_against_a_balanced_split():
    balanced = np.arange(1200) % 6  # each class 16.7%: balanced for six classes
    p = profile(pd.DataFrame({"y": balanced, "x": rng.normal(size=1200)}), target="y",
                task="multiclass")
    assert "class_imbalance" not in kinds(p)
    skewed = np.r_[np.zeros(30), np.ones(320), np.full(325, 2), np.full(325, 3)].astype(int)
    p = profile(pd.DataFrame({"y": skewed}), target="y", task="multiclass")
    assert one(p, "class_imbalance").value == pytest.approx(325 / 30)


def test_single_class_target_is_an_error():
    p = profile(_frame(y=np.ones(N, dtype=int)), target="y", task="binary")
    finding = one(p, "single_class")
    assert finding.severity == "error" and p.has_errors
    assert p.findings[0] is finding  # errors come first
    assert "single_class" not in kinds(profile(_frame(), target="y", task="binary"))


def test_single_value_regression_target_is_not_a_class_problem():
    p = profile(_frame(y=np.ones(N)), target="y", task="regression")
    assert p.findings == []


def test_binary_task_with_three_classes_is_an_error():
    p = profile(_frame(y=np.arange(N) % 3), target="y", task="binary")
    assert one(p, "class_count").severity == "error"


def test_missing_target_values_are_noted():
    y = np.r_[np.full(3, np.nan), np.zeros(N // 2), np.ones(N // 2 - 3)]
    p = profile(_frame(y=y), target="y", task="binary")
    finding = one(p, "missing_target")
    assert (finding.severity, finding.value, finding.column) == ("info", 3, "y")
    assert p.target.missing == 3
    assert "missing_target" not in kinds(profile(_frame(), target="y", task="binary"))


def test_findings_are_sorted_most_severe_first():
    frame = _frame(c=np.zeros(N), rare=np.r_[np.zeros(N - 1), 1.0], y=np.ones(N, dtype=int))
    severities = [f.severity for f in profile(frame, target="y", task="binary").findings]
    assert severities == ["error", "warning", "info"]
