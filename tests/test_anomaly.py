"""task: anomaly, from the project file to a served model: rare failures found by
IsolationForest / LocalOutlierFactor, judged against labels when there are some."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from jsonschema import Draft202012Validator
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import LocalOutlierFactor

from shipyard import registry, spec
from shipyard.errors import SpecError
from shipyard.lifecycle import run_project
from shipyard.metrics import anomaly_scores, own_threshold, predicted, score_all
from shipyard.serve import create_app
from shipyard.serve.background import BackgroundServer
from tests.helpers import project


def _refused(kwargs: dict, fragment: str) -> None:
    with pytest.raises(SpecError) as caught:
        project(**kwargs)
    assert fragment in str(caught.value), str(caught.value)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"task": "anomaly", "models": "[{name: lightgbm}]"},
     "models[0].name: 'lightgbm' is not an anomaly detector; a task: anomaly uses "
     "isolation_forest or local_outlier_factor"),
    ({"task": "regression", "models": "[{name: isolation_forest}]"},
     "models[0].name: 'isolation_forest' is an anomaly detector; it needs task: anomaly"),
    ({"task": "anomaly", "models": "[{name: sklearn.linear_model.Ridge}]"},
     "models[0].name: 'sklearn.linear_model.Ridge' is not an anomaly detector"),
    ({"task": "anomaly", "models": "[{name: isolation_forest}]",
      "extra": "prepare: {imbalance: {method: smote}}"},
     "prepare.imbalance.method: 'smote' balances classes; an anomaly task has none"),
    ({"task": "anomaly", "models": "[{name: isolation_forest}]", "target": "null",
      "extra": "gates: {quality: [{metric: roc_auc, min: 0.8}]}"},
     "gates.quality[0].metric: 'roc_auc' compares predictions with labels"),
    ({"task": "anomaly", "models": "[{name: local_outlier_factor, search: auto}]",
      "target": "null"}, "models[0].search: tuning compares settings against labels"),
    ({"task": "anomaly", "models": "[{name: isolation_forest}]", "target": "null",
      "extra": "prepare: {threshold: {objective: f1}}"},
     "prepare.threshold.objective: tuning the threshold needs labels"),
    ({"task": "regression", "target": "null"},
     "target: a regression task learns a target; name its column"),
    ({"task": "anomaly", "models": "[{name: isolation_forest}]", "extra": "metric: rmse"},
     "metric: 'rmse' does not fit an anomaly task"),
])
def test_settings_that_do_not_fit_an_anomaly_task_are_refused(kwargs, fragment):
    _refused(kwargs, fragment)


def test_an_anomaly_task_may_go_without_labels():
    unlabelled = project(task="anomaly", target="null", models="[{name: isolation_forest}]",
                         extra="gates: {quality: [{metric: flagged, max: 0.1}]}")
    assert unlabelled.target is None and unlabelled.primary_metric == "flagged"
    assert unlabelled.split_strategy == "random"
    labelled = project(task="anomaly", models="[{name: isolation_forest, search: auto}]",
                       extra="positive_class: failure")
    assert labelled.primary_metric == "pr_auc" and labelled.split_strategy == "stratified"


@pytest.mark.parametrize("detector", [IsolationForest(n_estimators=50, random_state=0),
                                      LocalOutlierFactor(novelty=True)])
def test_a_detectors_own_threshold_gives_its_own_flags(detector):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(300, 2)), rng.normal(6, 1, size=(10, 2))])
    y = np.r_[np.zeros(300, bool), np.ones(10, bool)]
    detector.fit(X)
    own = predicted(detector, X, y, "anomaly")
    np.testing.assert_array_equal(own.y_pred, detector.predict(X) == -1)
    np.testing.assert_array_equal(own.score, -detector.score_samples(X))
    again = predicted(detector, X, y, "anomaly", threshold=own_threshold(detector))
    np.testing.assert_array_equal(again.y_pred, own.y_pred)
    scores = score_all(own)
    assert scores["roc_auc"] > 0.99 and scores["flagged"] == own.y_pred.mean()
    assert score_all(predicted(detector, X, None, "anomaly")) == {"flagged": scores["flagged"]}


def _machines(n: int = 800, share: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """Sensor readings of machines; a few rows (the failures) break the tie between
    temperature and load, which no column shows alone."""
    rng = np.random.default_rng(seed)
    temp = rng.normal(60, 5, n)
    load = 0.5 * temp + rng.normal(0, 1, n)
    failure = rng.random(n) < share
    side = rng.choice([-1, 1], n)
    temp = np.where(failure, temp + side * rng.uniform(8, 14, n), temp)
    load = np.where(failure, load - side * rng.uniform(4, 7, n), load)
    return pd.DataFrame({"temp": temp.round(3), "load": load.round(3),
                         "line": rng.choice(["north", "south"], n),
                         "status": np.where(failure, "failure", "ok")})


PROJECT = """\
name: {name}
source:
  files: {{rows: rows.csv}}
  query: SELECT * FROM rows
