"""Candidates are cross-validated, tuned when asked, and the best is refit."""

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from shipyard.errors import ShipyardError, TrainError
from shipyard.prepare import dataset, steps
from shipyard.train import train
from tests.helpers import frame, project

MODELS = ("[{name: linear}, {name: random_forest, params: {n_estimators: 20}}, "
          "{name: lightgbm, params: {n_estimators: 40}}]")


def _run(task="regression", target="y", models=MODELS, extra="split: {folds: 3}\n"):
    p = project(task, target=target, models=models, extra=extra)
    ds = dataset(frame(), p)
    calls = []
    result = train(ds, steps(ds, p), p, lambda *a: calls.append(a))
    return result, ds, calls


def test_best_candidate_is_chosen_by_the_primary_metric_and_refit():
    result, ds, calls = _run()
    assert [c.name for c in result.candidates] == ["linear", "random_forest", "lightgbm"]
    best = min(result.candidates, key=lambda c: c.mean("rmse"))
    assert result.best is best and result.metric == "rmse"
    assert all(len(c.scores["rmse"]) == 3 for c in result.candidates)
    assert isinstance(result.model, Pipeline)
    assert result.model.predict(ds.X.head(5)).shape == (5,)
    assert ("Cross-validating linear", 3, 3) in calls  # progress per fold


def test_classification_with_text_labels():
    result, ds, _ = _run("binary", "label", extra="metric: roc_auc\nsplit: {folds: 3}\n")
    assert result.best.mean("roc_auc") > 0.9
    assert set(result.model.predict(ds.X)) <= {"Yes", "No"}


def test_multiclass():
    result, _, _ = _run("multiclass", "kind", models="[{name: linear}]")
    assert result.best.mean("f1") > 0.6


def test_tuning_is_seeded_and_records_trials():
    models = ("[{name: lightgbm, params: {n_estimators: 30}, search: {num_leaves: "
              "{low: 4, high: 32}, learning_rate: {low: 0.01, high: 0.3, log: true}}}]")
    extra = "split: {folds: 3}\ntuning: {trials: 4}\n"
    a, _, calls = _run(models=models, extra=extra)
    b, _, _ = _run(models=models, extra=extra)
    assert a.best.trials == 4 and len(a.best.history) == 4
    assert a.best.params == b.best.params and a.best.params["n_estimators"] == 30
    assert 4 <= a.best.params["num_leaves"] <= 32
    assert a.best.mean("rmse") == pytest.approx(np.nanmin(a.best.history))
    assert ("Tuning lightgbm", 4, 4) in calls


def test_a_model_that_cannot_fit_is_named():
    models = "[{name: sklearn.neighbors.KNeighborsRegressor, params: {n_neighbors: 100000}}]"
    with pytest.raises(TrainError, match="KNeighborsRegressor' failed to fit"):
        _run(models=models)


def test_every_failed_trial_stops_with_a_message():
    models = ("[{name: sklearn.neighbors.KNeighborsRegressor, search: "
              "{n_neighbors: {low: 100000, high: 200000}}}]")
    with pytest.raises(ShipyardError, match="Every tuning trial"):
        _run(models=models, extra="split: {folds: 3}\ntuning: {trials: 2}\n")
