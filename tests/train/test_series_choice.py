"""prepare.series: auto — windows, stats and smoothing chosen by grouped CV, and the
default candidates of a project file without models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shipyard import registry, spec
from shipyard.errors import SpecError
from shipyard.lifecycle import run_project
from shipyard.prepare import dataset
from shipyard.prepare.series import SeriesFeatures, memo, series_step
from shipyard.train import _space
from shipyard.train.series_choice import HISTORY, SMOOTH, STATS, WINDOWS, choose
from tests.helpers import project


def fleet(engines: int = 40, seed: int = 0) -> pd.DataFrame:
    """Engines that run to failure. Each has its own sensor levels (as real engines
    do), so a reading tells the wear only next to that engine's own earlier ones."""
    rng = np.random.default_rng(seed)
    rows = []
    for unit in range(engines):
        life = int(rng.integers(60, 140))
        level = rng.normal(0, 3, 3)
        cycles = np.arange(1, life + 1)
        wear = np.exp((cycles - life) / 25.0)
        frame = pd.DataFrame({"unit": unit, "cycle": cycles.astype(float),
                              "rul": np.minimum(life - cycles, 80).astype(float)})
        for k in range(3):
            frame[f"s{k}"] = level[k] + (k + 1) * wear + rng.normal(0, 0.3, life)
        rows.append(frame)
    return pd.concat(rows, ignore_index=True)


def _project(series: str, models: str = "[{name: linear}]"):
    return project("regression", target="rul", models=models,
                   extra=f"entity: unit\ntime: cycle\nsplit: {{folds: 3}}\n"
                         f"prepare: {{series: {series}}}")


def test_only_what_is_auto_is_chosen_the_rest_is_kept():
    p = _project("{windows: [5, 10], stats: auto, lags: [1]}")
    assert p.prepare.series.chosen == ("stats",)
    choice = choose(dataset(fleet(engines=20), p), p)
    assert [t.windows for t in choice.tried] == [(5, 10)] * len(STATS)
    assert choice.series.windows == [5, 10] and choice.series.lags == [1]
    assert choice.series.smooth is None and tuple(choice.series.stats) in STATS


def test_auto_needs_a_target_and_a_list_is_never_empty():
    with pytest.raises(SpecError, match="needs a target"):
        spec.parse("name: t\nsource: {url: 'duckdb:///x.duckdb', query: SELECT 1}\n"
                   "task: anomaly\nentity: u\ntime: c\nprepare: {series: auto}\n")
    with pytest.raises(SpecError, match="windows"):
        _project("{windows: []}")
    with pytest.raises(SpecError, match="stats"):
        _project("{stats: often}")


def test_a_project_without_models_gets_the_default_candidates_each_tuned():
    text = "name: t\nsource: {url: 'duckdb:///x.duckdb', query: SELECT 1}\ntarget: y\n"
    p = spec.parse(text + "task: binary\n")
    assert [(m.name, m.search) for m in p.models] == [("linear", "auto"), ("lightgbm", "auto")]
    detector = spec.parse(text.replace("target: y\n", "") + "task: anomaly\n")
    assert [m.name for m in detector.models] == ["isolation_forest"]


def test_with_early_stopping_the_default_space_leaves_the_tree_count_to_the_folds():
    model = spec.Model(name="lightgbm", search="auto")
    space, fixed = _space(model, "regression", patience=50)
    assert "n_estimators" not in space and fixed == {"n_estimators": 1000}
    space, fixed = _space(model, "regression", patience=None)
    assert "n_estimators" in space and fixed == {}
    space, fixed = _space(spec.Model(name="linear", search="auto"), "regression", 50)
    assert list(space) == ["alpha"] and fixed == {}


def test_the_memo_gives_the_same_features_and_never_a_stale_answer():
    frame = fleet(engines=10).drop(columns="rul")
    frame["mode"] = (frame["cycle"] % 2).astype(float)
    shifted = frame.assign(s0=frame["s0"] + 5.0)
    step = SeriesFeatures("unit", "cycle", windows=(5, HISTORY), stats=("mean", "slope"),
                          regime="mode")
    plain = step.fit(frame).transform(frame)
    other = SeriesFeatures(**step.get_params()).fit(shifted).transform(frame)
    with memo():
        first = step.transform(frame)
        again = step.transform(frame)
        changed = frame.copy()
        changed.loc[3, "s0"] += 1.0
        moved = step.transform(changed)
        refit = step.fit(shifted).transform(frame)  # what fit learnt is part of the key
    pd.testing.assert_frame_equal(first, plain)
    pd.testing.assert_frame_equal(again, plain)
    assert moved.loc[3, "s0_mean_5"] != plain.loc[3, "s0_mean_5"]
    pd.testing.assert_frame_equal(refit, other)
    assert not np.allclose(other["s0"], plain["s0"])


def test_a_run_with_series_auto_records_the_choice_and_serves_what_it_chose(tmp_path: Path):
    fleet().to_csv(tmp_path / "fleet.csv", index=False)
    (tmp_path / "shipyard.yaml").write_text(
        "name: fleet\nsource:\n  files: {fleet: fleet.csv}\n  query: SELECT * FROM fleet\n"
        "target: rul\ntask: regression\nentity: unit\ntime: cycle\n"
        "split: {holdout: 0.25, folds: 3}\nprepare: {series: auto}\n"
        "models: [{name: lightgbm, params: {n_estimators: 40}}]\n")
    outcome = run_project(spec.load(tmp_path / "shipyard.yaml"))
    chosen = outcome.training.series
    assert outcome.version == "1" and chosen.open == ("windows", "stats", "smooth")
    # every window set once, then each other stats and smoothing on the best so far
    assert len(chosen.tried) == len(WINDOWS) + len(STATS) - 1 + len(SMOOTH) - 1
    assert {t.windows for t in chosen.tried} == set(WINDOWS)
    # levels differ by engine: only a window over the whole history tells wear from level
    assert HISTORY in chosen.series.windows
    best = chosen.best
    assert all(best.mean <= t.mean for t in chosen.tried)
    assert (list(best.windows), list(best.stats)) == (chosen.series.windows,
                                                      chosen.series.stats)
    short = next(t for t in chosen.tried if t.windows == WINDOWS[0])
    assert best.mean < 0.9 * short.mean
    step = series_step(registry.load(outcome.workspace, "fleet").pipeline)
    assert list(step.windows) == chosen.series.windows and list(step.stats) == \
        chosen.series.stats
    page = outcome.report.read_text()
    assert "Series settings" in page and "Left to <code>auto</code>" in page
    recorded = registry.run_json(outcome.workspace, outcome.run_id, "series_choice.json")
    assert recorded["settings"]["windows"] == chosen.series.windows
    assert len(recorded["tried"]) == len(chosen.tried)
