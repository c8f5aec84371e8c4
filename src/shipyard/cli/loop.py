"""The retraining commands: retrain, loop, promote, rollback, export airflow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shipyard.cli import DEFAULT_PROJECT, ProjectArg, _guarded, app, err, out


@app.command()
@_guarded
def retrain(project: ProjectArg = DEFAULT_PROJECT,
            force: Annotated[bool, typer.Option(
                "--force", help="Train a challenger even when the policy does not call for "
                                "one.")] = False) -> None:
    """One retraining cycle: monitor; when the retrain policy triggers, train a
    challenger on fresh data and promote it if it beats the champion on recent data.

    Exit status: 0 when the cycle ran (promoted, not triggered, or the challenger
    was not better), 1 when the challenger failed a gate, 2 when the cycle failed
    (e.g. its query); the champion is unchanged unless it says "promoted"."""
    from shipyard import spec
    from shipyard.loop import retrain as cycle
    from shipyard.loop.show import decision_table
    from shipyard.progress import Bars

    loaded = spec.load(project)
    with Bars(err) as bars:
        decision = cycle(loaded, force=force, progress=bars)
    out.print(decision_table(decision), soft_wrap=True)
    decision.check()  # a failed cycle or gate: an error with the exit status above


@app.command()
@_guarded
def loop(project: ProjectArg = DEFAULT_PROJECT) -> None:
    """Run retraining cycles on retrain.every or retrain.cron until stopped
    (Ctrl-C or SIGTERM; a running cycle is finished first)."""
    from shipyard import spec
    from shipyard.loop import schedule

    schedule.run(spec.load(project), say=lambda text: err.print(text, markup=False,
                                                                soft_wrap=True))


@app.command()
@_guarded
def promote(version: Annotated[str, typer.Argument(help="The version to make the champion.")],
            reason: Annotated[str, typer.Option(help="Why (recorded with the version).")],
            project: ProjectArg = DEFAULT_PROJECT) -> None:
    """Make a registered version the champion; the current one becomes `previous`."""
    from shipyard import registry, spec
    from shipyard.workspace import Workspace

    loaded = spec.load(project)
    replaced = registry.promote(Workspace.of(loaded), loaded.name, version, reason)
    out.print(f"Version {version} of {loaded.name} is the champion"
              + (f"; version {replaced} is `previous`." if replaced else ".")
              + " Servers following the registry switch to it.")


@app.command()
@_guarded
def rollback(reason: Annotated[str, typer.Option(help="Why (recorded with the version).")],
             project: ProjectArg = DEFAULT_PROJECT) -> None:
    """Move the champion back to the previous version."""
    from shipyard import registry, spec
    from shipyard.workspace import Workspace

    loaded = spec.load(project)
    left, back = registry.rollback(Workspace.of(loaded), loaded.name, reason)
    out.print(f"Rolled {loaded.name} back from version {left} to version {back}. Servers "
              "following the registry switch to it.")


export_app = typer.Typer(help="Write the project's pipeline for another tool.",
                         no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("airflow")
@_guarded
def export_airflow(project: ProjectArg = DEFAULT_PROJECT,
                   out_file: Annotated[Path | None, typer.Option(
                       "--out", help="The DAG file (default: dags/shipyard_<project>.py beside "
                                     "the project file).")] = None,
                   command: Annotated[str | None, typer.Option(
                       help="How Airflow's workers run Shipyard (default: this Python with "
                            "-m shipyard).")] = None) -> None:
    """Write an Airflow DAG that runs the monitor and retrain stages on the project's
    retrain schedule."""
    from shipyard import spec
    from shipyard.loop.airflow import export

    path = export(spec.load(project), out_file, command)
    out.print(f"Wrote {path}", markup=False, soft_wrap=True)
