"""The ``shipyard`` command: a thin layer over the stage functions.

Known errors (a wrong project file, a failing query, a failed gate) print a
headline, the details and what to do, with no traceback. Anything else is a
bug and prints "Internal error" with the traceback.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from shipyard.errors import GateFailed, ShipyardError

app = typer.Typer(help="Shipyard: the machine-learning life cycle from one project file.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

ProjectArg = Annotated[Path, typer.Argument(help="The project file.")]
DEFAULT_PROJECT = Path("shipyard.yaml")


def _guarded(command):
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ShipyardError as exc:
            err.print(f"[bold red]Error:[/] {exc.headline}", markup=True, soft_wrap=True)
            for line in exc.details:
                err.print(f"  {line}", markup=False, soft_wrap=True)
            if exc.hint:
                err.print(f"[bold]Hint:[/] {exc.hint}", soft_wrap=True)
            raise typer.Exit(1 if isinstance(exc, GateFailed) else 2) from None
        except KeyboardInterrupt:
            err.print("Interrupted.")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception:
            err.print("[bold red]Internal error[/] (a bug in Shipyard; please report it with "
                      "the traceback below)")
            traceback.print_exc()
            raise typer.Exit(70) from None
    return wrapper


@app.command()
@_guarded
def validate(project: ProjectArg = DEFAULT_PROJECT,
             offline: Annotated[bool, typer.Option(help="Check the file only; do not run the "
                                                        "query.")] = False) -> None:
    """Check a project file (and, unless --offline, that its query returns the named columns)."""
    from shipyard import spec
    from shipyard.data import check_source

    loaded = spec.load(project)
    if not offline:
        columns = check_source(loaded)
        out.print(f"[green]✓[/] {project}: the query returns {len(columns)} columns, "
                  "including every column the project names")
    what = f"of '{loaded.target}'" if loaded.target is not None else "without labels"
    out.print(f"[green]✓[/] {project} is valid: {loaded.task} {what}, "
              f"{len(loaded.models)} candidate model(s), metric {loaded.primary_metric}")


@app.command()
@_guarded
def run(project: ProjectArg = DEFAULT_PROJECT,
        override: Annotated[list[str] | None, typer.Option(
            "--override", metavar="GATE",
            help="Let a failed gate (quality, fairness, privacy, data, overfitting) or one "
                 "check (e.g. quality.rmse) through; needs --reason. Repeatable.")] = None,
        reason: Annotated[str | None, typer.Option(
            help="Why the overridden gates may be let through; recorded with the model "
                 "version.")] = None) -> None:
    """Run the life cycle once: extract, profile, train, evaluate, gate, register."""
    from shipyard import gates, spec
    from shipyard.lifecycle import run_project
    from shipyard.progress import Bars
    from shipyard.registry import who

    given = gates.overrides(override or [], reason, by=who())
    loaded = spec.load(project)
    with Bars(err) as bars:
        outcome = run_project(loaded, bars, overrides=given)
    _print_outcome(outcome)
    if not outcome.passed:
        raise GateFailed("A gate failed: the model was not registered",
                         details=[f"{g.key}: {g.details}" for g in gates.failures(outcome.gates)],
                         hint=f"see the report: {outcome.report}; to let a check through, "
                              "--override CHECK --reason \"...\"")


@app.command()
@_guarded
def serve(project: ProjectArg = DEFAULT_PROJECT,
          host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
          port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
          workers: Annotated[int | None, typer.Option(
              min=1, max=64, help="Worker processes (default: serve.workers).")] = None) -> None:
    """Serve the project's champion model over HTTP; follow the champion alias."""
    from shipyard import registry, spec
    from shipyard.serve import companions, extras, worker
    from shipyard.workspace import Workspace

    loaded = spec.load(project)
    workspace = Workspace.of(loaded)
    # Checked once here, so that a missing or refused champion, companions that do not
    # fit, bad keys or alert rules that do not fit the model are reported before any
    # worker starts.
    model = registry.load(workspace, loaded.name)
    others = companions.load(loaded)
    companions.check(others, model.card)
    _, alerts, _ = extras.build(loaded, workspace, model, others)
    if alerts is not None:
        alerts.close(timeout=0)
    if loaded.monitor.log:
        from shipyard.monitor.store import url_of

        url_of(loaded, workspace)  # a monitor.store that cannot be parsed stops us here
    host, port = host or loaded.serve.host, port or loaded.serve.port
    workers = workers or loaded.serve.workers
    err.print(f"Serving {model.card.name} version {model.card.version} "
              f"({model.card.estimator}) on http://{host}:{port} with {workers} "
              f"worker{'s' if workers > 1 else ''}")
    worker.run(loaded.file or Path(project), host, port, workers)


@app.command()
@_guarded
def monitor(project: ProjectArg = DEFAULT_PROJECT,
            report: Annotated[Path | None, typer.Option(
                help="Where to write the HTML report (default: the workspace's "
                     "reports/monitoring.html).")] = None) -> None:
    """Check the latest logged predictions for drift, data quality and live performance."""
    from shipyard import spec
    from shipyard.monitor import summary
    from shipyard.workspace import Workspace

    loaded = spec.load(project)
    done = summary.monitor(loaded, Workspace.of(loaded), report)
    out.print(done.table)
    for note in done.notes:
        err.print(f"Note: {note}", markup=False, soft_wrap=True)
    out.print(f"Report: {done.report}", markup=False, soft_wrap=True)


