"""The modelling workbench end to end: preparation options together in one run,
then the registered model served over real HTTP, taking raw rows (dates as ISO
text, an entity's history for window features)."""

import re
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from shipyard import registry, serve, spec
from shipyard.demo import init_project
from shipyard.lifecycle import run_project
from shipyard.serve.background import BackgroundServer
from tests.helpers import frame

CLASSIFICATION = """\
name: options
source:
  files: {rows: rows.csv}
  query: SELECT * FROM rows ORDER BY eid, t
target: label
task: binary
positive_class: "Yes"
split: {holdout: 0.25, folds: 3, strategy: stratified}
features: {exclude: [eid]}
prepare:
  impute: {numeric: knn, indicators: true}
  encode: {text: onehot}
  scale: robust
  outliers: {action: clip, rule: quantile, quantiles: [0.01, 0.99]}
  select: {max_correlation: 0.95}
  dates: [month, dayofweek, hour]
  imbalance: {method: smote}
  threshold: {objective: recall, recall: 0.9}
models:
  - name: linear
  - name: lightgbm
    params: {n_estimators: 60}
metric: roc_auc
evaluate: {segment: b}
gates:
  quality:
    - {metric: roc_auc, min: 0.9}
"""


@pytest.fixture(scope="module")
def options_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("options")
    data = frame(800, seed=4).drop(columns=["y", "kind"])
    data.to_csv(folder / "rows.csv", index=False)
    (folder / "shipyard.yaml").write_text(CLASSIFICATION)
    return run_project(spec.load(folder / "shipyard.yaml")), data


def test_many_options_in_one_run(options_run):
    outcome, _ = options_run
    assert outcome.passed and outcome.version == "1"
    names = [n for n, _ in outcome.training.model.estimator.steps] if hasattr(
        outcome.training.model, "estimator") else []
    assert names == ["dates", "columns", "select", "resample", "model"]
    assert outcome.training.threshold is not None and outcome.card.threshold is not None
    # The threshold was chosen for recall 0.9 on validation rows; the holdout follows.
    assert outcome.evaluation.metrics["recall"] >= 0.8
    assert outcome.evaluation.segments is not None
    assert set(outcome.evaluation.segments.iloc[:, 0]) >= {"x", "y", "z"}
    page = outcome.report.read_text()
    assert "threshold was tuned" in page and "Data profile" in page


def test_the_served_model_takes_dates_as_text_and_applies_the_threshold(options_run):
    outcome, data = options_run
    model = registry.load(outcome.workspace, "options")
    assert [c.kind for c in model.card.schema.columns if c.name == "t"] == ["datetime"]
    rows = data.head(40).drop(columns=["label", "eid"])
    payload = [{k: (None if pd.isna(v) else (v.isoformat() if k == "t" else v))
                for k, v in r.items()} for r in rows.to_dict("records")]
    with BackgroundServer(serve.create_app(model)) as server, \
            httpx.Client(base_url=server.url, trust_env=False, timeout=30) as client:
        answer = client.post("/predict", json=payload)
        bad = client.post("/predict", json=dict(payload[0], t="not a date"))
    assert answer.status_code == 200, answer.text
    got = answer.json()["predictions"]
    frame_in = model.card.schema.model_frame(rows)
    proba = model.pipeline.predict_proba(frame_in)[:, list(model.pipeline.classes_).index("Yes")]
    np.testing.assert_allclose([p["probability"] for p in got], proba, rtol=1e-9)
    expected = np.where(proba >= model.card.threshold, "Yes", "No")
    assert [p["prediction"] for p in got] == list(expected)
    assert bad.status_code == 422 and "column 't'" in bad.json()["error"]


def test_window_features_in_the_pipeline_served_with_history(tmp_path: Path):
    path = init_project(tmp_path / "fleet", aircraft=30, seed=2)
    text = path.read_text()
    # The demo's own project builds its windows in the pipeline (prepare.series); one
    # quick candidate is enough here.
    assert "prepare:\n  series:" in text
    text = re.sub(r"\nmodels:\n(  .*\n|    .*\n)+", "\nmodels:\n  - name: linear\n", text)
    text = text.replace("max: 30", "max: 45")
    path.write_text(text)
    outcome = run_project(spec.load(path))
    assert outcome.passed, [g.details for g in outcome.gates]
    assert outcome.training.model.steps[0][0] == "series"
    model = registry.load(outcome.workspace, "fleet-rul")
    names = model.card.schema.names
    assert names[:2] == ["engine_id", "departure"]  # the history's entity and time
    frame_all = outcome.snapshot.frame()
    engine = frame_all[frame_all["rul"].notna()]["engine_id"].iloc[0]
    history = frame_all[frame_all["engine_id"] == engine].sort_values("departure").tail(12)
    payload = [{k: (None if pd.isna(v) else (v.isoformat() if k == "departure" else v))
                for k, v in r.items()} for r in history[names].to_dict("records")]
    with BackgroundServer(serve.create_app(model)) as server, \
            httpx.Client(base_url=server.url, trust_env=False, timeout=30) as client:
        answer = client.post("/predict", json=payload)
    assert answer.status_code == 200, answer.text
    served = [p["prediction"] for p in answer.json()["predictions"]]
    expected = model.pipeline.predict(model.card.schema.model_frame(history))
    np.testing.assert_allclose(served, expected, rtol=1e-9)
    # The last row's features come from its history: alone, it predicts differently.
    alone = model.pipeline.predict(model.card.schema.model_frame(history.tail(1)))
    assert abs(alone[0] - served[-1]) > 1e-6
