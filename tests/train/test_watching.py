"""Training that is watched: early stopping with train/validation curves, the
refit size, default search spaces with pruning, class weights, learning curves
and the overfitting finding."""

import numpy as np

from shipyard.metrics import METRICS, predicted
from shipyard.prepare import dataset, steps
from shipyard.train import train
from tests.helpers import frame, project


def _run(task="regression", target="y", models="[{name: linear}]", extra="", data=None):
    p = project(task, target=target, models=models, extra="split: {folds: 3}\n" + extra)
    ds = dataset(frame() if data is None else data, p)
    return train(ds, steps(ds, p), p), ds


def test_boosting_stops_early_and_the_refit_keeps_the_folds_iterations():
    result, _ = _run(models="[{name: lightgbm, params: {n_estimators: 3000, "
                            "learning_rate: 0.3}}]", extra="tuning: {early_stopping: 10}\n")
    best = result.best
    assert len(best.curves) == 3
    for curve in best.curves:
        assert curve.best < 3000 and len(curve.valid) == len(curve.train) < 3000
        assert min(curve.valid) == curve.valid[curve.best - 1]  # kept the best iteration
    assert result.model.named_steps["model"].n_estimators == best.best_iterations


def test_xgboost_with_text_labels_is_watched_too():
    result, ds = _run("binary", "label", "[{name: xgboost, params: {n_estimators: 400}}]",
                      "metric: roc_auc\ntuning: {early_stopping: 10}\n")
    assert result.best.curves and result.best.curves[0].metric == "logloss"
    assert set(result.model.predict(ds.X)) <= {"Yes", "No"}
    assert result.best.mean("roc_auc") > 0.9


def test_auto_search_uses_the_catalogue_space():
    result, _ = _run(models="[{name: linear, search: auto}]", extra="tuning: {trials: 6}\n")
    best = result.best
    assert best.trials == 6 and set(best.params) == {"alpha"}
    assert 1e-3 <= best.params["alpha"] <= 1e3


def test_pruning_stops_clearly_worse_trials():
    models = "[{name: decision_tree, search: {max_depth: {low: 1, high: 12}}}]"
    pruned, _ = _run(models=models, extra="tuning: {trials: 16, pruning: true}\n")
    assert any(np.isnan(v) for v in pruned.best.history)  # pruned trials end without a value
    full, _ = _run(models=models, extra="tuning: {trials: 16, pruning: false}\n")
    assert not any(np.isnan(v) for v in full.best.history)


def test_class_weight_raises_minority_recall():
    data = frame(2000, seed=2)
    data["rare"] = np.where(data["y"] > 4.5, "yes", "no")
    assert (data["rare"] == "yes").mean() < 0.15
    base = "metric: recall\npositive_class: 'yes'\nevaluate: {learning_curves: false}\n"
    plain, ds = _run("binary", "rare", data=data, extra=base)
    weighted, _ = _run("binary", "rare", data=data,
                       extra=base + "prepare: {imbalance: {method: class_weight}}\n")
    assert weighted.model.named_steps["model"].class_weight == "balanced"
    assert weighted.best.mean("recall") > plain.best.mean("recall") + 0.05


def test_learning_curve_for_a_non_boosting_winner():
    result, _ = _run(models="[{name: random_forest, params: {n_estimators: 20}}]")
    curve = result.size_curve
    assert curve is not None and curve.metric == "rmse"
    assert curve.sizes == sorted(curve.sizes) and len(curve.sizes) == 4
    assert curve.valid[-1] < curve.valid[0]  # more rows help


def test_overfitting_is_a_finding():
    data = frame(400, seed=5)
    data["y"] = np.random.default_rng(0).normal(size=len(data))  # nothing to learn
    result, ds = _run(models="[{name: decision_tree, params: {min_samples_leaf: 1}}]",
                      data=data)
    kinds = [f["kind"] for f in result.findings]
    assert "overfitting" in kinds
    train_rmse = METRICS["rmse"].compute(predicted(result.model, ds.X, ds.y, "regression"))
    assert train_rmse < 0.5 * result.best.mean("rmse")
    calm, _ = _run(models="[{name: linear}]")
    assert not calm.findings


def test_folds_in_parallel_score_exactly_as_one_by_one():
    from shipyard.train import splits
    from shipyard.train.cv import cross_validate, make_pipeline

    p = project(models="[{name: lightgbm, params: {n_estimators: 200}}]",
                extra="split: {folds: 4}\n")
    ds = dataset(frame(), p)
    folds = list(splits.folds(ds, "random", 4, 0))

    def make(params):
        return make_pipeline(steps(ds, p), "lightgbm", "regression", params, 0)

    one = cross_validate(ds, folds, make, "lightgbm", {"n_estimators": 200}, "regression",
                         "rmse", 10, workers=1)
    two = cross_validate(ds, folds, make, "lightgbm", {"n_estimators": 200}, "regression",
                         "rmse", 10, workers=2)
    assert one.scores == two.scores and one.train_scores == two.train_scores
    assert [c.best for c in one.curves] == [c.best for c in two.curves]
