"""``serve.companions``: a second project's champion (an anomaly detector that
extends the served project) answers every request beside the served model, from
the same stored history, and alert rules read its answer."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from jsonschema import Draft202012Validator

from shipyard import registry, spec
from shipyard.lifecycle import run_project
from shipyard.metrics import anomaly_scores
from shipyard.schema import Schema
from shipyard.serve import companions
from shipyard.serve.background import BackgroundServer
from shipyard.serve.worker import app_for
from shipyard.workspace import Workspace
from tests.test_lifecycle import _project

SERVED = """\
prepare:
  series: {smooth: {method: median, window: 3, columns: [a]}, windows: [4], stats: [mean, slope],
           elapsed: true}
serve:
  history: from_source
  companions: {unusual: detector.yaml}
  alerts:
    - {name: odd, when: unusual.score > 0}
"""

DETECTOR = """\
name: small-detector
extends: shipyard.yaml
task: anomaly
features: {exclude: [y, b]}
prepare:
  series: {stats: [mean]}
models:
  - name: isolation_forest
    params: {n_estimators: 50}
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("companions")
    _project(folder)
    (folder / "detector.yaml").write_text(DETECTOR)
    path = folder / "shipyard.yaml"
    path.write_text(path.read_text() + SERVED)
    assert run_project(spec.load(path)).version == "1"
    assert run_project(spec.load(folder / "detector.yaml")).version == "1"
    return path


def _models(path: Path):
    main, other = spec.load(path), spec.load(path.parent / "detector.yaml")
    return (registry.load(Workspace.of(main), main.name),
            registry.load(Workspace.of(other), other.name))


def _source(path: Path) -> pd.DataFrame:
    rows = pd.read_csv(path.parent / "rows.csv", parse_dates=["t"])
    return rows.sort_values(["eid", "t"], kind="stable").reset_index(drop=True)


def test_a_landing_is_answered_by_both_models_from_the_same_history(trained: Path):
    model, detector = _models(trained)
    assert detector.card.task == "anomaly" and detector.card.schema.names == ["eid", "t", "a", "c"]
    rows = _source(trained)
    history = rows[rows["eid"] == 5].drop(columns=["y"])
    rng = np.random.default_rng(3)
    sent = [{"eid": 5, "t": (history["t"].max() + pd.Timedelta(hours=h)).isoformat(),
             "a": float(rng.normal()), "b": "x", "c": int(rng.integers(0, 5))}
            for h in (1, 2, 3)]
    app = app_for(spec.load(trained))
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url,
                                                       trust_env=False) as client:
        answers = [client.post("/predict", json=row) for row in sent]
        doc = client.get("/openapi.json").json()
        described = client.get("/model").json()
        app.state.alerts.drain(10)
        raised = client.get("/alerts").json()
    for answer in answers:
        assert answer.status_code == 200, answer.text
    items = [a.json()["predictions"][0] for a in answers]
    so_far = history.copy()
    for row, item in zip(sent, items, strict=True):
        so_far = pd.concat([so_far, pd.DataFrame([row]).assign(t=lambda f: pd.to_datetime(
            f["t"]))], ignore_index=True)
        frame = model.card.schema.model_frame(so_far)
        assert item["prediction"] == pytest.approx(float(model.pipeline.predict(frame)[-1]),
                                                   rel=1e-9, abs=1e-9)
        score = anomaly_scores(detector.pipeline, detector.card.schema.model_frame(so_far))[-1]
        assert item["unusual"]["score"] == pytest.approx(float(score), rel=1e-6, abs=1e-9)
        assert item["unusual"]["prediction"] == (item["unusual"]["score"]
                                                 >= detector.card.threshold)
    validator = Draft202012Validator({**doc, "$ref": "#/components/schemas/Prediction"})
    for item in items:
        validator.validate(item)
    assert "unusual" in doc["components"]["schemas"]["Prediction"]["required"]
    assert described["serving"]["companions"]["unusual"]["name"] == "small-detector"
    odd = [a for a in raised["alerts"] if a["alert"] == "odd"]
    assert len(odd) == 3 and all("unusual" in a["prediction"] for a in odd)


def test_a_companion_must_take_the_served_models_inputs(trained: Path):
    model, detector = _models(trained)
    engine = companions.Companion("unusual", _engine(detector))
    narrower = replace(model.card, schema=Schema(tuple(
        c for c in model.card.schema.columns if c.name != "c")))
    with pytest.raises(companions.CompanionError) as caught:
        companions.check((engine,), narrower)
    assert "serve.companions.unusual (small-detector version 1) takes c, which small does " \
           "not" in str(caught.value)
    with pytest.raises(companions.CompanionError, match="its entity is 'eid', other's is None"):
        companions.check((engine,), replace(model.card, name="other", entity=None))


def test_a_companion_without_a_champion_stops_the_server_from_starting(tmp_path: Path):
    _project(tmp_path)
    (tmp_path / "detector.yaml").write_text(DETECTOR)
    path = tmp_path / "shipyard.yaml"
    path.write_text(path.read_text() + SERVED)
    with pytest.raises(companions.CompanionError) as caught:
        companions.load(spec.load(path))
    message = str(caught.value)
    assert "serve.companions.unusual: no champion of small-detector to serve" in message
    assert "shipyard run detector.yaml" in message


def _engine(model):
    from shipyard.serve.engine import engine_for

    return engine_for(model)


def test_the_server_follows_a_companions_champion_alias(trained: Path):
    detector_file = trained.parent / "detector.yaml"
    other = spec.load(detector_file)
    workspace = Workspace.of(other)
    app = app_for(spec.load(trained))
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url,
                                                       trust_env=False) as client:
        assert client.get("/model").json()["serving"]["companions"]["unusual"]["version"] == "1"
        again = run_project(other)
        assert again.version == "2"
        moved = app.state.watcher.check()
        assert moved["companions"] == ["unusual 1 -> 2"] and moved["changed"] is False
        described = client.get("/model").json()
        assert described["serving"]["companions"]["unusual"]["version"] == "2"
        assert described["version"] == "1"  # the served model itself did not move
        row = {"eid": 7, "t": "2031-01-01T00:00:00", "a": 0.3, "b": "y", "c": 2}
        answer = client.post("/predict", json=row)
        assert answer.status_code == 200 and "score" in answer.json()["predictions"][0]["unusual"]
        registry.promote(workspace, other.name, "1", reason="back to the first detector")
        assert app.state.watcher.check()["companions"] == ["unusual 2 -> 1"]
        assert app.state.watcher.check() == {"ok": True, "version": "1", "changed": False}


def test_a_broken_companion_file_is_named_with_its_problems(tmp_path: Path):
    _project(tmp_path)
    (tmp_path / "detector.yaml").write_text(DETECTOR.replace("task: anomaly", "task: odd"))
    path = tmp_path / "shipyard.yaml"
    path.write_text(path.read_text() + SERVED)
    with pytest.raises(companions.CompanionError) as caught:
        companions.load(spec.load(path))
    assert caught.value.headline.startswith("serve.companions.unusual: ")
    assert any("task" in line for line in caught.value.details)
