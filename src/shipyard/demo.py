"""The embedded demo: an airline's predictive maintenance, end to end.

``shipyard demo`` simulates a fleet into a DuckDB file, runs the life cycle on
it (SQL with joins -> snapshot -> profile -> train -> evaluate -> gates ->
registry), serves the champion over HTTP and asks it, over a real HTTP request,
for the remaining useful life of every engine still on wing, flagging those
that need an inspection.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import urllib.request
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import duckdb
import pandas as pd
from rich.console import Console
from rich.table import Table

from shipyard import registry, serve, spec
from shipyard.data import fleet
from shipyard.errors import GateFailed, ShipyardError
from shipyard.lifecycle import RunOutcome, run_project
from shipyard.progress import Bars, Report
from shipyard.serve.background import BackgroundServer, free_port

INSPECT_BELOW = 30  # flights of predicted remaining life that call for an inspection
DATA_FILE = Path("data") / "fleet.duckdb"


@dataclass(frozen=True)
class DemoResult:
    project_file: Path
    outcome: RunOutcome
    url: str
    predictions: pd.DataFrame  # engine_id, predicted RUL, inspect flag
    seconds: float


def init_project(folder: Path, *, aircraft: int = 200, seed: int = 0, force: bool = False,
                 progress: Report | None = None) -> Path:
    """Write the demo's project file and simulate its fleet data beside it."""
    folder = Path(folder)
    path = folder / "shipyard.yaml"
    if path.exists() and not force:
        raise ShipyardError(f"{path} already exists", hint="use --force to overwrite it, or "
                                                           "choose another folder")
    if aircraft < 1:
        raise ShipyardError(f"--aircraft must be at least 1, got {aircraft}")
    folder.mkdir(parents=True, exist_ok=True)
    if progress:
        progress("Simulating the fleet", 0, 1)
    tables = fleet.simulate(aircraft=aircraft, seed=seed)
    fleet.write_duckdb(tables, folder / DATA_FILE)
    if progress:
        progress("Simulating the fleet", 1, 1)
    path.write_text(files("shipyard.data").joinpath("fleet.yaml").read_text())
    return path


def run_demo(folder: Path, *, aircraft: int = 200, seed: int = 0, port: int | None = None,
             keep_serving: bool = False, console: Console | None = None,
             progress_console: Console | None = None) -> DemoResult:
    console = console or Console()
    started = time.perf_counter()
    with Bars(progress_console or console) as bars:
        path = init_project(folder, aircraft=aircraft, seed=seed, force=True, progress=bars)
        project = spec.load(path)
        outcome = run_project(project, bars)
    if not outcome.passed:
        raise GateFailed("The demo's model failed a gate and was not registered",
                         details=[g.details for g in outcome.gates if not g.passed],
                         hint=f"see the report: {outcome.report}")
    model = registry.load(outcome.workspace, project.name)
    host = project.serve.host
    port = port or (project.serve.port if _is_free(host, project.serve.port) else free_port(host))
    app = serve.create_app(model, settings=project.serve)
    with BackgroundServer(app, host, port) as server:
        rows = _engines_on_wing(project, outcome)
        answer = _post(f"{server.url}/predict", rows[model.card.schema.names])
        predictions = pd.DataFrame({
            "engine_id": rows["engine_id"].to_numpy(),
            "predicted_rul": [p["prediction"] for p in answer["predictions"]]})
        predictions["inspect"] = predictions["predicted_rul"] < INSPECT_BELOW
        result = DemoResult(path, outcome, server.url, predictions,
                            time.perf_counter() - started)
        _print_summary(console, result)
        if keep_serving:
            console.print(f"\nThe API is running at [bold]{server.url}[/] "
                          "(POST /predict, GET /health, GET /openapi.json). Ctrl-C to stop.",
                          soft_wrap=True)
            server.wait()
    if not keep_serving:
        console.print(f"\nThe API was stopped with the demo. Serve the champion again with: "
                      f"[bold]{command()} serve {path}[/]", soft_wrap=True)
    return result


def command() -> str:
    """How the user can run shipyard from here: plain ``shipyard`` when it is on the
    PATH, else the script in the environment this runs in (``make demo`` does not
    activate its virtual environment)."""
    if shutil.which("shipyard"):
        return "shipyard"
    script = Path(sys.executable).parent / "shipyard"
    if not script.exists():
        return f"{sys.executable} -m shipyard"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def _engines_on_wing(project, outcome: RunOutcome) -> pd.DataFrame:
    """The latest row of every engine that is still installed: the ones to score."""
    frame = outcome.snapshot.frame()
    database = project.root / DATA_FILE
    with duckdb.connect(str(database), read_only=True) as con:
        removed = {r[0] for r in con.execute("SELECT engine_id FROM removals").fetchall()}
    on_wing = frame[~frame["engine_id"].isin(removed)]
    latest = on_wing.sort_values(["engine_id", project.time]).groupby("engine_id").tail(1)
    return latest.reset_index(drop=True)


def _post(url: str, rows: pd.DataFrame) -> dict:
    body = rows.to_json(orient="records").encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def _is_free(host: str, port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex((host, port)) != 0


def _print_summary(console: Console, result: DemoResult) -> None:
    outcome, card = result.outcome, result.outcome.card
    ev = outcome.evaluation
    flagged = result.predictions[result.predictions["inspect"]]
    table = Table(title=f"Engines to inspect: predicted RUL under {INSPECT_BELOW} flights",
                  min_width=56)
    table.add_column("engine")
    table.add_column("predicted RUL", justify="right")
    for row in flagged.sort_values("predicted_rul").head(10).itertuples():
        table.add_row(str(row.engine_id), f"{row.predicted_rul:.0f}")
    console.print(table)
    ws = outcome.workspace
    console.print(
        f"\n[bold]Shipyard demo finished in {result.seconds:.0f} s[/]\n"
        f"  Champion      {card.name} version {outcome.version} ({card.estimator}): holdout "
        f"RMSE {ev.metrics['rmse']:.1f}, MAE {ev.metrics['mae']:.1f}, R² {ev.metrics['r2']:.3f} "
        f"(constant predictor RMSE {ev.baseline_metrics['rmse']:.1f})\n"
        f"  Flagged       {len(flagged)} of {len(result.predictions)} engines on wing\n"
        f"  Project file  {result.project_file}\n"
        f"  Report        {outcome.report}\n"
        f"  MLflow store  {ws.tracking_uri}  (browse it: {command()} ui {result.project_file})\n"
        f"  API           {result.url}  (POST /predict, GET /health, GET /openapi.json)",
        soft_wrap=True)
