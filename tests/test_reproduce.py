"""Lineage and `reproduce`: a run records what it came from, and running it again
from its recorded project file and snapshot gives the same metrics and the same
model outputs, registering nothing; bad requests change nothing."""

import shutil
import subprocess
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from mlflow import MlflowClient

from shipyard import gates, registry, spec
from shipyard.data.snapshot import DATA
from shipyard.errors import ShipyardError, SnapshotError
from shipyard.lifecycle import lineage as lineage_tags
from shipyard.lifecycle import run_project
from shipyard.lifecycle.lineage import environment, nondeterministic
from shipyard.lifecycle.reproduce import compare, reproduce
from shipyard.registry import history
from shipyard.workspace import Workspace
from tests.helpers import frame

PROJECT = """\
name: small
source:
  files: {rows: rows.csv}
  query: SELECT * FROM rows ORDER BY eid, t
target: y
task: regression
entity: eid
time: t
split: {holdout: 0.25, folds: 3}
models: [{name: linear}]
evaluate: {importance: false, learning_curves: false}
serve: {fast_path: false}
gates:
  quality:
    - {metric: r2, min: 0.5}
"""


def make(folder: Path, extra: str = "", binary: bool = False) -> spec.Project:
    folder.mkdir(parents=True, exist_ok=True)
    drop = ["y", "kind"] if binary else ["label", "kind"]
    frame(300).drop(columns=drop).to_csv(folder / "rows.csv", index=False)
    text = PROJECT + extra
    if binary:
        text = text.replace("target: y\ntask: regression", "target: label\ntask: binary") \
            .replace("{metric: r2, min: 0.5}", "{metric: roc_auc, min: 0.9999}")
    (folder / "shipyard.yaml").write_text(text)
    return spec.load(folder / "shipyard.yaml")


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def run_ids(project: spec.Project) -> list[str]:
    return [r["run_id"] for r in history.runs(Workspace.of(project), project.name)]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """One run of a small project in a folder that is a git repository."""
    folder = tmp_path_factory.mktemp("repo")
    project = make(folder)
    git(folder, "init", "-q")
    git(folder, "-c", "user.name=t", "-c", "user.email=t@example.org", "add", ".")
    git(folder, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "x")
    return project, run_project(project)


def test_a_run_records_its_lineage(made):
    project, outcome = made
    ws = outcome.workspace
    tags = history.find_run(ws, outcome.run_id).data.tags
    assert tags["shipyard.project_digest"] == project.digest
    assert tags["shipyard.snapshot"] == outcome.snapshot.digest
    assert tags["shipyard.seed"] == "0" and tags["shipyard.kind"] == "run"
    assert tags["shipyard.versions.scikit-learn"] == version("scikit-learn")
    assert tags["shipyard.versions.fairlearn"] == version("fairlearn")
    assert tags["shipyard.versions.python"].count(".") == 2
    assert tags["shipyard.git.commit"] == git(project.root, "rev-parse", "HEAD")
    assert tags["shipyard.git.dirty"] == "false"  # the workspace is untracked: not a change
    assert tags["shipyard.git.root"] == str(project.root)
    text = history.run_text(ws, outcome.run_id, lineage_tags.PROJECT_ARTIFACT)
    assert text == project.file.read_text()


def test_git_tags_follow_the_work_tree(made, tmp_path: Path):
    project, _ = made
    assert lineage_tags.git(tmp_path) == {}  # not a repository: no tags, no error
    rows = project.root / "rows.csv"
    before = rows.read_text()
    try:
        rows.write_text(before + "\n")
        assert lineage_tags.git(project.root, project.file)["shipyard.git.dirty"] == "true"
    finally:
        rows.write_text(before)
    assert lineage_tags.git(project.root, project.file)["shipyard.git.dirty"] == "false"
    loose = project.root / "other.yaml"
    loose.write_text("name: x\n")  # a project file git does not track is a change
    try:
        assert lineage_tags.git(project.root, loose)["shipyard.git.dirty"] == "true"
    finally:
        loose.unlink()


def test_a_run_and_its_reproduction_agree(made):
    project, outcome = made
    ws = outcome.workspace
    before = registry.versions(ws, "small")
    assert outcome.version == "1"

    done = reproduce(project, outcome.run_id)
    assert done.matched and done.deterministic and done.tolerance == 0.0
    assert done.nondeterministic == [] and done.predictions_equal
    assert done.prediction_difference == 0.0 and done.rows_compared == 50
    names = {c.name for c in done.metrics}
    assert {"holdout_r2", "holdout_rmse", "cv_r2_mean"} <= names
    assert all(c.original == c.reproduced and c.equal for c in done.metrics)

    # nothing registered, the champion unchanged
    assert registry.versions(ws, "small") == before
    assert registry.champion_version(ws, "small") == "1"
    new = history.find_run(ws, done.new_run_id)
    assert new.data.tags["shipyard.kind"] == "reproduce"
    assert new.data.tags["shipyard.reproduces"] == outcome.run_id
    assert new.data.tags["shipyard.reproduced"] == "matched"
    assert new.data.tags["shipyard.registered_version"] == "none"

    # the same outputs on a fixed input, checked here without the comparison's code
    champion = registry.load(ws, "small")
    again, card = history.run_model(ws, new)
    X = card.schema.model_frame(frame(40, seed=7))
    assert np.array_equal(champion.pipeline.predict(X), again.predict(X))


