"""Maintenance policies replayed on held-out entities: counts checked by hand on
small histories, and the project-file checks."""

from __future__ import annotations

import numpy as np
import pytest

from shipyard import spec
from shipyard.errors import SpecError
from shipyard.evaluate import costs
from shipyard.spec.options import Costs

SPEC = Costs(act_below=3, finds_within=4, interval=5, recheck_after=2, action_cost=10,
             event_cost=1000, currency="EUR")


def _entity(name, truth, predicted):
    n = len(truth)
    return [name] * n, list(range(n)), list(truth), list(predicted)


def _table(*entities, spec_=SPEC):
    e, t, y, p = ([], [], [], [])
    for ent in entities:
        for acc, part in zip((e, t, y, p), ent, strict=True):
            acc.extend(part)
    order = np.random.default_rng(0).permutation(len(e))  # rows in any order
    return costs.table(spec_, *(np.asarray(a, dtype=object if i == 0 else float)[order]
                                for i, a in enumerate((e, t, y, p))))


def test_each_policy_is_replayed_row_by_row():
    # a: fails after 8 rows; the model says 2 at row 3 (truth 5: too early, nothing to
    #    find), is quiet for recheck_after, says 1 at row 6 (truth 2): found.
    a = _entity("a", [8, 7, 6, 5, 4, 3, 2, 1, 0], [9, 9, 9, 2, 2, 9, 1, 1, 1])
    # b: fails; the model never goes below 3: an event in service.
    b = _entity("b", [6, 5, 4, 3, 2, 1, 0], [9, 9, 9, 9, 9, 9, 9])
    # c: does not fail in the data (censored); one false alarm.
    c = _entity("c", [20, 19, 18, 17, 16, 15], [9, 0, 9, 9, 9, 9])
    out = _table(a, b, c)
    assert list(out.columns) == costs.COLUMNS
    by = out.set_index("policy")
    assert by.loc["no model"].tolist() == [0, 0, 2, 2000]
    # every 5 rows: a at rows 4 (truth 4, not < 4) and 9? (no, 9 rows: 4 only) -> event;
    # b at row 4 (truth 2): found; c at row 4: nothing.
    assert by.loc["inspect every 5 rows"].tolist() == [3, 1, 1, 1030]
    # the model: a two inspections (rows 3 and 6, found); b none (event); c one.
    assert by.loc["the model (inspect below 3)"].tolist() == [3, 1, 1, 1030]
    assert out.attrs == {"entities": 3, "failed": 2, "currency": "EUR"}
    text = costs.summary(out)
    assert "1 events in service against 2 with no model (50% fewer)" in text
    assert "1,030 EUR" in text


def test_an_early_warning_beats_a_late_schedule():
    fails = [_entity(f"e{i}", list(range(13, -1, -1)), [20] * 10 + [2, 2, 2, 2])
             for i in range(4)]
    out = _table(*fails).set_index("policy")
    assert out.loc["the model (inspect below 3)", "events in service"] == 0
    assert out.loc["the model (inspect below 3)", "inspections"] == 4
    # rows 4 and 9, at truth 9 and 4: too early to find anything
    assert out.loc["inspect every 5 rows", "events in service"] == 4
    assert out.loc["no model", "cost"] == 4000


BASE = """\
name: p
source: {{url: "duckdb:///rows.duckdb", query: "SELECT 1"}}
models: [{{name: linear}}]
target: y
task: {task}
{extra}
evaluate:
  costs: {{act_below: 30, finds_within: 40, interval: 100, action_cost: 1, event_cost: 9}}
"""


@pytest.mark.parametrize(("task", "extra", "message"), [
    ("binary", "entity: e\ntime: t", "a time left before an event, a regression target"),
    ("regression", "entity: e", "set 'time'"),
    ("regression", "", "set 'entity' and 'time'"),
])
def test_costs_need_a_regression_with_entity_and_time(task, extra, message):
    with pytest.raises(SpecError) as info:
        spec.parse(BASE.format(task=task, extra=extra), sources=False)
    assert any("evaluate.costs" in d and message in d for d in info.value.details), \
        info.value.details


def test_costs_settings_are_checked():
    text = BASE.format(task="regression", extra="entity: e\ntime: t").replace(
        "interval: 100", "interval: 0")
    with pytest.raises(SpecError, match="1 problem") as info:
        spec.parse(text, sources=False)
    assert "evaluate.costs.interval" in " ".join(info.value.details)
