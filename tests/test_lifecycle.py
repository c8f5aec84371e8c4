"""One run of the life cycle on a small CSV project, with the real MLflow store."""

from pathlib import Path

import pytest

from shipyard import registry, spec
from shipyard.errors import DataError, SourceError
from shipyard.lifecycle import run_project
from shipyard.monitor.reference import Reference
from tests.helpers import frame

PROJECT = """\
name: small
source:
  files: {{rows: rows.csv}}
  query: SELECT * FROM rows ORDER BY eid, t
target: {target}
task: {task}
entity: eid
time: t
split: {{holdout: 0.25, folds: 3}}
models:
  - name: linear
  - name: lightgbm
    params: {{n_estimators: 40}}
gates:
  quality:
{gates}
"""


def _project(folder: Path, task="regression", target="y", gates="    - {metric: r2, min: 0.5}",
             query=None) -> spec.Project:
    folder.mkdir(exist_ok=True)
    data = frame()
    data.drop(columns=[c for c in ("y", "label", "kind") if c != target]).to_csv(
        folder / "rows.csv", index=False)
    text = PROJECT.format(target=target, task=task, gates=gates)
    if query:
        text = text.replace("SELECT * FROM rows ORDER BY eid, t", query)
    (folder / "shipyard.yaml").write_text(text)
    return spec.load(folder / "shipyard.yaml")


def test_a_run_registers_a_champion_with_a_report(tmp_path: Path):
    project = _project(tmp_path)
    outcome = run_project(project)
    assert outcome.passed and outcome.version == "1"
    assert outcome.evaluation.metrics["r2"] > 0.8
    assert outcome.evaluation.metrics["rmse"] < 0.5 * outcome.evaluation.baseline_metrics["rmse"]
    page = outcome.report.read_text()
    for title in ("Data", "Data profile", "Model selection", "Holdout evaluation", "Gates"):
        assert f">{title}<" in page
    assert page.count('src="data:image/png;base64,') >= 3
    assert outcome.report.parent == tmp_path / ".shipyard" / "reports"
    loaded = registry.load(outcome.workspace, "small")
    assert loaded.card.version == "1" and loaded.card.estimator == outcome.training.best.name
    assert loaded.card.schema.names == ["a", "b", "c"]
    # the holdout's permutation importance is kept to weigh drift's features
    kept = Reference.from_files(loaded.reference).importance
    assert kept == {c: m for c, m, _ in outcome.evaluation.importance}

    again = run_project(project)
    assert again.snapshot.digest == outcome.snapshot.digest  # same data, same snapshot
    assert len(list((tmp_path / ".shipyard" / "snapshots").iterdir())) == 1
    assert again.version == "2"
    assert registry.load(outcome.workspace, "small", registry.PREVIOUS).card.version == "1"
    assert again.evaluation.metrics == outcome.evaluation.metrics  # seeded: same result


def test_a_failed_gate_leaves_the_champion_alone(tmp_path: Path):
    run_project(_project(tmp_path))
    strict = _project(tmp_path, gates="    - {metric: r2, min: 0.9999}")
    outcome = run_project(strict)
    assert not outcome.passed and outcome.version is None
    assert registry.champion_version(outcome.workspace, "small") == "1"
    assert "not registered" in outcome.report.read_text()


def test_a_broken_query_changes_nothing(tmp_path: Path):
    first = run_project(_project(tmp_path))
    broken = _project(tmp_path, query="SELECT * FROM rowz")
    with pytest.raises(SourceError, match="The query failed"):
        run_project(broken)
    snapshots = list((tmp_path / ".shipyard" / "snapshots").iterdir())
    assert [p.name for p in snapshots] == [first.snapshot.digest]
    assert registry.champion_version(first.workspace, "small") == "1"


def test_a_single_class_target_is_refused(tmp_path: Path):
    project = _project(tmp_path, task="binary", target="label",
                       gates="    - {metric: roc_auc, min: 0.5}",
                       query="SELECT * FROM rows WHERE label = 'Yes'")
    with pytest.raises(DataError, match="single class"):
        run_project(project)


def test_classification_run(tmp_path: Path):
    project = _project(tmp_path, task="binary", target="label",
                       gates="    - {metric: roc_auc, min: 0.9}")
    outcome = run_project(project)
    assert outcome.passed
    assert outcome.card.classes == ("No", "Yes") and outcome.card.positive_class == "Yes"
    assert {"roc_auc", "pr_auc", "f1"} <= set(outcome.evaluation.metrics)