@app.command()
@_guarded
def ui(project: ProjectArg = DEFAULT_PROJECT,
       port: Annotated[int, typer.Option(help="Port for MLflow's UI.")] = 5000) -> None:
    """Open MLflow's UI on the project's tracking store (or name the tracking server's)."""
    from shipyard import spec
    from shipyard.workspace import Workspace

    ws = Workspace.of(spec.load(project))
    if ws.remote_tracking:  # the server has its own UI: nothing to start here
        out.print(f"This project tracks to the MLflow server at {ws.tracking_uri}; its UI is "
                  "there: open that URL in a browser.", markup=False, soft_wrap=True)
        return
    err.print(f"MLflow UI on http://127.0.0.1:{port} (Ctrl-C to stop)")
    os.execv(sys.executable, [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri",
                              ws.tracking_uri, "--host", "127.0.0.1", "--port", str(port)])


@app.command()
@_guarded
def init(folder: Annotated[Path, typer.Argument(help="Where to write the project.")] = Path("."),
         aircraft: Annotated[int, typer.Option(help="Fleet size to simulate.")] = 500,
         seed: Annotated[int, typer.Option(help="Simulation seed.")] = 0,
         force: Annotated[bool, typer.Option(help="Overwrite an existing project file.")] = False
         ) -> None:
    """Write a starter project: the demo fleet's project file and its simulated data."""
    from shipyard.demo import init_project

    path = init_project(folder, aircraft=aircraft, seed=seed, force=force)
    out.print(f"Wrote {path} and its data. Next: [bold]shipyard run {path}[/]")


@app.command()
@_guarded
def demo(folder: Annotated[Path, typer.Option("--dir", help="Where the demo works.")] =
         Path("shipyard-demo"),
         aircraft: Annotated[int, typer.Option(help="Fleet size to simulate.")] = 500,
         seed: Annotated[int, typer.Option(help="Simulation seed.")] = 0,
         port: Annotated[int | None, typer.Option(help="API port (default: the project's, "
                                                       "or a free one).")] = None,
         keep_serving: Annotated[bool | None, typer.Option(
             help="Keep the API running after the demo (default: when run in a terminal).")]
         = None,
         database: Annotated[str | None, typer.Option(
             "--database", help="Load the fleet into this PostgreSQL database "
                                "(postgresql+psycopg://user:password@host:port/db; its fleet "
                                "tables and prediction log are replaced) and run the demo "
                                "there, prediction log included.")] = None) -> None:
    """Simulate an airline fleet and run the whole life cycle on it: a live API, then two
    weeks in which the fleet changes, drift is found and a retrained model takes over."""
    from shipyard.demo import run_demo

    stay = sys.stdout.isatty() if keep_serving is None else keep_serving
    run_demo(folder, aircraft=aircraft, seed=seed, port=port, keep_serving=stay,
             console=out, progress_console=err, database=database)


@app.command()
@_guarded
def build(project: ProjectArg = DEFAULT_PROJECT,
          out_dir: Annotated[Path | None, typer.Option(
              "--out", help="Where to write (default: build/ beside the project file).")] = None,
          image: Annotated[str | None, typer.Option(
              help="Image NAME:TAG (default: shipyard-<project>:v<champion version>).")] = None,
          replicas: Annotated[int, typer.Option(
              min=1, help="Pods to run; the autoscaler's minimum (its maximum is 4x).")] = 2
          ) -> None:
    """Write a Dockerfile and Kubernetes manifests that serve the project's champion."""
    from shipyard import spec
    from shipyard.serve.deploy import build as write_build

    done = write_build(spec.load(project), out=out_dir, image=image, replicas=replicas)
    for path in done.written:
        out.print(f"Wrote {path}", markup=False, soft_wrap=True)
    for note in done.notes:
        err.print(f"Note: {note}", markup=False, soft_wrap=True)
    out.print("Next:")
    for step in done.next_steps:
        out.print(f"  {step}", markup=False, soft_wrap=True)


def _print_outcome(outcome) -> None:
    from rich.markup import escape

    from shipyard.metrics import METRICS

    metric = METRICS[outcome.training.metric]
    ev = outcome.evaluation
    base = ev.baseline_metrics.get(metric.name)
    out.print(f"Run {outcome.run_id}: best model [bold]{outcome.training.best.name}[/], holdout "
              f"{metric.title} {ev.metrics[metric.name]:.4g}"
              + (f" (constant baseline {base:.4g})" if base is not None else ""))
    for g in outcome.gates:
        mark = ("[green]pass[/]" if g.passed else "[yellow]overridden[/]" if g.overridden
                else "[red]FAIL[/]" if g.blocking else "[yellow]warning[/]")
        out.print(f"  gate {escape(g.key)} ({g.op} {g.threshold:.4g}): {mark} "
                  f"(actual {g.actual:.4g})")
    if outcome.version:
        out.print(f"Registered {outcome.card.name} version {outcome.version} as champion.")
    out.print(f"Report: {outcome.report}")


# The retraining commands live beside this file; importing them registers them.
from shipyard.cli import loop as _loop  # noqa: E402, F401
from shipyard.cli import runs as _runs  # noqa: E402, F401
from shipyard.cli import score as _score  # noqa: E402, F401


def main() -> None:
    app()


if __name__ == "__main__":
    main()
