"""Quality gates, records, overrides and the Gates section."""

import math

import pytest

from shipyard import gates
from shipyard.errors import SpecError
from tests.helpers import project


def _p(gate_lines, task="regression", extra=""):
    return project(task=task, extra="gates:\n  quality:\n" + gate_lines + extra)


def test_min_and_max_each_make_a_record():
    p = _p("    - {metric: rmse, max: 2.0}\n    - {metric: r2, min: 0.5, max: 0.99}\n")
    results = gates.check_quality(p, {"rmse": 1.5, "r2": 0.995, "mae": 1.0})
    assert [(r.metric, r.op, r.threshold, r.passed) for r in results[:3]] == [
        ("rmse", "<=", 2.0, True), ("r2", ">=", 0.5, True), ("r2", "<=", 0.99, False)]
    assert results[3].gate == "overfitting" and results[3].passed and not results[3].blocking
    assert not gates.passed(results)
    assert results[2].to_dict()["name"] == "quality: r2 <= 0.99"
    assert results[2].key == "quality.r2"
    assert "0.995" in results[2].details


def test_nan_never_passes():
    results = gates.check_quality(_p("    - {metric: r2, min: 0.0}\n"), {"r2": math.nan})
    assert not results[0].passed


def test_baseline_and_champion_are_relative_with_a_margin():
    p = _p("    - {metric: rmse, vs: baseline, margin: 0.1}\n"
           "    - {metric: rmse, vs: champion}\n", extra="  overfitting: 'off'\n")
    ok = gates.check_quality(p, {"rmse": 8.9}, baseline={"rmse": 10.0},
                             champion={"rmse": 9.0}, champion_version="3")
    assert [(r.key, r.reference, r.threshold, r.passed) for r in ok] == [
        ("quality.rmse.vs_baseline", "baseline", pytest.approx(9.0), True),
        ("quality.rmse.vs_champion", "champion", 9.0, True)]
    assert "version 3" in ok[1].details
    worse = gates.check_quality(p, {"rmse": 9.5}, baseline={"rmse": 10.0},
                                champion={"rmse": 9.0})
    assert [r.passed for r in worse] == [False, False]
    # greater is better: the threshold moves up
    auc = _p("    - {metric: roc_auc, vs: baseline, margin: 0.2}\n", task="binary")
    r = gates.check_quality(auc, {"roc_auc": 0.59}, baseline={"roc_auc": 0.5})[0]
    assert (r.op, r.threshold, r.passed) == (">=", pytest.approx(0.6), False)


def test_no_champion_yet_passes_and_says_so():
    p = _p("    - {metric: rmse, vs: champion, margin: 0.05}\n")
    r = gates.check_quality(p, {"rmse": 3.0}, champion=None)[0]
    assert r.passed and "no champion yet" in r.details


def test_overfitting_warns_or_blocks():
    finding = [{"kind": "overfitting", "message": "lightgbm scores 0.1 on training rows"}]
    warn = gates.check_quality(project(), {"rmse": 1.0}, findings=finding)
    assert warn[-1].gate == "overfitting" and not warn[-1].passed and gates.passed(warn)
    block = gates.check_quality(project(extra="gates:\n  overfitting: block\n"), {"rmse": 1.0},
                                findings=finding)
    assert not gates.passed(block) and "training rows" in block[-1].details
    assert gates.check_quality(project(extra="gates:\n  overfitting: 'off'\n"), {}) == []


def test_an_override_lets_a_failed_check_through_with_its_reason():
    p = _p("    - {metric: rmse, max: 1}\n    - {metric: mae, max: 1}\n")
    results = gates.check_quality(p, {"rmse": 2.0, "mae": 2.0})
    given = gates.overrides(["quality.rmse"], "known noisy week", by="ana")
    applied = gates.apply(results, given)
    assert applied[0].overridden == "known noisy week" and applied[0].ok
    assert applied[1].overridden is None and not gates.passed(applied)
    everything = gates.apply(results, gates.overrides(["quality"], "accepted by the board"))
    assert gates.passed(everything)
    assert gates.failures(everything) == []


def test_overrides_need_a_reason_and_a_known_gate():
    with pytest.raises(SpecError, match="needs a reason"):
        gates.overrides(["fairness"], None)
    with pytest.raises(SpecError, match="needs a reason"):
        gates.overrides(["fairness"], "  ")
    with pytest.raises(SpecError, match="no such gate"):
        gates.overrides(["beauty"], "because")
    with pytest.raises(SpecError, match="without --override"):
        gates.overrides([], "because")
    assert gates.overrides([], None) == []


def test_no_gates_pass_and_section_says_so():
    assert gates.passed([])
    assert "declares no gates" in gates.section([]).html
    failed = gates.check_quality(_p("    - {metric: rmse, max: 1}\n"), {"rmse": 2.0})
    html = gates.section(failed).html
    assert "FAIL" in html and "not registered" in html and "--override" in html
    overridden = gates.apply(failed, gates.overrides(["quality"], "a known outage"))
    html = gates.section(overridden).html
    assert "overridden" in html and "a known outage" in html
