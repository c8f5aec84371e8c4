"""One monitoring pass as the server and `shipyard monitor` run it: real champions
registered in a real MLflow SQLite store with their monitoring references, real
predictions written to a real prediction log the way the server writes them,
and true labels that arrive through the log's feedback."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline

from shipyard import monitor, registry
from shipyard.card import ModelCard
from shipyard.evaluate.importance import permutation
from shipyard.monitor import drift, reference, summary
from shipyard.monitor.passes import MIN_LABELLED
from shipyard.monitor.reference import Reference
from shipyard.monitor.store import LogStore
from shipyard.spec.monitoring import Drift
from shipyard.workspace import Workspace
from tests.helpers import project
from tests.serve.models import CITIES, SCHEMA, preprocessor, score

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
MID = 5.4  # about the median of score() on inputs(): the binary classes are balanced


def inputs(n: int, seed: int, *, income: float = 0.0, cities=tuple(CITIES)) -> list[dict]:
    """Rows as a client sends them; ``income`` moves that one input."""
    rng = np.random.default_rng(seed)
    return [{"age": int(rng.integers(18, 80)),
             "income": round(float(rng.normal(50 + income, 15)), 3),
             "member": bool(rng.random() < 0.4), "city": str(rng.choice(cities)),
             "plan": str(rng.choice(["basic", "plus"]))} for _ in range(n)]


def spend(rows: list[dict], seed: int) -> np.ndarray:
    return 10 * score(rows) + np.random.default_rng(seed).normal(0, 3, len(rows))


def churned(rows: list[dict], seed: int) -> np.ndarray:
    """Noisy labels from a logistic rule: a logistic regression learns calibrated odds."""
    p = expit(2.0 * (score(rows) - MID))
    return np.where(np.random.default_rng(seed).random(len(rows)) < p, "Yes", "No")


def tiers(rows: list[dict], seed: int) -> np.ndarray:
    noisy = score(rows) + np.random.default_rng(seed).normal(0, 0.5, len(rows))
    return np.digitize(noisy, [4.8, 6.0])  # whole-number classes 0, 1, 2


def register(ws: Workspace, name: str, task: str, estimator, labels, *, keep_reference=True):
    """Fit, register as the champion (with its reference unless told otherwise), load."""
    train, holdout = inputs(1500, seed=1), inputs(1500, seed=2)
    X, H = (SCHEMA.model_frame(pd.DataFrame(r)) for r in (train, holdout))
    pipeline = Pipeline([("prep", preprocessor()), ("model", estimator)])
    pipeline.fit(X, labels(train, 1))
    card = ModelCard(name=name, task=task, target="outcome", schema=SCHEMA,
                     classes=tuple(getattr(pipeline, "classes_", ())),
                     positive_class="Yes" if task == "binary" else None)
    truth = labels(holdout, 2)
    predictions, scores = reference.outputs(pipeline, H, card)
    predictions = np.asarray(predictions.tolist())  # object -> the classes' own type
    if task == "regression":
        metrics = {"rmse": float(np.sqrt(mean_squared_error(truth, predictions)))}
    else:
        metrics = {"accuracy": float(accuracy_score(truth, predictions))}
    card = dataclasses.replace(card, metrics=metrics)
    with registry.open_run(ws, name) as run:
        run.log_model(pipeline, card, H.head(3), registry.requirements())
        if keep_reference:
            ranked = permutation(pipeline, H, truth, task=task, positive=card.positive_class)
            run.log_reference(reference.build(X, H, predictions, scores, truth,
                                              importance=ranked).to_files())
    registry.register(ws, name, run)
    return registry.load(ws, name)


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    root = tmp_path_factory.mktemp("passes")
    return Workspace(root / ".shipyard", f"sqlite:///{root / '.shipyard' / 'mlflow.db'}").create()


@pytest.fixture(scope="module")
def champions(ws):
    return {
        "spend": register(ws, "spend", "regression", Ridge(alpha=1.0), spend),
        "churn": register(ws, "churn", "binary", LogisticRegression(C=100, max_iter=1000),
                          churned),
        "tier": register(ws, "tier", "multiclass", LogisticRegression(max_iter=1000), tiers),
        "legacy": register(ws, "legacy", "regression", Ridge(), spend, keep_reference=False),
    }


@pytest.fixture
def store(tmp_path: Path):
    with LogStore(f"sqlite:///{tmp_path / 'predictions.db'}") as s:
        yield s


def spec(model):
    return project(task=model.card.task, target="outcome", name=model.card.name)


def log(store: LogStore, model, rows: list[dict], version: str | None = None):
    """Serve ``rows`` as the server does and log them: (request ids, predictions, scores)."""
    X = SCHEMA.model_frame(pd.DataFrame(rows))
    predictions, scores = reference.outputs(model.pipeline, X, model.card)
    ids = [f"req-{i}" for i in range(len(rows))]
    store.write_predictions([
        {"request_id": rid, "ts": T0 + i, "model_version": version or model.card.version,
         "features": row, "prediction": np.asarray(predictions[i]).item(),
         "score": None if scores is None else float(scores[i]), "latency_ms": 2.0}
        for i, (rid, row) in enumerate(zip(ids, rows, strict=True))])
    return ids, np.asarray(predictions.tolist()), scores


def saved_as_json(store: LogStore, result) -> dict:
    """The pass as the store keeps it, which must be strict JSON (no NaN)."""
    record = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert store.passes()[-1] == record
    return record


def test_live_rmse_is_scikit_learns_on_the_labelled_rows(ws, champions, store):
    model = champions["spend"]
    rows = inputs(300, seed=21)
    truth = spend(rows, 21)
    ids, predictions, _ = log(store, model, rows)
    store.add_feedback([(rid, float(y)) for rid, y in zip(ids[:150], truth[:150], strict=True)])
    result = monitor.check(spec(model), ws, store=store, model=model)
    assert result.live["rows"] == 150
    got = result.live["metrics"]
    assert got["rmse"] == pytest.approx(math.sqrt(mean_squared_error(truth[:150],
                                                                     predictions[:150])))
    assert got["mae"] == pytest.approx(mean_absolute_error(truth[:150], predictions[:150]))
    assert result.rows == 300 and (result.since, result.until) == (T0, T0 + 299)
    assert result.reference == model.card.metrics and result.metric == "rmse"
    assert len(store.passes()) == 1
    assert saved_as_json(store, result)["live"]["metrics"]["rmse"] == got["rmse"]


def test_a_regression_estimates_its_error_before_any_label(ws, champions, store):
    """Direct loss estimation, learnt from the reference holdout's errors: with no
    label logged, the pass still gives RMSE and MAE close to the real ones."""
    model = champions["spend"]
    rows = inputs(1000, seed=23)
    truth = spend(rows, 23)
    _, predictions, _ = log(store, model, rows)
    result = monitor.check(spec(model), ws, store=store, model=model)
    assert result.live is None
    real = math.sqrt(mean_squared_error(truth, predictions))
    assert result.estimated["rmse"] == pytest.approx(real, rel=0.15)
    assert result.estimated["mae"] == pytest.approx(mean_absolute_error(truth, predictions),
                                                    rel=0.15)
    assert saved_as_json(store, result)["estimated"] == result.estimated


def test_a_shift_in_the_feature_the_model_leans_on_drifts_the_data_set(ws, champions,
                                                                       tmp_path):
    model = champions["spend"]
    ref = Reference.from_files(model.reference)
    assert ref.importance["income"] > 0  # spend follows income (and age)
    by_share = project(task=model.card.task, target="outcome", name=model.card.name,
                       extra="monitor: {drift: {rule: share}}")
    verdicts = {}
    for name, rows in (("shifted", inputs(400, seed=22, income=40)),
                       ("same", inputs(400, seed=23))):
        with LogStore(f"sqlite:///{tmp_path / f'{name}.db'}") as store:
            log(store, model, rows)
            verdicts[name] = monitor.check(spec(model), ws, store=store, model=model)
            verdicts[name, "share"] = monitor.check(by_share, ws, store=store, model=model)
    shifted, same = verdicts["shifted"], verdicts["same"]
    assert shifted.drift.method == "test" and shifted.drift.rows == 400
    assert shifted.drift.drifted == ["income"]
    income = next(f for f in shifted.drift.features if f.feature == "income")
    assert income.statistic < 1e-6 and income.psi_band == "major"
    # the default weighs features by importance: income alone is the data set's drift...
    assert shifted.drift.rule == "weighted" and shifted.drift.dataset_drift
    assert shifted.drift.weights["income"] > 1 / len(shifted.drift.weights)
    # ...where Evidently's rule, half of the features, sees one feature of five
    assert not verdicts["shifted", "share"].drift.dataset_drift
    assert shifted.prediction_drift.drifted  # richer customers spend more
    assert not same.drift.dataset_drift and "income" not in same.drift.drifted
    assert not same.prediction_drift.drifted


def test_a_binary_champion_estimates_its_performance_from_scores(ws, champions, store,
                                                                 tmp_path):
    model = champions["churn"]
    rows = inputs(3000, seed=31)
    truth = churned(rows, 31)
    ids, predictions, scores = log(store, model, rows)
    store.add_feedback(list(zip(ids, truth.tolist(), strict=True)))
    result = monitor.check(spec(model), ws, store=store, model=model)
    f1 = f1_score(truth, predictions, pos_label="Yes")
    auc = roc_auc_score(truth == "Yes", scores)
    assert result.estimated["f1"] == pytest.approx(f1, abs=0.03)
    assert result.estimated["roc_auc"] == pytest.approx(auc, abs=0.02)
    assert result.live["metrics"]["f1"] == pytest.approx(f1)
    assert result.live["metrics"]["roc_auc"] == pytest.approx(auc)
    # prediction drift is judged on the scores, not on the predicted classes
    ref = Reference.from_files(model.reference)
    expected = drift.prediction_drift(ref.scores, scores, False, Drift())
    assert result.prediction_drift.kind == "numeric"
    assert result.prediction_drift.statistic == pytest.approx(expected.statistic)
    assert not result.prediction_drift.drifted
    saved_as_json(store, result)

    with LogStore(f"sqlite:///{tmp_path / 'richer.db'}") as richer:
        log(richer, model, inputs(3000, seed=32, income=40))
        moved = monitor.check(spec(model), ws, store=richer, model=model)
    assert moved.prediction_drift.drifted and moved.live is None
    assert moved.estimated["f1"] > result.estimated["f1"]  # more clear positives


def test_whole_number_classes_get_live_metrics_with_unlabelled_rows_around(ws, champions,
                                                                          store):
    model = champions["tier"]
    rows = inputs(200, seed=41)
    truth = tiers(rows, 41)
    ids, predictions, _ = log(store, model, rows)
    labelled = list(range(0, 200, 2))  # every other row: the label column has gaps
    store.add_feedback([(ids[i], int(truth[i])) for i in labelled])
    result = monitor.check(spec(model), ws, store=store, model=model)
    assert result.live["rows"] == 100
    assert result.live["metrics"]["accuracy"] == pytest.approx(
        accuracy_score(truth[labelled], predictions[labelled]))
    assert result.prediction_drift.kind == "categorical"


def test_fewer_than_the_minimum_of_labels_give_no_live_metrics(ws, champions, store):
    model = champions["spend"]
    rows = inputs(60, seed=51)
    truth = spend(rows, 51)
    ids, _, _ = log(store, model, rows)
    assert monitor.check(spec(model), ws, store=store, model=model).live is None
    store.add_feedback([(ids[i], float(truth[i])) for i in range(MIN_LABELLED - 1)])
    result = monitor.check(spec(model), ws, store=store, model=model)
    assert result.live == {"rows": MIN_LABELLED - 1, "metrics": {}}
    caption = summary.table(saved_as_json(store, result)).caption
    assert f"{MIN_LABELLED - 1} labelled rows: too few for live metrics" in caption
    store.add_feedback([(ids[MIN_LABELLED], float(truth[MIN_LABELLED]))])
    enough = monitor.check(spec(model), ws, store=store, model=model)
    assert enough.live["rows"] == MIN_LABELLED and "rmse" in enough.live["metrics"]


def test_an_empty_window_is_a_pass_with_a_note(ws, champions, store):
    model = champions["spend"]
    for _ in range(2):  # an empty log, then one with another version's predictions only
        result = monitor.check(spec(model), ws, store=store, model=model)
        assert result.empty and result.rows == 0
        assert result.drift is result.quality is result.live is result.estimated is None
        assert result.notes == ["no predictions were logged in the window"]
        record = saved_as_json(store, result)
        assert record["empty"] is True and record["version"] == model.card.version
        assert "logged rows" in summary.table(record).title
        log(store, model, inputs(20, seed=61), version="99")
    assert len(store.passes()) == 2


def test_a_version_without_a_reference_gets_a_note(ws, champions, store):
    model = champions["legacy"]
    assert model.reference is None
    log(store, model, inputs(50, seed=71))
    result = monitor.check(spec(model), ws, store=store, model=model)
    assert result.drift is None and result.quality is None
    assert any("has no monitoring reference" in note for note in result.notes)
    assert saved_as_json(store, result)["notes"] == result.notes


def test_unseen_categories_are_data_quality_problems(ws, champions, store):
    model = champions["spend"]
    log(store, model, inputs(200, seed=81, cities=("Paris", "Marseille", "Toulouse")))
    result = monitor.check(spec(model), ws, store=store, model=model)
    city = next(f for f in result.quality.features if f.feature == "city")
    assert city.unseen == 2 and set(city.unseen_examples) == {"Marseille", "Toulouse"}
    problems = [p for p in result.quality.problems if p.startswith("city:")]
    assert len(problems) == 1 and "'Marseille'" in problems[0] and "'Toulouse'" in problems[0]
    assert saved_as_json(store, result)["quality"]["problems"] == result.quality.problems


def test_a_reference_too_small_to_calibrate_still_gives_a_pass(ws, champions, store):
    model = champions["churn"]
    ref = Reference.from_files(model.reference)
    holdout = ref.holdout.copy()
    holdout["__label"] = ["Yes" if i < 3 else "No" for i in range(len(holdout))]
    one_sided = dataclasses.replace(model, reference=Reference(ref.train, holdout).to_files())
    log(store, model, inputs(100, seed=91))
    result = monitor.check(spec(model), ws, store=store, model=one_sided)
    assert result.estimated is None and result.drift is not None and result.rows == 100
    assert any("no performance estimate" in note for note in result.notes)
    saved_as_json(store, result)
