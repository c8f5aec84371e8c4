"""Promotion, rollback and their history on a real MLflow store (SQLite)."""

import sqlite3

import pytest
from mlflow import MlflowClient

from shipyard import registry
from shipyard.errors import RegistryError


def _aliases(ws) -> dict[str, str]:
    client = MlflowClient(ws.tracking_uri, registry_uri=ws.tracking_uri)
    return {a: str(v) for a, v in client.get_registered_model("t").aliases.items()}


def _fail_on_tag(ws, key: str) -> None:
    """Make the store itself refuse one tag, as a full disk or a lost connection
    would refuse a write in the middle of a move."""
    with sqlite3.connect(ws.root / "mlflow.db") as db:
        db.execute(f"CREATE TRIGGER refuse BEFORE INSERT ON model_version_tags "
                   f"WHEN NEW.key = '{key}' BEGIN SELECT RAISE(ABORT, 'refused'); END")


def test_a_challenger_leaves_the_champion_alone_until_promoted(ws, log):
    registry.register(ws, "t", log())
    challenger = registry.register(ws, "t", log(), promote=False)
    assert challenger == "2"
    assert _aliases(ws) == {"champion": "1", "challenger": "2"}

    replaced = registry.promote(ws, "t", "2", reason="better on recent data", by="ann")
    assert replaced == "1"
    assert _aliases(ws) == {"champion": "2", "previous": "1"}  # no longer a challenger
    history = {v["version"]: v for v in registry.versions(ws, "t")}
    assert list(history) == ["2", "1"]  # newest first
    assert history["2"]["promotion"]["by"] == "ann"
    assert history["2"]["promotion"]["reason"] == "better on recent data"
    assert history["2"]["promotion"]["replaced"] == "1"
    assert history["2"]["parent"] == "1" and history["2"]["aliases"] == ["champion"]
    assert history["1"]["replaced"]["by"] == "2"
    assert history["1"]["promotion"]["replaced"] is None  # the first champion replaced none
    assert history["1"]["metrics"] == {}  # the fixture logs no holdout metrics
    assert history["2"]["champion_since"] >= history["1"]["champion_since"]
    assert registry.champion_since(ws, "t") == history["2"]["champion_since"]


def test_rollback_walks_back_the_chain_of_promotions(ws, log):
    for _ in range(3):
        registry.register(ws, "t", log())
    assert _aliases(ws) == {"champion": "3", "previous": "2"}

    assert registry.rollback(ws, "t", reason="bad alerts", by="bob") == ("3", "2")
    assert _aliases(ws) == {"champion": "2", "previous": "1"}  # 2 had replaced 1
    assert registry.load(ws, "t").card.version == "2"
    assert registry.rollback(ws, "t", reason="still bad") == ("2", "1")
    assert _aliases(ws) == {"champion": "1"}  # 1 replaced nobody: no previous left

    with pytest.raises(RegistryError, match="Nothing to roll back to"):
        registry.rollback(ws, "t", reason="again")
    assert _aliases(ws) == {"champion": "1"}
    history = {v["version"]: v for v in registry.versions(ws, "t")}
    assert history["3"]["rollback"] == {"at": history["3"]["rollback"]["at"], "by": "bob",
                                        "reason": "bad alerts", "to": "2"}
    assert history["1"]["restored_at"] is not None
    assert registry.champion_since(ws, "t") == history["1"]["restored_at"]


def test_promoting_an_older_version_then_rolling_back_returns_to_the_newer(ws, log):
    for _ in range(2):
        registry.register(ws, "t", log())
    registry.promote(ws, "t", 1, reason="2 misbehaves", by="ann")
    assert _aliases(ws) == {"champion": "1", "previous": "2"}
    registry.rollback(ws, "t", reason="1 is worse after all")
    assert _aliases(ws) == {"champion": "2", "previous": "1"}


def test_bad_moves_are_clear_errors_and_change_nothing(ws, log):
    with pytest.raises(RegistryError, match="No registered model 't'"):
        registry.rollback(ws, "t", reason="x")
    registry.register(ws, "t", log())
    with pytest.raises(RegistryError, match="Nothing to roll back to"):
        registry.rollback(ws, "t", reason="x")
    with pytest.raises(RegistryError, match="already the champion"):
        registry.promote(ws, "t", "1", reason="x")
    with pytest.raises(RegistryError, match="No version 9 of 't'"):
        registry.promote(ws, "t", "9", reason="x")
    assert _aliases(ws) == {"champion": "1"}


def test_a_promotion_that_fails_half_way_puts_the_aliases_back(ws, log):
    registry.register(ws, "t", log())
    registry.register(ws, "t", log(), promote=False)
    _fail_on_tag(ws, "shipyard.replaced_by")  # the last write of a promotion
    with pytest.raises(RegistryError, match="the aliases are as they were") as caught:
        registry.promote(ws, "t", "2", reason="x", by="ann")
    assert "refused" in "\n".join(caught.value.details)
    assert _aliases(ws) == {"champion": "1", "challenger": "2"}
    history = {v["version"]: v for v in registry.versions(ws, "t")}
    assert history["2"]["promotion"] is None  # its tags were taken back too


def test_a_rollback_that_fails_half_way_puts_the_aliases_back(ws, log):
    for _ in range(3):
        registry.register(ws, "t", log())
    _fail_on_tag(ws, "shipyard.restored_at")
    with pytest.raises(RegistryError, match="Rolling back of 't' failed"):
        registry.rollback(ws, "t", reason="x")
    assert _aliases(ws) == {"champion": "3", "previous": "2"}
    assert registry.versions(ws, "t")[0]["rollback"] is None


def test_history_of_an_unknown_model_is_empty(ws):
    assert registry.versions(ws, "nope") == []
    assert registry.champion_since(ws, "nope") is None
