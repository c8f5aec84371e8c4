"""One retraining cycle: monitor -> policy -> extract -> snapshot -> challenger ->
compare on the recent holdout -> gates -> promote (or not) -> record.

Nothing before the promotion touches the ``champion`` alias, so a cycle that
fails anywhere (a broken query, too little recent data, a challenger that
fails a gate, a champion that cannot score the new rows) leaves the champion,
and the server that follows it, exactly as they were; the decision says why.
A promotion moves the alias; running servers follow it by themselves.
"""

from __future__ import annotations

import logging
import time

from shipyard import monitor, registry
from shipyard.errors import RegistryError, ShipyardError
from shipyard.lifecycle import Challenge, challenger, run_project
from shipyard.loop import policy, window
from shipyard.loop.decision import (
    GATE_FAILED,
    NOT_BETTER,
    NOT_TRIGGERED,
    PROMOTED,
    Decision,
    record,
)
from shipyard.metrics import METRICS
from shipyard.monitor.store import LogStore
from shipyard.progress import Report, silent
from shipyard.spec import Project
from shipyard.workspace import Workspace

log = logging.getLogger("shipyard.loop")


def retrain(project: Project, *, force: bool = False, progress: Report = silent,
            by: str = "shipyard retrain") -> Decision:
    """Run one cycle for ``project`` and return its (recorded) decision. Raises
    only when there is no champion to challenge; every other failure is an
    outcome ``"failed: ..."``."""
    started = time.time()
    ws = Workspace.of(project).create()
    champion = registry.champion_version(ws, project.name)
    if champion is None:
        raise RegistryError(f"'{project.name}' has no champion to challenge",
                            hint="run `shipyard run` first: a model that passes its gates "
                                 "becomes the champion")
    decision = Decision(at=started, triggered=False, reasons=[], champion=champion,
                        metric=project.primary_metric, margin=project.retrain.margin)
    store = _open_store(project, ws, decision)
    try:
        last = _monitor(project, ws, store, decision)
        labels = _new_labels(ws, project.name, store, decision)
        decision.reasons = policy.reasons(project.retrain, last, labels, force=force,
                                          now=started)
        decision.triggered = bool(decision.reasons)
        if decision.triggered:
            _challenge(project, ws, decision, progress, by)
        elif last is None and (trouble := _trouble(decision)):
            decision.outcome = f"failed: {trouble}"  # the policy could not be judged
        else:
            decision.outcome = NOT_TRIGGERED
        decision.seconds = round(time.time() - started, 3)
        record(project, ws, decision, store)
    finally:
        if store is not None:
            store.close()
    log.info("retraining cycle of %s: %s", project.name, decision.outcome)
    return decision


def _challenge(project: Project, ws: Workspace, decision: Decision, progress: Report,
               by: str) -> None:
    metric = METRICS[decision.metric]
    try:
        table, decision.window_since = window.extract(project, progress)
        champion = registry.load(ws, project.name)
        decision.champion = champion.card.version
        warm = _warm(ws, champion, decision) if project.retrain.warm_start else {}
        recent = project.retrain.recent
        outcome = run_project(challenger.budget(project, champion.card.estimator), progress,
                              Challenge(table, lambda ds: challenger.recent(ds, recent,
                                                                            project.seed),
                                        champion, warm))
    except ShipyardError as exc:
        _fail(decision, exc)
        return
    decision.challenger, decision.challenger_run = outcome.version, outcome.run_id
    decision.report = str(outcome.report)
    decision.gates = [g.to_dict() for g in outcome.gates]
    decision.holdout_rows = outcome.evaluation.n_rows
    decision.challenger_score = outcome.evaluation.metrics.get(metric.name)
    decision.champion_score = outcome.champion.metrics.get(metric.name)
    if not outcome.passed:
        decision.outcome = GATE_FAILED
        return
    gain = -policy.relative_loss(decision.challenger_score, decision.champion_score,
                                 metric.greater_is_better)
    if not (gain > 0 and gain >= decision.margin):  # NaN scores are never better
        decision.outcome = NOT_BETTER
        decision.notes.append(f"challenger {metric.title} {decision.challenger_score:.4g} vs "
                              f"champion {decision.champion_score:.4g}: a relative gain of "
                              f"{gain:.2%}, {decision.margin:.2%} needed")
        return
    try:
        _promote(project, ws, decision, gain, by)
    except ShipyardError as exc:
        _fail(decision, exc)


