"""What the demo prints: the engines to inspect, the loop closing, where things are."""

from __future__ import annotations

import shutil
import sys
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from shipyard.demo import landings
from shipyard.evaluate.costs import money, summary
from shipyard.monitor.summary import table as pass_table


def first(console: Console, result, inspect_below: int) -> None:
    outcome, card = result.outcome, result.outcome.card
    ev = outcome.evaluation
    console.print(_flagged(result.predictions, inspect_below))
    flagged = int(result.predictions["inspect"].sum())
    console.print(
        f"\n[bold]First deployment ready in {result.seconds:.0f} s[/]\n"
        f"  Champion      {card.name} version {outcome.version} ({card.estimator}): holdout "
        f"RMSE {ev.metrics['rmse']:.1f}, MAE {ev.metrics['mae']:.1f}, R² {ev.metrics['r2']:.3f} "
        f"(constant predictor RMSE {ev.baseline_metrics['rmse']:.1f})\n"
        f"  Served        {_path(result, outcome.version)}\n"
        f"{_detector(result)}"
        f"  Flagged       {flagged} of {len(result.predictions)} engines on wing\n"
        f"{_crew(result.crew)}", soft_wrap=True)
    costs(console, ev)


def costs(console: Console, evaluation) -> None:
    """The business table: the maintenance policies replayed on the held-out engines."""
    frame = evaluation.costs
    if frame is None:
        return
    table = Table(title="What the predictions are worth (held-out engines, whole lives)",
                  min_width=72)
    for name in frame.columns:
        table.add_column(name, justify="left" if name == "policy" else "right")
    for row in frame.to_dict("records"):
        table.add_row(row["policy"], f"{row['inspections']:,}", f"{row['faults found']:,}",
                      f"{row['events in service']:,}",
                      money(row["cost"], frame))
    console.print(table)
    console.print(f"  {summary(frame)}", soft_wrap=True)


def second(console: Console, result, inspect_below: int) -> None:
    later = result.later
    console.print(f"\n[bold]Two weeks later[/]: a regional carrier's A220s joined the fleet "
                  f"with PW1500G engines, a type the champion never saw. "
                  f"{later.labelled:,} predictions got their ground truth from engine "
                  "removals.", soft_wrap=True)
    arrived = later.landings
    console.print(
        f"  Landings      {arrived.readings:,} raw readings, one request per engine per "
        f"landing from {landings.CLIENTS} clients: {arrived.answered:,} answered, "
        f"{len(arrived.failed)} failed; latency p50 {arrived.p50_ms:.1f} ms, "
        f"p99 {arrived.p99_ms:.1f} ms", soft_wrap=True)
    for problem in arrived.failed[:5]:
        console.print(f"    [red]{problem}[/]", soft_wrap=True)
    if later.unusual:
        new, rest = later.unusual.items()
        console.print(
            f"  Detector      mean anomaly score {new[1]:.2f} on the {new[0]} engines' "
            f"readings, {rest[1]:.2f} on {rest[0]}: it has never seen a healthy {new[0]}, "
            f"so it finds them all unusual until it is trained on them", soft_wrap=True)
    console.print(pass_table(later.check))
    decision = later.decision
    console.print(_decision(decision))
    after = result.predictions_after
    flagged = int(after["inspect"].sum())
    console.print(
        f"\n[bold]Shipyard demo finished in {result.seconds:.0f} s[/]\n"
        f"  Served        version {later.served_before} -> version {later.served_after} "
        f"(switched without a restart; {_path(result, later.served_after)})\n"
        f"  Flagged now   {flagged} of {len(after)} engines on wing "
        f"(predicted RUL under {inspect_below} flights)\n{_crew(result.crew)}",
        soft_wrap=True)


def _detector(result) -> str:
    """The anomaly detector served beside the RUL model: its holdout ranking of the
    readings of engines about to fail, and what it scores the fleet now."""
    run = result.detector
    if run is None:
        return ""
    ev, card = run.evaluation, run.card
    share = ev.baseline_metrics.get("pr_auc")
    line = (f"  Detector      {card.name} version {run.version} ({card.estimator}), served "
            f"beside it: holdout ROC-AUC {ev.metrics['roc_auc']:.3f}, PR-AUC "
            f"{ev.metrics['pr_auc']:.3f}" + (f" (constant {share:.3f})" if share else "")
            + " for readings within 30 flights of a failure\n")
    return line


def _crew(summary) -> str:
    """What reached the ground crew: the alert deliveries, the engines and aircraft
    they name, and the cases acknowledged."""
    if summary is None:
        return ""
    planes = {c["tail_number"] for c in summary.open}
    engines = {c["engine_id"] for c in summary.open}
    explained = sum(1 for c in summary.cases if c["explanation"])
    rules = Counter(c["alert"] for c in summary.cases)
    line = (f"  Ground crew   {summary.received:,} alerts delivered to the console "
            f"({', '.join(f'{n:,} {rule}' for rule, n in sorted(rules.items()))} cases): "
            f"{len(engines)} engines on {len(planes)} aircraft to inspect, "
            f"{explained} of {len(summary.cases)} cases with the sensors behind the RUL "
            f"prediction")
    if summary.acknowledged:
        line += f"; {len(summary.acknowledged)} acknowledged by line maintenance"
    return line


def _decision(decision: dict) -> Table:
    table = Table(title=f"Retraining: {decision['outcome']}", min_width=72)
    for name in ("", "version", f"{decision['metric']} on the recent holdout"):
        table.add_column(name, justify="left" if not name else "right")
    table.add_row("champion", str(decision["champion"]), _score(decision["champion_score"]))
    table.add_row("challenger", str(decision["challenger"] or "-"),
                  _score(decision["challenger_score"]))
    rows = decision.get("holdout_rows")
    table.caption = ("; ".join(decision["reasons"]) or "not triggered") + (
        f"; {rows:,} recent rows of engines neither model trained on" if rows else "")
    return table


def _score(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def _flagged(predictions, inspect_below: int) -> Table:
    flagged = predictions[predictions["inspect"]]
    table = Table(title=f"Engines to inspect: predicted RUL under {inspect_below} flights",
                  min_width=56)
    table.add_column("engine")
    table.add_column("predicted RUL", justify="right")
    for row in flagged.sort_values("predicted_rul").head(10).itertuples():
        table.add_row(str(row.engine_id), f"{row.predicted_rul:.0f}")
    return table


def where(console: Console, result) -> None:
    outcome, ws = result.outcome, result.outcome.workspace
    lines = [f"  Project file  {result.project_file}",
             f"  Run report    {outcome.report}"]
    if result.later is not None:
        decision = result.later.decision
        if decision.get("report"):
            lines.append(f"  Challenger    {decision['report']}")
        lines.append(f"  Monitoring    {result.later.report}  (again: {command()} monitor "
                     f"{result.project_file})")
    lines += [f"  MLflow store  {ws.tracking_uri}  (browse it: {command()} ui "
              f"{result.project_file})",
              f"  API           {result.url}  (POST /predict, POST /feedback, GET /health, "
              "GET /openapi.json)",
              f"  Dashboard     {result.url}/dashboard"]
    if result.crew is not None:
        lines.append(f"  Ground crew   {result.crew.url}  (engines to inspect, by aircraft)")
    console.print("\n".join(lines), soft_wrap=True)


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


def _path(result, version) -> str:
    path = result.served_paths.get(str(version))
    return {"onnx": "on the compiled fast path (ONNX Runtime)",
            "python": "by the Python pipeline (see GET /model for why)"}.get(path, "")
