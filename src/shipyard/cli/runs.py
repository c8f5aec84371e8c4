"""The reproducibility commands: runs, lineage, reproduce."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from shipyard.cli import DEFAULT_PROJECT, ProjectArg, _guarded, app, err, out


@app.command()
@_guarded
def runs(project: ProjectArg = DEFAULT_PROJECT,
         limit: Annotated[int, typer.Option(min=1, max=10_000,
                                            help="Show at most this many runs.")] = 50) -> None:
    """List the project's runs, newest first: kind, model, holdout metric, gates,
    registered version and snapshot."""
    from shipyard import spec
    from shipyard.metrics import METRICS
    from shipyard.registry import history
    from shipyard.workspace import Workspace

    loaded = spec.load(project)
    metric = loaded.primary_metric
    found = history.runs(Workspace.of(loaded), loaded.tracking.experiment or loaded.name,
                         limit=limit, metric=metric)
    if not found:
        out.print(f"No runs of {loaded.name} yet. Next: [bold]shipyard run {project}[/]")
        return
    table = Table(title=f"Runs of {escape(loaded.name)}", title_justify="left")
    for name in ("run", "started", "kind", "model", f"holdout {METRICS[metric].title}",
                 "gates", "version", "snapshot"):
        table.add_column(name, no_wrap=name != "gates")
    for r in found:
        table.add_row(r["run_id"], _when(r["started"]), _kind(r),
                      escape(r["model"] or "-"), _number(r["metric"]), _gates(r),
                      r["version"] or "-", (r["snapshot"] or "-")[:12])
    out.print(table)


@app.command()
@_guarded
def lineage(version: Annotated[str, typer.Argument(
                help="A registered version, or an alias: champion, previous, challenger.")],
            project: ProjectArg = DEFAULT_PROJECT,
            as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Where a registered model version came from: data, code, parameters, gates, and
    who promoted it and why."""
    from shipyard import spec
    from shipyard.registry import history
    from shipyard.workspace import Workspace

    loaded = spec.load(project)
    ws = Workspace.of(loaded)
    found = history.lineage(ws, loaded.name, version)
    if as_json:
        out.print_json(json.dumps(found, default=str))
        return
    for title, rows in _sections(found):
        table = Table(title=title, title_justify="left", show_header=False, box=None,
                      padding=(0, 1), title_style="bold")
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        for key, value in rows:
            table.add_row(key, escape(str(value)))
        out.print(table)
        out.print()


@app.command()
@_guarded
def reproduce(run_id: Annotated[str, typer.Argument(
                  help="The run to reproduce (see `shipyard runs`), or a registered "
                       "version: its number or an alias (champion, previous, challenger).")],
              project: ProjectArg = DEFAULT_PROJECT) -> None:
    """Run an earlier run again from its recorded project file and snapshot (a
    retraining challenger: its cycle, warm start and recent holdout), and compare
    every metric and the models' outputs on a fixed input. Registers nothing.

    Exit status: 0 when the result matches, 1 when it does not, 2 for bad input
    (an unknown run, a changed snapshot...)."""
    from shipyard import spec
    from shipyard.lifecycle.reproduce import reproduce as replay
    from shipyard.progress import Bars

    loaded = spec.load(project)
    with Bars(err) as bars:
        done = replay(loaded, run_id, bars)
    if done.fetched_from:
        err.print(f"Snapshot {done.snapshot[:12]} fetched from {done.fetched_from}",
                  markup=False, soft_wrap=True)
    how = "exactly" if done.deterministic else f"within a relative {done.tolerance:g}"
    table = Table(title=f"Run {done.run_id} reproduced as run {done.new_run_id} "
                        f"(compared {how})", title_justify="left")
    for name in ("metric", "original", "reproduced", "same"):
        table.add_column(name, no_wrap=True)
    for check in done.metrics:
        table.add_row(check.name, _number(check.original, 10), _number(check.reproduced, 10),
                      "[green]yes[/]" if check.equal else "[red]NO[/]")
    table.add_row(f"outputs on {done.rows_compared} rows", "", "",
                  "[green]yes[/]" if done.predictions_equal else
                  f"[red]NO[/] (differ by up to {_number(done.prediction_difference)})")
    out.print(table)
    if done.nondeterministic:
        out.print("Not deterministic:")
        for reason in done.nondeterministic:
            out.print(f"  - {reason}", markup=False, soft_wrap=True)
    if done.matched:
        out.print(f"[green]Reproduced:[/] every metric and output matches {how}.")
        return
    out.print(f"[red]Not reproduced:[/] {sum(not c.equal for c in done.metrics)} metric(s) "
              + ("and the outputs " if not done.predictions_equal else "") + "differ.")
    raise typer.Exit(1)


