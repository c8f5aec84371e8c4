"""A retraining decision as the terminal shows it."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from shipyard.loop.decision import GATE_FAILED, NOT_TRIGGERED, PROMOTED, Decision
from shipyard.loop.policy import relative_loss
from shipyard.metrics import METRICS

_TONE = {PROMOTED: "green", NOT_TRIGGERED: "dim", GATE_FAILED: "red"}


def decision_table(decision: Decision) -> Table:
    tone = "red" if decision.failed else _TONE.get(decision.outcome, "yellow")
    table = Table(title=f"Retraining cycle: [{tone}]{escape(decision.outcome)}[/]",
                  title_justify="left", show_header=False, box=None, padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    triggered = "yes" if decision.triggered else "no"
    table.add_row("triggered", escape(triggered + "".join(f"\n  - {r}" for r in
                                                            decision.reasons)))
    if decision.window_since:
        table.add_row("fresh data", escape(f"rows since {decision.window_since}"))
    if decision.champion_score is not None or decision.challenger_score is not None:
        table.add_row("compared", _comparison(decision))
    for gate in decision.gates:
        mark = ("[green]pass[/]" if gate["passed"] else "[yellow]warning[/]"
                if not gate.get("blocking", True) else "[red]FAIL[/]")
        table.add_row("gate", f"{escape(gate['name'])}: {mark} (actual {gate['actual']:.4g})")
    table.add_row("champion", _champion(decision))
    for note in decision.notes:
        table.add_row("note", escape(note))
    if decision.report:
        table.add_row("report", escape(decision.report))
    if decision.run_id:
        table.add_row("recorded", f"MLflow run {decision.run_id}")
    return table


def _comparison(decision: Decision) -> str:
    metric = METRICS[decision.metric]
    champion, challenger = decision.champion_score, decision.challenger_score
    text = (f"{metric.title} on {decision.holdout_rows or 0:,} recent holdout rows: champion "
            f"v{decision.champion} {_number(champion)}, challenger "
            f"{'v' + decision.challenger if decision.challenger else '(not registered)'} "
            f"{_number(challenger)}")
    if champion is not None and challenger is not None:
        gain = -relative_loss(challenger, champion, metric.greater_is_better)
        text += f" ({gain:+.1%} for the challenger; margin {decision.margin:.0%})"
    return escape(text)


def _champion(decision: Decision) -> str:
    if decision.promoted:
        return (f"[green]version {decision.challenger}[/] (was {decision.champion}, now "
                "`previous`); servers that follow the registry switch to it")
    return f"version {decision.champion}, unchanged"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"
