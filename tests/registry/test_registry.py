"""The registry on a real MLflow store (SQLite, as a project gets by default)."""

from pathlib import Path

import numpy as np
import pytest

from shipyard import registry
from shipyard.card import ModelCard
from shipyard.errors import RegistryError
from shipyard.prepare import dataset, steps
from shipyard.train import make_pipeline
from shipyard.workspace import Workspace
from tests.helpers import frame, project


@pytest.fixture
def fitted():
    p = project()
    ds = dataset(frame().drop(columns=["label", "kind"]), p)
    pipe = make_pipeline(steps(ds, p), "linear", "regression", {}, 0)
    pipe.fit(ds.X, ds.y)
    card = ModelCard(name="t", task="regression", target="y", schema=ds.schema,
                     estimator="linear", metrics={"rmse": 0.3})
    return pipe, card, ds


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / ".shipyard"
    return Workspace(root, f"sqlite:///{root / 'mlflow.db'}").create()


def _log(ws, fitted, name="t") -> registry.Run:
    pipe, card, ds = fitted
    with registry.open_run(ws, name) as run:
        run.log_metrics({"rmse": 0.3})
        run.log_model(pipe, card, ds.X.head(3), registry.requirements())
    return run


def test_register_sets_champion_and_previous(ws, fitted):
    assert registry.champion_version(ws, "t") is None
    first = registry.register(ws, "t", _log(ws, fitted))
    assert first == "1" and registry.champion_version(ws, "t") == "1"
    second = registry.register(ws, "t", _log(ws, fitted))
    assert second == "2" and registry.champion_version(ws, "t") == "2"
    assert registry.load(ws, "t", alias=registry.PREVIOUS).card.version == "1"


def test_load_gives_the_same_predictions_and_the_card(ws, fitted):
    pipe, card, ds = fitted
    run = _log(ws, fitted)
    registry.register(ws, "t", run)
    loaded = registry.load(ws, "t")
    assert loaded.card.version == "1" and loaded.card.run_id == run.id
    assert loaded.card.schema == card.schema and loaded.card.metrics == {"rmse": 0.3}
    np.testing.assert_allclose(loaded.pipeline.predict(ds.X), pipe.predict(ds.X))
    assert (ws.artifacts).is_dir() and any(ws.artifacts.rglob("MLmodel"))


def test_no_champion_is_a_clear_error(ws):
    with pytest.raises(RegistryError, match="No 'champion' model for project 'nope'"):
        registry.load(ws, "nope")


def test_corrupt_artifact_is_refused(ws, fitted):
    registry.register(ws, "t", _log(ws, fitted))
    (pickle,) = ws.artifacts.rglob("model.pkl")
    pickle.write_bytes(b"garbage")
    with pytest.raises(RegistryError, match="Cannot load version 1 of 't'"):
        registry.load(ws, "t")
    assert registry.champion_version(ws, "t") == "1"  # the registry is unchanged
