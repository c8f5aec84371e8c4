"""`shipyard export airflow`: the DAG file compiles, and real Airflow, installed in
a throwaway environment of its own (about 6 s with uv from an empty cache on this
machine), loads it into a DagBag with the expected tasks, order and schedule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.errors import SpecError
from shipyard.loop.airflow import dag_source, export
from tests.helpers import project as parsed

from .project import write

PROBE = """
import json, sys
try:  # Airflow 3
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 2
    from airflow.models.dagbag import DagBag
import airflow
bag = DagBag(dag_folder=sys.argv[1])
print("RESULT " + json.dumps({
    "version": airflow.__version__,
    "errors": {str(k): str(v) for k, v in bag.import_errors.items()},
    "dags": {dag_id: {
        "tasks": {t.task_id: {"downstream": sorted(t.downstream_task_ids),
                              "command": t.bash_command,
                              "rule": getattr(t.trigger_rule, "value", str(t.trigger_rule))}
                  for t in dag.tasks},
        "timetable": repr(dag.timetable), "max_active_runs": dag.max_active_runs}
        for dag_id, dag in bag.dags.items()}}))
"""


@pytest.fixture(scope="module")
def airflow_python(tmp_path_factory) -> Path:
    """A venv with apache-airflow, apart from Shipyard's (their pins differ)."""
    uv = Path(sys.executable).with_name("uv")
    venv = tmp_path_factory.mktemp("airflow") / "venv"
    subprocess.run([str(uv), "venv", "-q", "--python", sys.executable, str(venv)],
                   check=True, timeout=120)
    python = venv / "bin" / "python"
    done = subprocess.run([str(uv), "pip", "install", "-q", "--python", str(python),
                           "apache-airflow"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return python


def _load(python: Path, folder: Path, home: Path) -> dict:
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    done = subprocess.run([str(python), "-c", PROBE, str(folder)], capture_output=True,
                          text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.split("RESULT ", 1)[1])


@pytest.mark.parametrize("schedule, timetable", [("every: 6h", "seconds=21600"),
                                                  ("cron: '0 3 * * *'", "0 3 * * *")])
def test_the_dag_runs_monitor_then_retrain_on_the_projects_schedule(
        tmp_path: Path, airflow_python: Path, schedule: str, timetable: str):
    folder = tmp_path / "a project"  # a path the shell must see quoted
    folder.mkdir()
    path = export(write(folder, extra=f"  {schedule}"))
    assert path == folder / "dags" / "shipyard_loopy.py"
    compile(path.read_text(), str(path), "exec")

    found = _load(airflow_python, path.parent, tmp_path / "airflow-home")
    assert found["errors"] == {} and list(found["dags"]) == ["shipyard_loopy"]
    dag = found["dags"]["shipyard_loopy"]
    assert timetable in dag["timetable"] and dag["max_active_runs"] == 1
    tasks = dag["tasks"]
    assert tasks["monitor"]["downstream"] == ["retrain"] and tasks["retrain"]["downstream"] == []
    assert tasks["retrain"]["rule"] == "all_done"
    assert tasks["retrain"]["command"] == (
        f"{sys.executable} -m shipyard retrain '{folder / 'shipyard.yaml'}'")


def test_the_command_and_the_file_can_be_chosen(tmp_path: Path):
    path = export(write(tmp_path, extra="  every: 1d"), out=tmp_path / "x" / "loop.py",
                  command="shipyard")
    text = path.read_text()
    assert "SHIPYARD = 'shipyard'" in text and "timedelta(seconds=86400.0)" in text


def test_without_a_schedule_the_dag_runs_when_triggered(tmp_path: Path):
    text = dag_source(write(tmp_path))
    assert "schedule=None," in text and "runs only when triggered" in text
    compile(text, "dag.py", "exec")


def test_a_project_without_a_file_cannot_be_exported():
    with pytest.raises(SpecError, match="needs a project file"):
        dag_source(parsed())
