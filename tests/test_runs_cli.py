"""`shipyard runs`, `shipyard lineage` and `shipyard reproduce` as a user meets them:
real values from a real run, exit codes 0 / 1 / 2."""

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

import shipyard.cli.runs  # noqa: F401 - registers the commands (also done by shipyard.cli)
from shipyard.cli import app
from shipyard.lifecycle import run_project
from tests.test_reproduce import make


def shipyard(*args: str) -> tuple[int, str, str]:
    done = CliRunner().invoke(app, list(args), env={"COLUMNS": "220"})
    return done.exit_code, done.stdout, done.stderr


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    project = make(tmp_path_factory.mktemp("cli"))
    return project, run_project(project)


def test_runs_lists_the_run_with_its_figures(made):
    project, outcome = made
    code, out, err = shipyard("runs", str(project.file))
    assert code == 0, err
    row = next(line for line in out.splitlines() if outcome.run_id in line)
    primary = outcome.evaluation.metrics[project.primary_metric]
    passed = f"{sum(g.passed for g in outcome.gates)} pass"
    assert outcome.gates and all(g.passed for g in outcome.gates)
    for cell in ("run", "linear", f"{primary:.4g}", passed, outcome.snapshot.digest[:12]):
        assert cell in row, (cell, row)
    assert row.split("│")[-3].strip() == "1"  # the registered version


def test_runs_of_a_project_without_runs(tmp_path: Path):
    project = make(tmp_path)
    code, out, _ = shipyard("runs", str(project.file))
    assert code == 0 and "No runs of small yet" in out
    code, _, err = shipyard("reproduce", "0123abcd", str(project.file))
    assert code == 2 and "No run '0123abcd'" in err
    assert not (tmp_path / ".shipyard").exists()  # reading made no store


def test_lineage_shows_data_code_parameters_gates_and_promotion(made):
    project, outcome = made
    code, out, err = shipyard("lineage", "1", str(project.file))
    assert code == 0, err
    for title in ("small version 1", "Data", "Code", "Parameters", "Gates", "Promotion"):
        assert title in out
    assert outcome.snapshot.digest in out and project.digest in out
    assert "SELECT * FROM rows ORDER BY eid, t" in out and "rows: rows.csv" in out
    assert "passed its gates in `shipyard run`" in out  # who promoted it and why
    assert "quality" in out and "pass" in out

    code, out, err = shipyard("lineage", "champion", str(project.file), "--json")
    assert code == 0, err
    found = json.loads(out)
    assert found["version"] == "1" and found["run"]["run_id"] == outcome.run_id
    assert found["data"]["rows"] == outcome.snapshot.rows
    assert found["parameters"]["model"] == "linear"

    code, _, err = shipyard("lineage", "9", str(project.file))
    assert code == 2 and "No version 9 of 'small'" in err and "Traceback" not in err


def test_reproduce_exits_0_1_or_2(made):
    project, outcome = made
    code, out, err = shipyard("reproduce", outcome.run_id, str(project.file))
    assert code == 0, err
    assert "Reproduced: every metric and output matches exactly" in out
    r2 = outcome.evaluation.metrics["r2"]
    row = next(line for line in out.splitlines() if "holdout_r2" in line)
    assert row.count(f"{r2:.10g}") == 2 and "yes" in row

    code, _, err = shipyard("reproduce", "nosuchrun", str(project.file))
    assert code == 2 and "No run 'nosuchrun'" in err and "shipyard runs" in err

    # the recorded result no longer what the run gives: not reproduced
    MlflowClient(outcome.workspace.tracking_uri).log_metric(outcome.run_id, "holdout_r2", 0.1)
    code, out, err = shipyard("reproduce", outcome.run_id, str(project.file))
    assert code == 1, err
    assert "Not reproduced: 1 metric(s) differ" in out
    row = next(line for line in out.splitlines() if "holdout_r2" in line)
    assert "NO" in row and "0.1" in row
