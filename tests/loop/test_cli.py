"""`shipyard retrain`, `promote` and `rollback` as a person runs them: the decision
table, exit statuses, and clear errors without tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard import registry
from shipyard.lifecycle import run_project
from shipyard.workspace import Workspace
from tests.test_cli import shipyard

from .project import append, changed_fleet, rows, write


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    append(tmp_path, rows())
    assert run_project(write(tmp_path)).version == "1"
    return tmp_path


def _champion(folder: Path) -> str | None:
    project = write(folder)
    return registry.champion_version(Workspace.of(project), project.name)


def test_retrain_promotes_and_rollback_goes_back(folder: Path):
    changed_fleet(folder)
    done = shipyard("retrain", "--force", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert "Retraining cycle: promoted" in done.stdout
    assert "forced (--force)" in done.stdout
    assert "RMSE on" in done.stdout and "champion v1" in done.stdout
    assert "challenger v2" in done.stdout and "gate" in done.stdout
    assert "Traceback" not in done.stderr
    assert _champion(folder) == "2"

    done = shipyard("rollback", "--reason", "alerts went up", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert "back from version 2 to version 1" in done.stdout
    assert _champion(folder) == "1"

    done = shipyard("rollback", "--reason", "again", cwd=folder)
    assert done.returncode == 2
    assert "Nothing to roll back to" in done.stderr and "Traceback" not in done.stderr
    assert _champion(folder) == "1"

    done = shipyard("promote", "2", "--reason", "fine after all", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert "Version 2 of loopy is the champion; version 1 is `previous`." in done.stdout
    assert _champion(folder) == "2"

    done = shipyard("rollback", cwd=folder)  # no reason given
    assert done.returncode == 2 and "--reason" in done.stderr
    assert _champion(folder) == "2"


def test_retrain_exits_1_when_the_challenger_fails_a_gate(folder: Path):
    changed_fleet(folder)
    write(folder, r2_min=0.9999)
    done = shipyard("retrain", "--force", cwd=folder)
    assert done.returncode == 1, done.stderr
    assert "Retraining cycle: challenger failed a gate" in done.stdout and "FAIL" in done.stdout
    assert "The challenger failed a gate: the champion is unchanged" in done.stderr
    assert _champion(folder) == "1"


def test_retrain_exits_2_when_the_cycle_fails_and_0_when_not_triggered(folder: Path):
    write(folder, query="SELECT * FROM rowz")
    done = shipyard("retrain", "--force", cwd=folder)
    assert done.returncode == 2
    assert "The retraining cycle failed: The query failed" in done.stderr
    assert "Traceback" not in done.stderr
    assert _champion(folder) == "1"

    write(folder, extra="  on_drift: false")
    done = shipyard("retrain", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert "Retraining cycle: not triggered" in done.stdout
    assert "version 1, unchanged" in done.stdout
