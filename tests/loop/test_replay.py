"""A retraining challenger reproduced: the cycle's rows, its recent holdout, the
parent's artifact and warm start, replayed on the real MLflow store; by run,
version number or alias, after the parent has lost its aliases."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from mlflow import MlflowClient

from shipyard import registry
from shipyard.data import open_snapshot
from shipyard.errors import ShipyardError, SnapshotError
from shipyard.lifecycle import run_project
from shipyard.lifecycle.challenger import SPLIT_FILE, WARM_FILE
from shipyard.lifecycle.reproduce import reproduce
from shipyard.loop import retrain
from shipyard.registry import history
from shipyard.workspace import Workspace

from .project import append, changed_fleet, rows, write


@pytest.fixture(scope="module")
def cycled(tmp_path_factory):
    """Version 1 from `shipyard run`, then a forced cycle that promoted version 2."""
    folder = tmp_path_factory.mktemp("replay")
    append(folder, rows())
    assert run_project(write(folder)).version == "1"
    changed_fleet(folder)
    project = write(folder)
    decision = retrain(project, force=True)
    assert decision.outcome == "promoted", decision.notes
    return project, decision


def _aliases(ws: Workspace) -> dict[str, str]:
    client = MlflowClient(ws.tracking_uri, registry_uri=ws.tracking_uri)
    return {a: str(v) for a, v in client.get_registered_model("loopy").aliases.items()}


def test_a_cycle_records_what_it_needs_to_replay(cycled):
    project, decision = cycled
    ws = Workspace.of(project)
    tags = history.find_run(ws, decision.challenger_run).data.tags
    assert tags["shipyard.parent"] == "1"
    assert tags["shipyard.parent_digest"] == registry.version_digest(ws, "loopy", "1")
    assert tags["shipyard.snapshot"]  # the cycle's rows, content-addressed
    assert history.run_json(ws, decision.challenger_run, WARM_FILE) == {
        "linear": history.run_json(ws, registry.load_version(ws, "loopy", "1").card.run_id,
                                   "model.json")["params"]}
    split = history.run_json(ws, decision.challenger_run, SPLIT_FILE)
    assert split["policy"] == "recent" and split["holdout_rows"] == decision.holdout_rows
    assert split["fit_rows"] > split["holdout_rows"] > 0 and len(split["digest"]) == 64


def test_the_retrain_run_names_its_challenger(cycled):
    project, decision = cycled
    with pytest.raises(ShipyardError, match="record of a retraining cycle") as caught:
        reproduce(project, decision.run_id)
    assert decision.challenger_run in caught.value.headline
    assert caught.value.hint == f"shipyard reproduce {decision.challenger_run}"


def test_the_champion_is_reproduced_by_alias_and_version_after_its_parent_lost_its_aliases(
        cycled):
    project, decision = cycled
    ws = Workspace.of(project)
    client = MlflowClient(ws.tracking_uri, registry_uri=ws.tracking_uri)
    client.delete_registered_model_alias("loopy", "previous")  # version 1 now holds none
    before, versions = _aliases(ws), registry.versions(ws, "loopy")
    assert before == {"champion": "2"}

    for target in ("champion", "2"):
        done = reproduce(project, target)
        assert done.run_id == decision.challenger_run
        assert done.matched and done.predictions_equal and done.deterministic
        names = {c.name for c in done.metrics}
        assert {"holdout_rmse", "holdout_r2", "cv_rmse_mean"} <= names
        assert all(c.original == c.reproduced for c in done.metrics)
        new = history.find_run(ws, done.new_run_id)
        assert new.data.tags["shipyard.kind"] == "reproduce"
        assert new.data.tags["shipyard.reproduced"] == "matched"
        # the same rows trained and judged
        assert history.run_json(ws, done.new_run_id, SPLIT_FILE) == \
            history.run_json(ws, decision.challenger_run, SPLIT_FILE)
    # nothing registered or promoted; both reproductions in the champion's lineage
    assert _aliases(ws) == before and registry.versions(ws, "loopy") == versions
    found = history.lineage(ws, "loopy", "champion")["reproductions"]
    assert [r["result"] for r in found] == ["matched", "matched"]


def test_a_tampered_cycle_snapshot_is_refused_with_its_digest(cycled, tmp_path: Path):
    project, decision = cycled
    ws = Workspace.of(project)
    digest = history.find_run(ws, decision.challenger_run).data.tags["shipyard.snapshot"]
    path = open_snapshot(ws.snapshots, digest).data_file
    original = pq.read_table(path)
    try:
        index = original.schema.get_field_index("y")
        pq.write_table(original.set_column(index, "y", pc.add(original["y"], 1.0)), path)
        runs = len(client_runs(ws))
        with pytest.raises(SnapshotError, match="no longer matches its hash") as caught:
            reproduce(project, "2")
        assert digest[:12] in caught.value.headline
        assert len(client_runs(ws)) == runs  # nothing was written
    finally:
        pq.write_table(original, path)


def client_runs(ws: Workspace):
    client = MlflowClient(ws.tracking_uri)
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


def test_a_parent_artifact_that_is_gone_is_named_and_nothing_is_written(cycled):
    project, decision = cycled
    ws = Workspace.of(project)
    model = next(p for p in registry.artifact_paths(ws, "loopy", "1") if p.name == "model.pkl")
    kept = model.read_bytes()
    model.unlink()
    try:
        runs = len(client_runs(ws))
        with pytest.raises(ShipyardError, match="Version 1 of 'loopy'") as caught:
            reproduce(project, decision.challenger_run)
        assert "model.pkl" in caught.value.headline + " ".join(caught.value.details)
        assert len(client_runs(ws)) == runs
    finally:
        model.write_bytes(kept)
