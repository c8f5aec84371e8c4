"""The demo's second act: two weeks later the fleet has changed, and the loop closes.

A regional carrier's A220s join the fleet with an engine type it never had
(``shipyard.data.fleet_change``). Their flights reach the served API; engine
removals arrive in the database as ground truth; monitoring finds the drift
and the worse live error; a retraining cycle trains a challenger on the fresh
data, compares it with the champion on the same recent engines, promotes it,
and the running server switches to it without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from shipyard import loop, monitor, registry
from shipyard.data import fleet, fleet_sql
from shipyard.data.fleet_change import ACQUIRED_VARIANT
from shipyard.data.sources import duckdb_path
from shipyard.demo import landings, traffic
from shipyard.monitor.store import LogStore
from shipyard.monitor.summary import write_report
from shipyard.progress import Report
from shipyard.spec import Project
from shipyard.workspace import Workspace

NEW_DAYS = 14
FIRST_DAYS = 60  # what init_project simulates


@dataclass(frozen=True)
class Fortnight:
    rows_sent: int
    labelled: int  # logged predictions whose ground truth arrived
    check: dict  # the monitoring pass of the champion over the new days
    decision: dict  # the retraining cycle's record
    served_before: str
    served_after: str
    report: Path
    landings: landings.Landings
    # The anomaly detector's mean score on the new days' readings: the acquired
    # engine type, and the rest of the fleet
    unusual: dict[str, float] | None = None


def fortnight(project: Project, workspace: Workspace, url: str, state, *, aircraft: int,
              seed: int, progress: Report) -> Fortnight:
    """Append the new days, send their flights through the API at ``url`` (served from
    ``state``), monitor, retrain, and let the server follow the new champion."""
    progress("Flying two more weeks", 0, 1)
    _, new = fleet.simulate_new_days(aircraft, seed, days=FIRST_DAYS, new_days=NEW_DAYS)
    _append(project, new)
    since = pd.Timestamp(new["flights"]["flight_date"].min())
    rows = traffic.rows_since(project, since)
    progress("Flying two more weeks", 1, 1)
    before = state.engine.card.version
    planes = traffic.directory(project).set_index("engine_id")["aircraft_id"]
    arrived = landings.land(url, rows, traffic.sent_columns(state.engine.card),
                            entity=project.entity, time_column=project.time,
                            aircraft=rows[project.entity].map(planes), progress=progress)
    if state.log is not None:
        state.log.flush(timeout=30)  # every answered row is in the log before it is judged
    progress("Monitoring", 0, 1)
    checked = monitor.check(project, workspace).to_dict()
    progress("Monitoring", 1, 1)
    decision = loop.retrain(project, progress=progress, by="shipyard demo").to_dict()
    if state.watcher is not None:
        state.watcher.check()  # at once, instead of at the next poll
    store = LogStore.of(project, workspace)
    try:
        labelled = store.count(labelled=True)
        champion = registry.load(workspace, project.name, registry.PREVIOUS) \
            if decision["promoted"] else registry.load(workspace, project.name)
        report = write_report(project, workspace, store, champion)
    finally:
        store.close()
    return Fortnight(arrived.readings, labelled, checked, decision, before,
                     state.engine.card.version, report, arrived, _unusual(rows, arrived))


def _unusual(rows: pd.DataFrame, arrived: landings.Landings) -> dict[str, float] | None:
    """The detector's mean score on the acquired engines' readings and on the rest."""
    scores = arrived.items.dropna(subset=["anomaly_score"])
    if scores.empty:
        return None
    variant = rows.drop_duplicates("engine_id").set_index("engine_id")["engine_variant"]
    new = scores["engine_id"].map(variant).eq(ACQUIRED_VARIANT).to_numpy()
    score = scores["anomaly_score"].to_numpy()
    return {ACQUIRED_VARIANT: float(score[new].mean()) if new.any() else float("nan"),
            "the rest": float(score[~new].mean()) if (~new).any() else float("nan")}


def _append(project: Project, tables: dict[str, pd.DataFrame]) -> None:
    """Add the new days' rows where the project's source is."""
    url = project.source.url
    if url.startswith("duckdb://"):
        fleet.append_duckdb(tables, duckdb_path(url, project.root))
        return
    engine = fleet_sql.connect(url)
    try:
        fleet_sql.append(tables, engine)
    finally:
        engine.dispose()
