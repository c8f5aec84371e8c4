"""The embedded demo: an airline's predictive maintenance, end to end.

``shipyard demo`` simulates a fleet into a DuckDB file (or, given a URL, a
PostgreSQL database: the same project file, only its URLs change), runs the life cycle on
it (SQL with joins -> snapshot -> profile -> train -> evaluate -> gates ->
registry), serves the champion over HTTP and asks it, over real HTTP requests,
for the remaining useful life of every engine still on wing, flagging those
that need an inspection. Then two more weeks go by (:mod:`.new_days`): the
fleet changes, monitoring sees it, a challenger is trained and promoted, and
the server switches to it.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import pandas as pd
from rich.console import Console

from shipyard import gates, registry, spec
from shipyard.data import fleet, fleet_sql
from shipyard.demo import crew, show, traffic
from shipyard.demo.new_days import Fortnight, fortnight
from shipyard.demo.show import command
from shipyard.demo.traffic import DATA_FILE
from shipyard.errors import GateFailed, ShipyardError, SourceError
from shipyard.lifecycle import RunOutcome, run_project
from shipyard.monitor.store import metadata as log_tables
from shipyard.progress import Bars, Report
from shipyard.serve.background import BackgroundServer, free_port

INSPECT_BELOW = 30  # flights of predicted remaining life that call for an inspection
CREW_INSPECTS = 10  # open cases the demo's ground crew acknowledges, most urgent first
DETECTOR_FILE = "anomaly.yaml"  # the anomaly detector's project, beside shipyard.yaml


@dataclass(frozen=True)
class DemoResult:
    project_file: Path
    outcome: RunOutcome
    url: str
    predictions: pd.DataFrame  # engine_id, predicted RUL, inspect flag (the first champion)
    seconds: float
    later: Fortnight | None = None  # the two weeks after, when the demo ran them
    predictions_after: pd.DataFrame | None = None  # the same, by the champion after them
    # How the server scored each version it served: "onnx" (the fast path) or "python"
    served_paths: dict[str, str] = field(default_factory=dict)
    crew: crew.Summary | None = None  # what the ground crew's console received
    detector: RunOutcome | None = None  # the anomaly detector's run (anomaly.yaml)


def init_project(folder: Path, *, aircraft: int = 500, seed: int = 0, force: bool = False,
                 progress: Report | None = None, database: str | None = None) -> Path:
    """Write the demo's project file and simulate its fleet data beside it, or into
    the PostgreSQL database at ``database``: its fleet tables are replaced, and so is
    the prediction log there, which the project file then uses too."""
    folder = Path(folder)
    path = folder / "shipyard.yaml"
    if path.exists() and not force:
        raise ShipyardError(f"{path} already exists", hint="use --force to overwrite it, or "
                                                           "choose another folder")
    if aircraft < 1:
        raise ShipyardError(f"--aircraft must be at least 1, got {aircraft}")
    engine = _connect(database) if database is not None else None  # before any write
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if progress:
            progress("Simulating the fleet", 0, 1)
        tables = fleet.simulate(aircraft=aircraft, seed=seed)
        if progress:
            progress("Simulating the fleet", 1, 1)
        if engine is None:
            fleet.write_duckdb(tables, folder / DATA_FILE)
        else:
            # The old log's predictions are about another fleet's engines.
            fleet_sql.write(tables, engine, drop=sorted(log_tables.tables), progress=progress)
    finally:
        if engine is not None:
            engine.dispose()
    url = None if engine is None else engine.url.render_as_string(hide_password=False)
    path.write_text(project_text(url))
    (folder / DETECTOR_FILE).write_text(
        files("shipyard.data").joinpath("fleet_anomaly.yaml").read_text())
    return path


def project_text(database: str | None = None) -> str:
    """The demo's project file; with ``database``, its source and prediction log are
    that database (the rest, the SQL included, is the same)."""
    text = files("shipyard.data").joinpath("fleet.yaml").read_text()
    if database is None:
        return text
    quoted = json.dumps(database)  # a YAML string, whatever the password holds
    changes = [
        ("  # Relative to this file.\n  url: duckdb:///data/fleet.duckdb\n",
         f"  # Where `shipyard demo --database` loaded the fleet.\n  url: {quoted}\n"),
        ("# Every served prediction is logged (.shipyard/predictions.db).",
         "# Every served prediction is logged (in the same database, monitor.store)."),
        ("\nmonitor:\n", f"\nmonitor:\n  store: {quoted}\n"),
    ]
    for old, new in changes:
        if text.count(old) != 1:
            raise RuntimeError(f"fleet.yaml no longer has {old!r} once: update project_text")
        text = text.replace(old, new)
    return text


def _connect(database: str):
    """The database ``--database`` names, reached once, or a clear error."""
    if not re.match(r"^postgresql(\+psycopg)?://", database):
        raise SourceError(f"--database must be a PostgreSQL URL, got {database.split('@')[-1]!r}",
                          hint="give postgresql+psycopg://user:password@host:port/database")
    try:
        return fleet_sql.connect(database)
    except SourceError as exc:
        raise SourceError(f"--database: {exc.headline}", details=exc.details,
                          hint=exc.hint) from exc


def run_demo(folder: Path, *, aircraft: int = 500, seed: int = 0, port: int | None = None,
             keep_serving: bool = False, close_loop: bool = True, console: Console | None = None,
             progress_console: Console | None = None, database: str | None = None
             ) -> DemoResult:
    console = console or Console()
    started = time.perf_counter()
    with Bars(progress_console or console) as bars:
        path = init_project(folder, aircraft=aircraft, seed=seed, force=True, progress=bars,
                            database=database)
        project = spec.load(path)
        outcome = _passed(run_project(project, bars), "RUL model")
        detector = _passed(run_project(spec.load(path.parent / DETECTOR_FILE), bars),
                           "anomaly detector")
    with crew.console_for(project, outcome.workspace) as ground:
        return _serve(project, path, outcome, ground, port=port, keep_serving=keep_serving,
                      close_loop=close_loop, console=console,
                      progress_console=progress_console, started=started, aircraft=aircraft,
                      seed=seed, detector=detector)


def _passed(outcome: RunOutcome, what: str) -> RunOutcome:
    if not outcome.passed:
        raise GateFailed(f"The demo's {what} failed a gate and was not registered",
                         details=[f"{g.key}: {g.details}" for g in gates.failures(outcome.gates)],
                         hint=f"see the report: {outcome.report}")
    return outcome


def _serve(project, path: Path, outcome: RunOutcome, ground, *, port, keep_serving,
           close_loop, console, progress_console, started, aircraft, seed,
           detector) -> DemoResult:
    from shipyard.serve.worker import app_for

    project = spec.load(path, environ={**os.environ, crew.ENV: ground.url})
    model = registry.load(outcome.workspace, project.name)
    host = project.serve.host
    port = port or (project.serve.port if _is_free(host, project.serve.port) else free_port(host))
    app = app_for(project, model)  # follows the champion alias, logs every prediction
    with BackgroundServer(app, host, port) as server:
        predictions = _inspections(project, outcome.snapshot.frame(), server.url, model.card)
        _settle(app.state)
        result = DemoResult(path, outcome, server.url, predictions,
                            time.perf_counter() - started, served_paths=_paths(app.state),
                            crew=ground.summary(), detector=detector)
        show.first(console, result, INSPECT_BELOW)
        if close_loop:
            with Bars(progress_console or console) as bars:
                later = fortnight(project, outcome.workspace, server.url, app.state,
                                  aircraft=aircraft, seed=seed, progress=bars)
            latest = traffic.rows_since(project, pd.Timestamp.min)
            after = _inspections(project, latest, server.url, app.state.engine.card)
            _settle(app.state)
            ground.inspect_most_urgent(CREW_INSPECTS)
            result = DemoResult(path, outcome, server.url, predictions,
                                time.perf_counter() - started, later, after,
                                served_paths=_paths(app.state), crew=ground.summary(),
                                detector=detector)
            show.second(console, result, INSPECT_BELOW)
        show.where(console, result)
        if keep_serving:
            console.print(f"\nThe API is running at [bold]{server.url}[/] (POST /predict, "
                          "GET /dashboard, GET /health, GET /openapi.json). Ctrl-C to stop.",
                          soft_wrap=True)
            server.wait()
    if not keep_serving:
        console.print(f"\nThe API was stopped with the demo. Serve the champion again with: "
                      f"[bold]{command()} serve {path}[/]", soft_wrap=True)
    return result


def _inspections(project, frame: pd.DataFrame, url: str, card) -> pd.DataFrame:
    """The served RUL of every engine on wing, over HTTP, and whether to inspect it."""
    rows = traffic.engines_on_wing(project, frame)
    items = traffic.predict(url, rows, traffic.sent_columns(card))
    predictions = pd.DataFrame({"engine_id": rows[project.entity].to_numpy(),
                                "predicted_rul": [p["prediction"] for p in items]})
    if items and "anomaly" in items[0]:  # the detector answers beside it (serve.companions)
        predictions["anomaly_score"] = [p["anomaly"]["score"] for p in items]
    predictions["inspect"] = predictions["predicted_rul"] < INSPECT_BELOW
    return predictions


def _settle(state) -> None:
    """Wait for the alerts raised so far to reach the ground crew's console."""
    if state.alerts is not None:
        state.alerts.drain()


def _paths(state) -> dict[str, str]:
    return {str(h["version"]): h["path"] for h in state.history}


def _is_free(host: str, port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex((host, port)) != 0
