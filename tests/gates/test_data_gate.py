"""The data gate: each check passes and fails, and says which rows fail and why."""

import numpy as np
import pandas as pd
import pytest

from shipyard.gates import data_gate
from shipyard.gates.record import GateResult
from shipyard.profile.findings import Finding
from shipyard.spec.gates import DataGate


def rows(n=1000):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "age": rng.integers(18, 90, n),
        "income": rng.normal(50_000, 10_000, n),
        "contract": pd.Series(rng.choice(["Month-to-month", "One year", "Two year"], n),
                              dtype="str"),
        "senior": rng.integers(0, 2, n),
        "active": rng.random(n) > 0.5,
        "since": pd.date_range("2020-01-01", periods=n, freq="D"),
    })
    return frame


def gate(**kw):
    return DataGate.model_validate(kw)


def by_metric(results):
    return {r.metric: r for r in results}


def test_rows_pass_and_fail():
    (ok,) = data_gate.check(gate(min_rows=1000), rows())
    assert ok.metric == "rows" and ok.passed and ok.actual == 1000 and ok.op == ">="
    (low,) = data_gate.check(gate(min_rows=5000), rows())
    assert not low.passed and low.details == ("the query returned 1,000 rows; the project "
                                              "requires at least 5,000")


def test_presence_of_required_and_optional_columns():
    spec = gate(columns={"age": {}, "agee": {}, "extra": {"required": False}})
    r = by_metric(data_gate.check(spec, rows()))
    assert r["age.present"].passed
    assert not r["agee.present"].passed
    assert r["agee.present"].details == "the query does not return 'agee' (did you mean 'age'?)"
    assert r["extra.present"].passed and "not required" in r["extra.present"].details
    assert "agee.type" not in r  # nothing else is checked on a missing column


@pytest.mark.parametrize("column, kind", [
    ("age", "integer"), ("age", "number"), ("income", "number"), ("contract", "text"),
    ("active", "boolean"), ("since", "datetime"),
])
def test_types_that_fit(column, kind):
    (_, r) = data_gate.check(gate(columns={column: {"type": kind}}), rows())
    assert r.metric == f"{column}.type" and r.passed and r.actual == 0


@pytest.mark.parametrize("column, kind", [
    ("income", "integer"), ("contract", "number"), ("age", "text"), ("senior", "boolean"),
    ("contract", "datetime"),
])
def test_types_that_do_not_fit(column, kind):
    (_, r) = data_gate.check(gate(columns={column: {"type": kind}}), rows())
    assert not r.passed and r.actual > 0
    assert f"expected {data_gate._title(kind)}" in r.details


def test_integers_with_gaps_are_integers_and_fractions_are_named():
    frame = pd.DataFrame({"n": [1.0, 2.0, np.nan, 4.0, 5.5, 6.0, 7.25]})
    (_, r) = data_gate.check(gate(columns={"n": {"type": "integer"}}), frame)
    assert not r.passed and r.actual == 2
    assert r.details == "'n': 2 rows hold fractions, expected integers: rows 4 (n=5.5), 6 (n=7.25)"
    (_, ok) = data_gate.check(gate(columns={"n": {"type": "integer"}}), frame.iloc[:4])
    assert ok.passed


def test_numbers_written_as_text_name_those_that_are_no_number():
    frame = pd.DataFrame({"total": pd.Series(["29.85", " ", "108.15", "n/a"], dtype="str")})
    (_, r) = data_gate.check(gate(columns={"total": {"type": "number"}}), frame)
    assert not r.passed and r.actual == 4
    assert "cast it in the query" in r.details
    assert "2 rows are no number: rows 1 (total=' '), 3 (total='n/a')" in r.details


def test_range_names_the_rows_and_values_outside():
    frame = rows()
    frame.loc[17, "age"], frame.loc[204, "age"], frame.loc[991, "age"] = -1, 430, 999
    (_, r) = data_gate.check(gate(columns={"age": {"min": 0, "max": 120}}), frame)
    assert r.metric == "age.range" and not r.passed and r.actual == 3
    assert r.details == ("age: 3 rows outside [0, 120]: rows 17 (age=-1), 204 (age=430), "
                         "991 (age=999)")
    (_, ok) = data_gate.check(gate(columns={"age": {"min": 0, "max": 120}}), rows())
    assert ok.passed and ok.details == "every value of 'age' is in [0, 120]"


