"""The recent holdout, the extraction window, and the warm start of tuning."""

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from shipyard.errors import DataError, SourceError
from shipyard.lifecycle import challenger
from shipyard.loop import window
from shipyard.metrics import METRICS
from shipyard.prepare import dataset
from shipyard.spec import Range, Tuning
from shipyard.spec.monitoring import Recent
from shipyard.train import search
from shipyard.train.cv import Candidate
from tests.helpers import frame, project

from .project import append, rows, write


def _ds(entity: bool = True):
    extra = "entity: eid\ntime: t\n" if entity else "time: t\n"
    data = frame(600).drop(columns=["label", "kind"] + ([] if entity else ["eid"]))
    return dataset(data, project(extra=extra))


def test_recent_entities_are_held_out_whole_and_scored_in_the_span():
    ds = _ds()  # 60 entities, 10 hourly rows each, over 25 days
    fit, held, scored = challenger.recent(ds, Recent(span="2d", share=0.5), seed=0)
    assert set(ds.groups[fit]).isdisjoint(ds.groups[held])  # no entity on both sides
    recent_entities = set(ds.groups[ds.times >= ds.times.max() - np.timedelta64(48, "h")])
    assert set(ds.groups[held]) <= recent_entities
    assert len(set(ds.groups[held])) == round(len(recent_entities) * 0.5)
    assert len(fit) + len(held) == len(ds)
    cut = ds.times.max() - np.timedelta64(48, "h")
    expected = ds.times[held] >= cut
    assert (scored if scored is not None else np.ones(len(held), bool)).tolist() == \
        expected.tolist()
    again = challenger.recent(ds, Recent(span="2d", share=0.5), seed=0)
    assert again[1].tolist() == held.tolist()  # seeded


def test_without_an_entity_a_share_of_the_recent_rows_is_held_out():
    ds = _ds(entity=False)
    fit, held, scored = challenger.recent(ds, Recent(span="1d", share=0.25), seed=1)
    assert scored is None and len(held) == 6  # a quarter of the last 24 (+1) hourly rows
    assert (ds.times[held] >= ds.times.max() - np.timedelta64(24, "h")).all()


def test_too_little_recent_data_is_a_clear_error():
    with pytest.raises(DataError, match="Too few recent entities"):
        challenger.recent(_ds(), Recent(span="1s", share=0.5), seed=0)


def test_the_window_starts_from_the_latest_time_in_the_source(tmp_path: Path):
    append(tmp_path, rows(100, start="2026-03-01"))  # hourly to 2026-03-05 03:00
    table, since = window.extract(write(tmp_path, window="1d"))
    assert since == "2026-03-04 03:00:00"
    assert table.num_rows == 25
    table, since = window.extract(write(tmp_path, window=None))
    assert (table.num_rows, since) == (100, None)


def test_a_window_on_a_broken_query_fails_clearly(tmp_path: Path):
    append(tmp_path, rows(20))
    with pytest.raises(SourceError, match="The query failed"):
        window.extract(write(tmp_path, query="SELECT * FROM nowhere"))


@pytest.mark.parametrize("latest, span, since, literal", [
    (dt.datetime(2026, 1, 10, 12), "36h", dt.datetime(2026, 1, 9), "'2026-01-09 00:00:00'"),
    (dt.date(2026, 1, 10), "12h", dt.date(2026, 1, 9), "'2026-01-09'"),
    (1_000_000, "1m", 999_940, "999940"),
    ("2026-01-10T12:00:00", "1d", "2026-01-09T12:00:00", "'2026-01-09T12:00:00'"),
    ("2026-01-10", "2d", "2026-01-08", "'2026-01-08'"),
])
def test_window_starts_keep_the_sources_type(latest, span, since, literal):
    assert window._since(latest, span) == since
    assert window._literal(since) == literal


def test_tuning_starts_from_the_champions_parameters():
    seen = []

    def score(params, on_fold):
        seen.append(params)
        return Candidate("linear", params, {"rmse": [params["alpha"]]}, 0.0)

    space = {"alpha": Range(low=0.01, high=100.0, log=True), "fit_intercept": [True, False]}
    start = {"alpha": 3.5, "fit_intercept": False, "unrelated": 1}
    search.tune("linear", {"tol": 1e-4}, space, score, METRICS["rmse"], Tuning(trials=3), 0,
                lambda *a: None, start)
    assert seen[0] == {"tol": 1e-4, "alpha": 3.5, "fit_intercept": False}
    assert len(seen) == 3 and seen[1]["alpha"] != 3.5

    seen.clear()  # a start outside the space is not tried (Optuna would warn and use it)
    search.tune("linear", {}, space, score, METRICS["rmse"], Tuning(trials=1), 0,
                lambda *a: None, {"alpha": 500.0})
    assert seen[0]["alpha"] != 500.0
