"""Tuning trials and cross-validation folds on a real Dask cluster give the same
results as in this process, and really run on the cluster's workers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from distributed import Client, get_task_stream

from shipyard import spec
from shipyard.errors import ComputeError
from shipyard.evaluate import evaluate
from shipyard.lifecycle import run_project
from shipyard.prepare import dataset, steps
from shipyard.train import holdout, train
from tests.helpers import frame, project
from tests.pg import free_port

SEARCHED = ("[{name: lightgbm, params: {n_estimators: 30}, search: {num_leaves: "
            "{low: 4, high: 32}, learning_rate: {low: 0.01, high: 0.3, log: true}, "
            "min_child_samples: {low: 5, high: 60, log: true}}}]")
FIXED = "[{name: lightgbm, params: {n_estimators: 30, num_leaves: 8}}]"


def _data(models: str, tuning: str):
    p = project(models=models, extra=f"split: {{folds: 3}}\ntuning: {tuning}\n")
    ds = dataset(frame(), p)
    fit_rows, held_rows = holdout(ds, "random", 0.25, p.seed)
    return p, ds.take(fit_rows), ds.take(held_rows)


def _train(models: str, tuning: str, client=None):
    p, fit, held = _data(models, tuning)
    result = train(fit, steps(fit, p), p, client=client)
    return result, evaluate(result.model, held.X, held.y, task=p.task, seed=p.seed)


def _on_cluster(dask, models: str, tuning: str):
    """Trained through the cluster; the tasks the workers ran, by key and worker."""
    with Client(dask.address, timeout=10) as client, get_task_stream(client) as stream:
        got = _train(models, tuning, client)
        workers = {w["name"]: address for address, w in
                   client.scheduler_info()["workers"].items()}
    tasks = [(t["key"], t["worker"]) for t in stream.data]
    return got, tasks, workers


def _same(a, b) -> None:
    (ra, ea), (rb, eb) = a, b
    assert ra.best.params == rb.best.params
    assert ra.best.scores == rb.best.scores
    assert [x if not math.isnan(x) else "nan" for x in ra.best.history] == \
        [x if not math.isnan(x) else "nan" for x in rb.best.history]
    assert ea.metrics == eb.metrics


def _ran_on_workers(tasks, workers, kind: str, count: int) -> None:
    mine = [(key, worker) for key, worker in tasks if key.startswith(f"shipyard-{kind}-")]
    assert len(mine) >= count
    # both worker processes took a share, and no task ran anywhere else
    assert {worker for _, worker in mine} == set(workers.values())


def test_batched_trials_on_the_cluster_equal_the_same_trials_in_process(dask):
    tuning = "{trials: 12, batch: 4}"
    here = _train(SEARCHED, tuning)
    there, tasks, workers = _on_cluster(dask, SEARCHED, tuning)
    _same(here, there)
    assert here[0].best.trials == 12 and len(here[0].best.history) == 12
    # Past TPE's 10 random start-up trials, so the last batch learnt from the history;
    # some trials were pruned on their fold scores, the same ones on both sides.
    history = here[0].best.history
    assert 0 < sum(math.isnan(x) for x in history) < 12
    _ran_on_workers(tasks, workers, "trial", 12)


def test_trials_one_by_one_spread_their_folds_with_the_same_pruning(dask):
    tuning = "{trials: 8, batch: 1}"
    here = _train(SEARCHED, tuning)
    there, tasks, workers = _on_cluster(dask, SEARCHED, tuning)
    _same(here, there)
    _ran_on_workers(tasks, workers, "fold", 3)
    assert not [key for key, _ in tasks if key.startswith("shipyard-trial-")]


def test_a_model_without_a_search_space_is_scored_on_the_workers(dask):
    here = _train(FIXED, "{trials: 5}")
    there, tasks, workers = _on_cluster(dask, FIXED, "{trials: 5}")
    _same(here, there)
    assert there[0].best.trials == 0
    _ran_on_workers(tasks, workers, "fold", 3)


def test_a_setting_that_fails_on_a_worker_fails_its_trial_as_in_process(dask):
    # n_neighbors above the training rows of a fold: scikit-learn raises ValueError
    models = ("[{name: sklearn.neighbors.KNeighborsRegressor, search: "
              "{n_neighbors: [5, 10, 100000]}}]")
    tuning = "{trials: 6, batch: 3}"
    here = _train(models, tuning)
    there, _, _ = _on_cluster(dask, models, tuning)
    _same(here, there)
    failed = [x for x in here[0].best.history if math.isnan(x)]
    assert failed and len(failed) < 6


def test_a_scheduler_that_is_not_there_stops_the_run_before_training(tmp_path: Path):
    folder = _project_folder(tmp_path, f"compute: {{backend: dask, address: "
                                       f"'tcp://127.0.0.1:{free_port()}', timeout: 1}}\n")
    calls = []
    with pytest.raises(ComputeError, match="No Dask scheduler answered"):
        run_project(spec.load(folder / "shipyard.yaml"), lambda *a: calls.append(a))
    assert not [c for c in calls if "Tuning" in c[0] or "Cross-validating" in c[0]]


def test_a_run_on_a_local_cluster_end_to_end(tmp_path: Path):
    folder = _project_folder(tmp_path, "compute: {backend: local, workers: 2}\n")
    calls = []
    outcome = run_project(spec.load(folder / "shipyard.yaml"), lambda *a: calls.append(a))
    assert outcome.passed and outcome.version == "1"
    assert outcome.training.best.trials == 6
    assert ("Tuning lightgbm", 6, 6) in calls
    assert outcome.evaluation.metrics["r2"] > 0.8


def _project_folder(tmp_path: Path, compute: str) -> Path:
    frame().drop(columns=["label", "kind"]).to_csv(tmp_path / "rows.csv", index=False)
    (tmp_path / "shipyard.yaml").write_text(
        "name: small\nsource:\n  files: {rows: rows.csv}\n  query: SELECT * FROM rows\n"
        "target: y\ntask: regression\nsplit: {holdout: 0.25, folds: 3}\n"
        f"models: {SEARCHED}\ntuning: {{trials: 6, batch: 3}}\n"
        "gates:\n  quality:\n    - {metric: r2, min: 0.5}\n" + compute)
    return tmp_path