task: anomaly
{target}
split: {{holdout: 0.25, folds: 3}}
models:
{models}
tuning: {{trials: 3}}
gates:
  quality:
    - {gate}
"""


def _write(folder: Path, name: str, target: str, models: str, gate: str,
           data: pd.DataFrame) -> spec.Project:
    folder.mkdir(exist_ok=True)
    data.to_csv(folder / "rows.csv", index=False)
    text = PROJECT.format(name=name, target=target, models=models, gate=gate)
    (folder / "shipyard.yaml").write_text(text)
    return spec.load(folder / "shipyard.yaml")


def _served_items(outcome, rows: pd.DataFrame) -> tuple[list[dict], dict, object]:
    """The champion served by a real server: its answer for ``rows``, its OpenAPI
    document, and the loaded model."""
    loaded = registry.load(outcome.workspace, outcome.card.name)
    records = rows[loaded.card.schema.names].to_dict("records")
    with BackgroundServer(create_app(loaded)) as server, \
            httpx.Client(base_url=server.url, timeout=10, trust_env=False) as client:
        answer = client.post("/predict", json=records)
        assert answer.status_code == 200, answer.text
        doc = json.loads(client.get("/openapi.json").content)
        body = answer.json()
        Draft202012Validator({**doc, "$ref": "#/components/schemas/PredictResponse"}).validate(
            body)
    return body["predictions"], doc, loaded


def _check_served(outcome, rows: pd.DataFrame) -> None:
    items, doc, loaded = _served_items(outcome, rows)
    expected = anomaly_scores(loaded.pipeline, loaded.card.schema.model_frame(rows))
    assert all(set(item) == {"prediction", "score"} for item in items)
    np.testing.assert_allclose([item["score"] for item in items], expected, rtol=1e-12)
    assert [item["prediction"] for item in items] == (expected >= loaded.card.threshold).tolist()
    assert set(doc["components"]["schemas"]["Prediction"]["properties"]) == {"prediction",
                                                                             "score"}


def test_a_labelled_run_finds_the_failures_and_serves_its_scores(tmp_path: Path):
    data = _machines()
    project_ = _write(tmp_path, "machines", "target: status\npositive_class: failure",
                      "  - name: isolation_forest\n    search: auto\n"
                      "  - name: local_outlier_factor", "{metric: roc_auc, min: 0.8}", data)
    outcome = run_project(project_)
    assert outcome.passed and outcome.version == "1", outcome.gates
    metrics, base = outcome.evaluation.metrics, outcome.evaluation.baseline_metrics
    assert set(metrics) == {"precision", "recall", "f1", "roc_auc", "pr_auc", "flagged"}
    assert metrics["roc_auc"] > 0.9 and base["roc_auc"] == 0.5
    assert metrics["pr_auc"] > 0.5 > base["pr_auc"]
    assert outcome.training.metric == "pr_auc"
    assert {c.name for c in outcome.training.candidates} == {"isolation_forest",
                                                             "local_outlier_factor"}
    assert outcome.card.positive_class == "failure" and outcome.card.threshold is not None
    page = outcome.report.read_text()
    assert "flagged as an anomaly where its anomaly score is at least" in page
    assert page.count('src="data:image/png;base64,') >= 4
    _check_served(outcome, data.sample(50, random_state=1))


def test_an_unlabelled_run_registers_and_serves_scores(tmp_path: Path):
    data = _machines(seed=1).drop(columns="status")
    project_ = _write(tmp_path, "unlabelled", "", "  - name: isolation_forest\n"
                      "    params: {n_estimators: 100}\n  - name: local_outlier_factor",
                      "{metric: flagged, max: 0.5}", data)
    outcome = run_project(project_)
    assert outcome.passed and outcome.version == "1", outcome.gates
    assert set(outcome.evaluation.metrics) == {"flagged"}
    assert outcome.evaluation.baseline_metrics == {}
    assert outcome.training.best.name == "isolation_forest"  # the first listed
    assert outcome.card.target is None
    assert "no labels" in outcome.report.read_text()
    _check_served(outcome, data.head(40))
