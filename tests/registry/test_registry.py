"""The registry on a real MLflow store (SQLite, as a project gets by default)."""

import numpy as np
import pytest

from shipyard import registry
from shipyard.errors import RegistryError


def test_register_sets_champion_and_previous(ws, log):
    assert registry.champion_version(ws, "t") is None
    first = registry.register(ws, "t", log())
    assert first == "1" and registry.champion_version(ws, "t") == "1"
    second = registry.register(ws, "t", log())
    assert second == "2" and registry.champion_version(ws, "t") == "2"
    assert registry.load(ws, "t", alias=registry.PREVIOUS).card.version == "1"
    assert registry.load_version(ws, "t", 1).card.version == "1"


def test_load_gives_the_same_predictions_and_the_card(ws, fitted, log):
    pipe, card, ds = fitted
    run = log()
    registry.register(ws, "t", run)
    loaded = registry.load(ws, "t")
    assert loaded.card.version == "1" and loaded.card.run_id == run.id
    assert loaded.card.schema == card.schema and loaded.card.metrics == {"rmse": 0.3}
    np.testing.assert_array_equal(loaded.pipeline.predict(ds.X), pipe.predict(ds.X))
    assert (ws.artifacts).is_dir() and any(ws.artifacts.rglob("MLmodel"))


def test_no_champion_is_a_clear_error(ws):
    with pytest.raises(RegistryError, match="No 'champion' model for project 'nope'"):
        registry.load(ws, "nope")


def test_no_such_version_is_a_clear_error(ws, log):
    registry.register(ws, "t", log())
    with pytest.raises(RegistryError, match="No version 7 of 't'"):
        registry.load_version(ws, "t", 7)
