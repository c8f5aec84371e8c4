"""The command line as a user meets it: exit codes, and known errors as a
headline with a hint and no traceback."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_lifecycle import _project


def shipyard(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shipyard", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_validate_a_good_project_checks_its_query(tmp_path: Path):
    _project(tmp_path)
    done = shipyard("validate", "shipyard.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "the query returns 6 columns" in done.stdout and "is valid" in done.stdout


@pytest.mark.parametrize("edit, code, message", [
    (("task: regression", "task: regresion"), 2, "shipyard.yaml:6: task: expected one of"),
    (("target: y", "target: why"), 2, "target: 'why' is not in the result"),
    (("FROM rows", "FROM rowz"), 2, "The query failed on the source files"),
])
def test_validate_reports_known_errors_without_traceback(tmp_path: Path, edit, code, message):
    _project(tmp_path)
    path = tmp_path / "shipyard.yaml"
    path.write_text(path.read_text().replace(*edit))
    done = shipyard("validate", cwd=tmp_path)
    assert done.returncode == code
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_run_exits_1_when_a_gate_fails(tmp_path: Path):
    _project(tmp_path, gates="    - {metric: r2, min: 0.9999}")
    done = shipyard("run", cwd=tmp_path)
    assert done.returncode == 1
    assert "A gate failed: the model was not registered" in done.stderr
    assert "Report:" in done.stdout and "Traceback" not in done.stderr


def test_run_registers_and_prints_where_things_are(tmp_path: Path):
    _project(tmp_path)
    done = shipyard("run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Registered small version 1 as champion." in done.stdout
    assert "Report:" in done.stdout


def test_init_refuses_to_overwrite(tmp_path: Path):
    done = shipyard("init", "proj", "--aircraft", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "proj" / "shipyard.yaml").is_file()
    assert (tmp_path / "proj" / "data" / "fleet.duckdb").is_file()
    again = shipyard("init", "proj", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert shipyard("validate", "proj/shipyard.yaml", cwd=tmp_path).returncode == 0
