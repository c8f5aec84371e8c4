"""Serving a project: one process, or several worker processes behind one port.

Workers are uvicorn's: a supervisor binds the socket, starts ``workers``
processes that each load the champion themselves, and replaces any that dies.
The project file's path reaches them through the environment, and so does the
folder where the workers share their metrics.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import uvicorn

PROJECT_ENV = "SHIPYARD_SERVE_PROJECT"
METRICS_ENV = "SHIPYARD_METRICS_DIR"  # where workers share their metrics


def app_for(project, model=None):
    """The app serving ``project``'s champion (``model`` if already loaded), following
    the registry's alias, with the project's keys, alert rules and prediction log."""
    from shipyard import registry
    from shipyard.serve import companions, extras
    from shipyard.serve.app import create_app
    from shipyard.serve.reload import RegistrySource
    from shipyard.workspace import Workspace

    workspace = Workspace.of(project)
    model = model or registry.load(workspace, project.name)
    others = companions.load(project)
    keys, alerts, routes = extras.build(project, workspace, model, others)
    log = extras.prediction_log(project, workspace)
    watch, board = extras.monitoring(project, workspace) if log else (None, [])
    app = create_app(model, settings=project.serve,
                     source=RegistrySource(workspace, project.name),
                     keys=keys, alerts=alerts, log=log,
                     entities=extras.entities(project, workspace), companions=others,
                     extra_routes=[*routes, *board])
    if watch is not None:
        watch.state = app.state
        app.state.monitoring = watch
    return app


def app_from_environment():
    """uvicorn's factory in each worker process."""
    from shipyard import spec
    from shipyard.serve.app import settle_memory

    app = app_for(spec.load(os.environ[PROJECT_ENV]))
    settle_memory()  # this process only serves now: keep full collections short
    return app


def run(project_file: Path, host: str, port: int, workers: int) -> None:
    """Serve until interrupted (blocking)."""
    os.environ[PROJECT_ENV] = str(Path(project_file).resolve())
    metrics_dir = None
    if workers > 1 and not os.environ.get(METRICS_ENV):
        metrics_dir = tempfile.mkdtemp(prefix="shipyard-metrics-")
        os.environ[METRICS_ENV] = metrics_dir
    try:
        uvicorn.run("shipyard.serve.worker:app_from_environment", factory=True, host=host,
                    port=port, workers=workers, loop="uvloop", http="httptools",
                    access_log=False, log_level="warning", timeout_graceful_shutdown=10)
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
