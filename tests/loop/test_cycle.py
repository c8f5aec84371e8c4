"""Retraining cycles end to end on a real DuckDB source, the real MLflow store
and the real prediction log: what is promoted, what is not, and what is kept."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from shipyard import registry
from shipyard.lifecycle import run_project
from shipyard.loop import retrain
from shipyard.monitor.store import LogStore
from shipyard.workspace import Workspace

from .project import append, changed_fleet, rows, write


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A project whose champion (version 1) learned the first rows."""
    append(tmp_path, rows())
    outcome = run_project(write(tmp_path))
    assert outcome.version == "1"
    return tmp_path


def _aliases(project) -> dict[str, str]:
    ws = Workspace.of(project)
    client = MlflowClient(ws.tracking_uri, registry_uri=ws.tracking_uri)
    return {a: str(v) for a, v in client.get_registered_model(project.name).aliases.items()}


def _decisions(project) -> list[dict]:
    with LogStore.of(project, Workspace.of(project)) as store:
        return store.decisions()


def test_a_better_challenger_is_promoted_and_the_decision_recorded(folder: Path):
    changed_fleet(folder)
    project = write(folder)
    decision = retrain(project, force=True)

    assert decision.outcome == "promoted", decision.notes
    assert decision.triggered and decision.reasons == ["forced (--force)"]
    assert (decision.champion, decision.challenger, decision.promoted) == ("1", "2", True)
    # the old champion never saw the new rule; the challenger learned it
    assert decision.challenger_score < 0.5 * decision.champion_score
    assert decision.window_since.startswith("2026-01-16 11:00")  # 10 days before the last row
    assert 0 < decision.holdout_rows <= 72  # rows of the last 3 days, of half the entities
    assert all(g["passed"] for g in decision.gates) and decision.gates
    assert "warm start: linear from version 1's parameters" in decision.notes
    assert _aliases(project) == {"champion": "2", "previous": "1"}
    assert registry.load(Workspace.of(project), "loopy").card.version == "2"

    client = MlflowClient(Workspace.of(project).tracking_uri)
    run = client.get_run(decision.run_id)
    assert run.data.tags["shipyard.kind"] == "retrain"
    assert run.data.tags["shipyard.outcome"] == "promoted"
    assert run.data.metrics["champion_score"] == pytest.approx(decision.champion_score)
    trained = client.get_run(decision.challenger_run)
    assert trained.data.tags["shipyard.kind"] == "challenger"
    assert trained.data.tags["shipyard.parent"] == "1"
    assert trained.data.tags["shipyard.decision"] == "promoted"
    assert trained.data.metrics["champion_holdout_rmse"] == pytest.approx(
        decision.champion_score)
    stored = _decisions(project)
    assert len(stored) == 1 and stored[0]["outcome"] == "promoted"
    assert stored[0]["run_id"] == decision.run_id and stored[0]["challenger"] == "2"
    history = registry.versions(Workspace.of(project), "loopy")
    assert history[0]["promotion"]["by"] == "shipyard retrain"
    assert history[0]["promotion"]["reason"].startswith("retraining: RMSE")


def test_a_broken_query_changes_nothing_and_says_why(folder: Path):
    project = write(folder, query="SELECT * FROM rowz")
    snapshots = sorted(p.name for p in (folder / ".shipyard" / "snapshots").iterdir())
    decision = retrain(project, force=True)

    assert decision.outcome.startswith("failed: The query failed"), decision.outcome
    assert decision.challenger is None and not decision.promoted
    assert any("rowz" in note for note in decision.notes)
    assert _aliases(project) == {"champion": "1"}
    assert sorted(p.name for p in (folder / ".shipyard" / "snapshots").iterdir()) == snapshots
    assert _decisions(project)[-1]["outcome"] == decision.outcome


def test_a_challenger_that_fails_a_gate_is_not_registered(folder: Path):
    changed_fleet(folder)
    project = write(folder, r2_min=0.9999)
    decision = retrain(project, force=True)

    assert decision.outcome == "challenger failed a gate"
    assert decision.challenger is None and not decision.promoted
    assert [(g["key"], g["passed"]) for g in decision.gates if g["gate"] == "quality"] == [
        ("quality.r2", False)]
    assert decision.challenger_score is not None and decision.champion_score is not None
    assert _aliases(project) == {"champion": "1"}  # not even a challenger alias


def test_a_challenger_short_of_the_margin_stays_a_challenger(folder: Path):
    project = write(folder, extra="  margin: 0.9")  # 90% better: out of reach
    decision = retrain(project, force=True)

    assert decision.outcome == "challenger not better"
    assert decision.challenger == "2" and not decision.promoted
    assert _aliases(project) == {"champion": "1", "challenger": "2"}


def test_an_untriggered_cycle_is_recorded_and_new_labels_trigger_one(folder: Path):
    project = write(folder, extra="  new_labels: 5\n  on_drift: false")
    quiet = retrain(project)
    assert (quiet.triggered, quiet.outcome, quiet.challenger) == (False, "not triggered", None)
    assert any("no predictions were logged" in n for n in quiet.notes)
    assert quiet.pass_at is not None

    with LogStore.of(project, Workspace.of(project)) as store:
        store.write_predictions([
            {"request_id": f"r{i}", "ts": time.time(), "model_version": "1",
             "features": {"a": 0.1 * i, "b": "x", "c": i % 5}, "prediction": 1.0,
             "score": None, "latency_ms": 1.0} for i in range(6)])
        store.add_feedback([(f"r{i}", 0.3 * i) for i in range(6)])
    busy = retrain(project)
    assert busy.triggered
    assert busy.reasons == ["6 new labelled rows since the champion was promoted "
                            "(retrain.new_labels: 5)"]
    assert busy.outcome in ("promoted", "challenger not better")
    assert [d["outcome"] for d in _decisions(project)] == ["not triggered", busy.outcome]
    assert len(MlflowClient(Workspace.of(project).tracking_uri).search_runs(
        [registry_experiment(project)], "tags.`shipyard.kind` = 'retrain'")) == 2


def registry_experiment(project) -> str:
    client = MlflowClient(Workspace.of(project).tracking_uri)
    return client.get_experiment_by_name(project.name).experiment_id


def test_no_champion_is_a_clear_error(tmp_path: Path):
    append(tmp_path, rows())
    from shipyard.errors import RegistryError

    with pytest.raises(RegistryError, match="has no champion to challenge"):
        retrain(write(tmp_path), force=True)