def test_a_one_sided_range_and_many_offenders():
    (_, r) = data_gate.check(gate(columns={"age": {"min": 80}}), rows())
    assert not r.passed and r.details.startswith(f"age: {int(r.actual):,} rows outside [80, inf]")
    assert r.details.endswith(", ...")  # only the first few rows are named


def test_a_range_on_dates_cannot_be_checked():
    (_, r) = data_gate.check(gate(columns={"since": {"min": 0}}), rows())
    assert not r.passed and "a range needs numbers" in r.details


def test_categories_name_unexpected_values_and_rows():
    frame = rows(10)
    frame.loc[[3, 7], "contract"] = "monthly"
    spec = gate(columns={"contract": {"categories": ["Month-to-month", "One year", "Two year"]}})
    (_, r) = data_gate.check(spec, frame)
    assert r.metric == "contract.categories" and not r.passed and r.actual == 2
    assert r.details.startswith("contract: 2 rows with a value not allowed ('monthly' (2)): "
                                "rows 3 (contract='monthly'), 7 (contract='monthly'); allowed:")
    (_, ok) = data_gate.check(spec, rows())
    assert ok.passed


def test_numeric_categories_compare_as_numbers():
    frame = pd.DataFrame({"senior": [0, 1, 1, 2], "share": [0.0, 1.0, 0.5, 1.0]})
    r = by_metric(data_gate.check(gate(columns={"senior": {"categories": [0, 1]},
                                                "share": {"categories": ["0", 1]}}), frame))
    assert r["senior.categories"].actual == 1 and "row 3 (senior=2)" in \
        r["senior.categories"].details
    assert r["share.categories"].actual == 1 and "rows 2 (share=0.5)" not in \
        r["share.categories"].details and "row 2 (share=0.5)" in r["share.categories"].details


def test_missing_share_per_column_and_for_every_column():
    frame = rows(100)
    frame.loc[[5, 6, 7], "income"] = np.nan
    frame["contract"] = frame["contract"].where(frame.index != 9, " ")
    spec = gate(max_missing=0.02, columns={"income": {"max_missing": 0.05}})
    r = by_metric(data_gate.check(spec, frame))
    assert {m for m in r if m.endswith(".missing")} == {f"{c}.missing" for c in frame.columns}
    assert r["income.missing"].passed and r["income.missing"].threshold == 0.05
    assert r["contract.missing"].passed and "1 of them blank text" in \
        r["contract.missing"].details
    strict = by_metric(data_gate.check(gate(max_missing=0.02), frame))
    assert not strict["income.missing"].passed
    assert strict["income.missing"].details == ("'income' is missing in 3.0% of rows (3 of 100); "
                                                "at most 2.0% allowed: rows 5, 6, 7")


def test_leakage_suspects_warn_block_or_are_ignored():
    findings = [Finding("leakage", "error", "refund", "'refund' alone predicts 'churn'...", 0.999),
                Finding("identifier", "warning", "id", "'id' looks like an identifier", 1.0),
                {"kind": "leakage", "column": "status", "message": "'status' alone ..."}]
    warn = data_gate.check(gate(), rows(), findings)
    assert [(r.metric, r.passed, r.blocking, r.ok) for r in warn] == [
        ("refund.leakage", False, False, True), ("status.leakage", False, False, True)]
    assert warn[0].details == "leakage suspect: 'refund' alone predicts 'churn'..."
    block = data_gate.check(gate(leakage="block", blocking=False), rows(), findings)
    assert all(r.blocking and not r.ok for r in block)
    assert data_gate.check(gate(leakage="off"), rows(), findings) == []


def test_a_non_blocking_gate_only_warns():
    (r,) = data_gate.check(gate(min_rows=5000, blocking=False), rows())
    assert not r.passed and not r.blocking and r.ok


def test_explain_lists_failures_blocking_first():
    results = [
        GateResult("data", "rows", 10, ">=", 100, True, "fine"),
        GateResult("data", "x.leakage", 1, "<=", 0, False, "leakage suspect: x", blocking=False),
        GateResult("data", "age.range", 3, "<=", 0, False, "age: 3 rows outside [0, 120]"),
        GateResult("data", "y.missing", 0.5, "<=", 0.1, False, "'y' is missing",
                   overridden="known gap"),
    ]
    assert data_gate.explain(results) == [
        "data.age.range: age: 3 rows outside [0, 120]",
        "data.x.leakage: leakage suspect: x (warning only)",
        "data.y.missing: 'y' is missing (overridden: known gap)",
    ]
    assert data_gate.explain(results[:1]) == []
