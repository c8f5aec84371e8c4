"""A retraining cycle's decision, and where it is recorded.

The record (``Decision.to_dict()``) is the one the monitoring report and the
dashboard read: triggered or not and why, the champion's and the challenger's
scores on the same recent holdout, the challenger's gates, and the outcome. It
is kept twice: as an MLflow run in the project's experiment (tag
``shipyard.kind=retrain``; parameters, metrics and ``decision.json``), and in
the prediction log's store beside the monitoring passes.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field

from shipyard import registry
from shipyard.errors import GateFailed, ShipyardError
from shipyard.spec import Project
from shipyard.workspace import Workspace

log = logging.getLogger("shipyard.loop")

PROMOTED, NOT_TRIGGERED = "promoted", "not triggered"
NOT_BETTER, GATE_FAILED = "challenger not better", "challenger failed a gate"


@dataclass
class Decision:
    at: float  # when the cycle started (epoch seconds)
    triggered: bool
    reasons: list[str]
    champion: str | None  # the version the challenger was compared with
    metric: str
    margin: float
    outcome: str = ""  # PROMOTED, NOT_TRIGGERED, NOT_BETTER, GATE_FAILED or "failed: ..."
    challenger: str | None = None  # its registered version (None: not registered)
    champion_score: float | None = None  # both on the same recent holdout
    challenger_score: float | None = None
    gates: list[dict] = field(default_factory=list)  # the challenger's
    promoted: bool = False
    run_id: str | None = None  # the MLflow run that records this decision
    challenger_run: str | None = None  # the challenger's training run
    holdout_rows: int | None = None  # scored rows of the recent holdout
    window_since: str | None = None  # the extraction window's start, if any
    report: str | None = None  # the challenger's HTML report
    pass_at: float | None = None  # the monitoring pass the policy judged
    notes: list[str] = field(default_factory=list)
    seconds: float | None = None  # how long the cycle took

    @property
    def failed(self) -> bool:
        return self.outcome.startswith("failed")

    def check(self) -> None:
        """Raise for a cycle that failed (ShipyardError) or whose challenger failed a
        gate (GateFailed); the command line's exit status follows."""
        if self.failed:
            raise ShipyardError(f"The retraining cycle {self.outcome}; the champion is "
                                "unchanged", hint="see the notes above")
        if self.outcome == GATE_FAILED:
            raise GateFailed("The challenger failed a gate: the champion is unchanged",
                             details=[f"{g.get('key', g['name'])}: {g['details']}"
                                      for g in self.gates if not (
                                          g["passed"] or g.get("overridden")
                                          or not g.get("blocking", True))],
                             hint=f"see the report: {self.report}")

    def summary(self) -> str:
        """One line: the outcome and why the cycle ran."""
        return f"Retraining cycle: {self.outcome}" + (
            f" ({'; '.join(self.reasons)})" if self.reasons else "")

    def to_dict(self) -> dict:
        out = asdict(self)
        for key in ("champion_score", "challenger_score"):
            out[key] = _finite(out[key])
        return out


def record(project: Project, workspace: Workspace, decision: Decision, store) -> None:
    """Keep the decision in MLflow, then in the log's store (``store``: a LogStore,
    or None when it cannot be reached). A record that cannot be written is a
    note on the decision and an error in the log, never a lost cycle: the
    registry has already moved, or not, by now."""
    try:
        _to_mlflow(project, workspace, decision)
    except Exception as exc:
        log.exception("the retraining decision could not be recorded in MLflow")
        decision.notes.append(f"not recorded in MLflow: {type(exc).__name__}: {exc}")
    if store is None:
        return
    try:
        store.save_decision(decision.to_dict())
    except Exception as exc:
        log.exception("the retraining decision could not be saved in the prediction log")
        decision.notes.append(f"not saved in the prediction log: {exc}")


def _to_mlflow(project: Project, workspace: Workspace, decision: Decision) -> None:
    retrain = project.retrain
    with registry.open_run(workspace, project.tracking.experiment or project.name,
                           run_name=f"retrain: {decision.outcome}") as run:
        decision.run_id = run.id
        run.set_tags({"shipyard.kind": "retrain", "shipyard.project": project.name,
                      "shipyard.outcome": decision.outcome,
                      "shipyard.triggered": str(decision.triggered).lower(),
                      "shipyard.promoted": str(decision.promoted).lower(),
                      "shipyard.champion": decision.champion or "none",
                      "shipyard.challenger": decision.challenger or "none",
                      "shipyard.challenger_run": decision.challenger_run or "none",
                      "shipyard.reasons": "; ".join(decision.reasons) or "none"})
        run.log_params({"metric": decision.metric, "margin": decision.margin,
                        "window": retrain.window, "window.since": decision.window_since,
                        "recent.span": retrain.recent.span,
                        "recent.share": retrain.recent.share,
                        "warm_start": retrain.warm_start,
                        "trials": retrain.trials or project.tuning.trials})
        metrics = {"triggered": float(decision.triggered), "promoted": float(decision.promoted)}
        for key in ("champion_score", "challenger_score", "holdout_rows", "seconds"):
            if (value := _finite(getattr(decision, key))) is not None:
                metrics[key] = value
        run.log_metrics(metrics)
        run.log_json("decision.json", decision.to_dict())
    if decision.challenger_run:
        registry.tag_run(workspace, decision.challenger_run,
                         {"shipyard.decision": decision.outcome,
                          "shipyard.decision_run": decision.run_id})


def _finite(value) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