def test_an_unknown_or_unfit_run_is_refused_and_changes_nothing(made):
    project, outcome = made
    ws = outcome.workspace
    runs = run_ids(project)
    with pytest.raises(ShipyardError, match="No run 'feedc0de'") as caught:
        reproduce(project, "feedc0de")
    assert "shipyard runs" in caught.value.hint
    client = MlflowClient(ws.tracking_uri)
    child = client.search_runs([e.experiment_id for e in client.search_experiments()],
                               filter_string=f"tags.`mlflow.parentRunId` = '{outcome.run_id}'")[0]
    with pytest.raises(ShipyardError, match="is not a training run"):
        reproduce(project, child.info.run_id)
    assert run_ids(project) == runs


def test_a_tampered_snapshot_is_refused(tmp_path: Path):
    project = make(tmp_path)
    outcome = run_project(project)
    path = outcome.snapshot.data_file
    table = pq.read_table(path)
    changed = table.set_column(table.schema.get_field_index("a"), "a",
                               pc.multiply(table["a"], 1.01))
    pq.write_table(changed, path)
    runs = run_ids(project)
    with pytest.raises(SnapshotError, match="no longer matches its hash") as caught:
        reproduce(project, outcome.run_id)
    assert outcome.run_id in caught.value.headline
    assert run_ids(project) == runs
    assert registry.champion_version(outcome.workspace, "small") == "1"


def test_a_colleague_reproduces_from_the_remote_store(tmp_path: Path):
    project = make(tmp_path / "project", extra="snapshots: ../store\n")
    outcome = run_project(project)
    digest = outcome.snapshot.digest
    store = tmp_path / "store"
    tags = history.find_run(outcome.workspace, outcome.run_id).data.tags
    assert tags["shipyard.snapshot.remote"] == f"{store}/{digest}"
    assert (store / digest / DATA).read_bytes() == outcome.snapshot.data_file.read_bytes()

    shutil.rmtree(outcome.snapshot.path)  # another machine: only the remote copy
    done = reproduce(project, outcome.run_id)
    assert done.fetched_from == str(store) and done.matched
    assert (outcome.snapshot.path / DATA).is_file()

    shutil.rmtree(outcome.snapshot.path)
    copy = store / digest / DATA
    table = pq.read_table(copy)
    pq.write_table(table.slice(1), copy)  # a damaged remote copy
    runs = run_ids(project)
    with pytest.raises(SnapshotError, match="does not match its hash"):
        reproduce(project, outcome.run_id)
    assert not outcome.snapshot.path.exists()  # the bad copy was not kept
    assert run_ids(project) == runs


def test_a_classifier_let_through_by_an_override_is_reproduced(tmp_path: Path):
    project = make(tmp_path, binary=True)
    let = [gates.Override("quality.roc_auc", "a known hard case, accepted for now", "ann")]
    outcome = run_project(project, overrides=let)
    assert outcome.version == "1" and outcome.card.classes == ("No", "Yes")

    done = reproduce(project, outcome.run_id)  # the override is given again
    assert done.matched and done.predictions_equal and done.deterministic
    assert {"holdout_roc_auc", "holdout_f1"} <= {c.name for c in done.metrics}
    again = history.run_json(outcome.workspace, done.new_run_id, "gates.json")
    assert [r["overridden"] for r in again if not r["passed"]] == [
        "a known hard case, accepted for now"]
    assert registry.champion_version(outcome.workspace, "small") == "1"


def test_what_is_not_deterministic_is_named():
    base = "name: t\nsource: {url: 'duckdb:///x.duckdb', query: SELECT 1}\ntarget: y\n" \
           "task: regression\n"
    assert nondeterministic(spec.parse(base + "models: [{name: linear}]")) == []
    timed = spec.parse(base + "models: [{name: lightgbm, search: auto}]\n"
                              "tuning: {timeout: 30}")
    assert any(r.startswith("tuning.timeout") for r in nondeterministic(timed))
    forest = nondeterministic(spec.parse(base + "models: [{name: random_forest}]"))
    assert forest == ["models[0] (random_forest): n_jobs=-1: parallel threads may add up "
                      "floating-point numbers in another order"]
    single = spec.parse(base + "models: [{name: random_forest, params: {n_jobs: 1}}]")
    assert nondeterministic(single) == []
    now = version("numpy")
    assert environment({"shipyard.versions.numpy": now}) == []
    assert environment({"shipyard.versions.numpy": "0.1"}) == [
        f"environment: numpy was 0.1, is {now}"]


def test_metrics_compare_exactly_or_within_the_tolerance():
    old = {"holdout_r2": 0.9, "cv_r2_mean": 0.8, "baseline_r2": 0.0, "holdout_x": float("nan")}
    near = {"holdout_r2": 0.9 * (1 + 1e-9), "cv_r2_mean": 0.8, "baseline_r2": 5.0,
            "holdout_x": float("nan")}
    exact = {c.name: c.equal for c in compare(old, near, exact=True)}
    assert exact == {"cv_r2_mean": True, "holdout_r2": False, "holdout_x": True}
    assert all(c.equal for c in compare(old, near, exact=False))
    missing = compare(old, {"holdout_r2": 0.9}, exact=True)
    assert [(c.name, c.reproduced, c.equal) for c in missing if not c.equal] == [
        ("cv_r2_mean", None, False), ("holdout_x", None, False)]