def _promote(project: Project, ws: Workspace, decision: Decision, gain: float,
             by: str) -> None:
    now = registry.champion_version(ws, project.name)
    if now != decision.champion:  # someone promoted or rolled back while this cycle ran
        raise RegistryError(f"The champion moved to version {now} during the cycle; the "
                            f"challenger was compared with version {decision.champion}")
    title = METRICS[decision.metric].title
    reason = (f"retraining: {title} {decision.challenger_score:.4g} vs the champion's "
              f"{decision.champion_score:.4g} on {decision.holdout_rows:,} recent holdout rows "
              f"({gain:.1%} better); triggered by: {'; '.join(decision.reasons)}")
    registry.promote(ws, project.name, decision.challenger, reason=reason[:2000], by=by)
    decision.promoted, decision.outcome = True, PROMOTED


def _fail(decision: Decision, exc: ShipyardError) -> None:
    decision.outcome = f"failed: {exc.headline}"
    decision.notes.extend(exc.details[:8])
    if exc.hint:
        decision.notes.append(f"hint: {exc.hint}")


def _warm(ws: Workspace, champion, decision: Decision) -> dict[str, dict]:
    """The champion's chosen model and parameters, from its training run."""
    run_id = champion.card.run_id
    chosen = registry.run_json(ws, run_id, "model.json") if run_id else None
    if chosen is None and run_id:  # a champion trained before model.json was kept
        candidates = registry.run_json(ws, run_id, "candidates.json") or []
        chosen = next((c for c in candidates if c.get("name") == champion.card.estimator), None)
    if not chosen or not chosen.get("params"):
        return {}
    decision.notes.append(f"warm start: {chosen['name']} from version "
                          f"{champion.card.version}'s parameters")
    return {chosen["name"]: dict(chosen["params"])}


def _open_store(project: Project, ws: Workspace, decision: Decision) -> LogStore | None:
    try:
        return LogStore.of(project, ws)
    except ShipyardError as exc:  # the log is down: the cycle still runs (e.g. --force)
        decision.notes.append(f"prediction log unavailable: {exc.headline}")
        return None


def _monitor(project: Project, ws: Workspace, store: LogStore | None,
             decision: Decision) -> dict | None:
    if store is None:
        return None
    try:
        last = monitor.check(project, ws, store=store).to_dict()
    except ShipyardError as exc:
        decision.notes.append(f"no monitoring pass: {exc.headline}")
        return None
    except Exception as exc:  # a bug in monitoring must not stop a forced retraining
        log.exception("the monitoring pass of %s failed", project.name)
        decision.notes.append(f"no monitoring pass: {type(exc).__name__}: {str(exc)[:300]}")
        return None
    decision.pass_at = last.get("at")
    decision.notes.extend(f"monitoring: {note}" for note in last.get("notes") or [])
    return last


def _trouble(decision: Decision) -> str | None:
    """Why the policy had nothing to judge, if something went wrong."""
    found = [n for n in decision.notes if n.startswith(("no monitoring pass",
                                                         "prediction log unavailable"))]
    return found[0] if found else None


def _new_labels(ws: Workspace, name: str, store: LogStore | None, decision: Decision) -> int:
    if store is None:
        return 0
    try:
        return store.count(since=registry.champion_since(ws, name), labelled=True)
    except ShipyardError as exc:
        decision.notes.append(f"cannot count new labels: {exc.headline}")
        return 0