def _sections(found: dict) -> list[tuple[str, list[tuple[str, object]]]]:
    run, data, code, params = found["run"], found["data"], found["code"], found["parameters"]
    source = data.get("source") or {}
    where = source.get("url") or ", ".join(f"{k}: {v}" for k, v in
                                           (source.get("files") or {}).items())
    head = [("version", found["version"]), ("aliases", ", ".join(found["aliases"]) or "-"),
            ("run", f"{run['run_id']} ({run['kind']}, {_when(run['started'])})")]
    head += [(f"holdout {k}", _number(v)) for k, v in sorted(run["metrics"].items())]
    rows = [("snapshot", data["snapshot"] or "-"),
            ("rows", f"{data['rows']:,}" if data["rows"] is not None else "(not in this "
             "workspace)"), ("training / holdout rows",
                             f"{data['rows_train']} / {data['rows_holdout']}")]
    rows += [("source", where)] if where else []
    rows += [("query", source["query"].strip())] if source.get("query") else []
    rows += [("remote copy", data["remote"])] if data.get("remote") else []
    rows += [("test snapshot", data["test_snapshot"])] if data.get("test_snapshot") else []
    dirty = {True: " (uncommitted changes)", False: " (clean)", None: ""}[code["git_dirty"]]
    code_rows = [("project digest", code["project_digest"] or "-"),
                 ("project file", code["project_file"] or "-"),
                 ("git commit", (code["git_commit"] or "not a git repository") + dirty),
                 ("platform", code["platform"] or "-")]
    code_rows += [(name, v) for name, v in code["versions"].items()]
    param_rows = [("model", params["model"]), ("seed", params["seed"])]
    param_rows += [(k, v) for k, v in (params["params"] or {}).items()]
    gate_rows = [(g.get("name", g.get("gate")), _verdict(g)) for g in found["gates"]] or \
        [("-", "no gate records")]
    gate_rows += [("override", f"{o.get('check')}: {o.get('reason')} (by {o.get('by') or '?'}, "
                               f"{o.get('at') or '?'})") for o in found.get("overrides", [])]
    promo = found["promotion"]
    history_rows = [("registered", _when(promo.get("created")))]
    if promo.get("promotion"):
        p = promo["promotion"]
        history_rows.append(("promoted", f"{_when(p['at'])} by {p['by']}: {p['reason']}"
                             + (f" (replaced version {p['replaced']})" if p["replaced"]
                                else "")))
    if promo.get("replaced"):
        history_rows.append(("replaced", f"by version {promo['replaced']['by']} "
                                         f"{_when(promo['replaced']['at'])}"))
    if promo.get("rollback"):
        r = promo["rollback"]
        history_rows.append(("rolled back", f"{_when(r['at'])} by {r['by']} to version "
                                            f"{r['to']}: {r['reason']}"))
    if found.get("parent"):
        history_rows.append(("parent champion", f"version {found['parent']['version']}"))
    history_rows += [("reproduced", f"{r['run_id']}: {r['result'] or 'unfinished'}")
                     for r in found.get("reproductions", [])]
    return [(f"{found['name']} version {found['version']}", head), ("Data", rows),
            ("Code", code_rows), ("Parameters", param_rows), ("Gates", gate_rows),
            ("Promotion", history_rows)]


def _verdict(g: dict) -> str:
    if g.get("passed"):
        text = "pass"
    elif g.get("overridden"):
        text = f"FAILED, overridden: {g['overridden']}"
    else:
        text = "FAILED" + ("" if g.get("blocking", True) else " (warning only)")
    return f"{text} (actual {_number(g.get('actual'))})" + \
        (f"; {g['details']}" if g.get("details") else "")


def _kind(r: dict) -> str:
    if r["kind"] == "reproduce" and r.get("reproduces"):
        return f"reproduce of {r['reproduces'][:8]}" + \
            (f": {r['reproduced']}" if r.get("reproduced") else "")
    return escape(r["kind"]) + ("" if r["status"] == "FINISHED" else f" ({r['status']})")


def _gates(r: dict) -> str:
    counts = r["gates"]
    if counts is None:
        return "-"
    parts = [f"[green]{counts['passed']} pass[/]"]
    if counts["failed"]:
        parts.append(f"[red]{counts['failed']} FAIL[/]")
    if counts["overridden"]:
        parts.append(f"[yellow]{counts['overridden']} overridden[/]")
    return ", ".join(parts)


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _number(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    value = float(value)
    return "nan" if math.isnan(value) else f"{value:.{digits}g}"
