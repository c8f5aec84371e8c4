"""Quality gates judge holdout metrics and produce records."""

import math

from shipyard import gates
from tests.helpers import project


def _p(gate_lines):
    return project(extra="gates:\n  quality:\n" + gate_lines)


def test_min_and_max_each_make_a_record():
    p = _p("    - {metric: rmse, max: 2.0}\n    - {metric: r2, min: 0.5, max: 0.99}\n")
    results = gates.check(p, {"rmse": 1.5, "r2": 0.995, "mae": 1.0})
    assert [(r.metric, r.op, r.threshold, r.passed) for r in results] == [
        ("rmse", "<=", 2.0, True), ("r2", ">=", 0.5, True), ("r2", "<=", 0.99, False)]
    assert not gates.passed(results)
    assert results[2].to_dict()["name"] == "quality: r2 <= 0.99"
    assert "0.995" in results[2].details


def test_nan_never_passes():
    results = gates.check(_p("    - {metric: r2, min: 0.0}\n"), {"r2": math.nan})
    assert not results[0].passed


def test_no_gates_pass_and_section_says_so():
    assert gates.passed([])
    assert "declares no gates" in gates.section([]).html
    failed = gates.check(_p("    - {metric: rmse, max: 1}\n"), {"rmse": 2.0})
    assert "FAIL" in gates.section(failed).html and "not registered" in gates.section(failed).html
