"""`shipyard export airflow`: the loop as an Airflow DAG.

The DAG runs the same stages as `shipyard loop`, each a task that calls the
``shipyard`` command on the project file: ``monitor`` (a monitoring pass and
its report) then ``retrain`` (one cycle: policy, challenger, compare, promote).
Airflow owns the schedule (``retrain.every`` as a timedelta, or
``retrain.cron``); ``max_active_runs=1`` keeps two cycles from overlapping, as
the built-in loop does. ``retrain`` runs even when ``monitor`` failed, since
the cycle makes its own monitoring pass. The file imports on Airflow 2.4+ and 3.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

from shipyard.errors import SpecError
from shipyard.spec import Project
from shipyard.spec.monitoring import seconds

TEMPLATE = '''\
"""Shipyard's retraining loop for the project {name!r}.

Written by `shipyard export airflow` from
{project}
Write it again after changing the project's retrain schedule. {schedule_note}
"""

from datetime import datetime, timedelta

from airflow import DAG

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2
    from airflow.operators.bash import BashOperator

# Both as the shell reads them (quoted where needed).
SHIPYARD = {command!r}
PROJECT = {quoted!r}

with DAG(
    dag_id={dag_id!r},
    description="Shipyard: monitor, then retrain and promote when the policy says so",
    schedule={schedule},
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["shipyard", "retraining"],
    default_args={{"retries": 0}},
) as dag:
    monitor = BashOperator(
        task_id="monitor",
        bash_command=f"{{SHIPYARD}} monitor {{PROJECT}}",
    )
    retrain = BashOperator(
        task_id="retrain",
        bash_command=f"{{SHIPYARD}} retrain {{PROJECT}}",
        # the cycle makes its own monitoring pass: run it even if the report failed
        trigger_rule="all_done",
    )
    monitor >> retrain
'''


def dag_source(project: Project, command: str | None = None) -> str:
    """The DAG file's text. ``command`` runs Shipyard on the Airflow workers
    (default: this Python with ``-m shipyard``)."""
    if project.file is None:
        raise SpecError("Exporting a DAG needs a project file on disk",
                        hint="pass the project file's path")
    path = str(Path(project.file).resolve())
    command = command or shlex.join([sys.executable, "-m", "shipyard"])
    retrain = project.retrain
    if retrain.cron is not None:
        schedule, note = repr(retrain.cron), f"Schedule: retrain.cron {retrain.cron!r}."
    elif retrain.every is not None:
        schedule = f"timedelta(seconds={seconds(retrain.every)!r})"
        note = f"Schedule: retrain.every {retrain.every}."
    else:
        schedule = "None"
        note = ("The project sets no retrain.every or retrain.cron, so the DAG runs only "
                "when triggered.")
    # Airflow's own rule for the DAG id: letters, digits, '-', '_' and '.'
    dag_id = "shipyard_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", project.name)
    return TEMPLATE.format(name=project.name, project=path, quoted=shlex.quote(path),
                           command=command,
                           schedule=schedule, schedule_note=note, dag_id=dag_id)


def export(project: Project, out: Path | None = None, command: str | None = None) -> Path:
    """Write the DAG file (default: ``dags/shipyard_<project>.py`` beside the
    project file) and return its path."""
    text = dag_source(project, command)
    compile(text, "<dag>", "exec")  # a template bug must fail here, not in Airflow
    target = out or project.root / "dags" / f"shipyard_{project.slug}.py"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target
