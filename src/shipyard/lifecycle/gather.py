"""Getting a run's rows: extract (or take a challenge's), derive the label,
profile, choose features, split into training and holdout rows."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from shipyard import data, evaluate, gates, prepare, profile, train
from shipyard.data import Snapshot
from shipyard.errors import GateFailed
from shipyard.gates import data_gate
from shipyard.lifecycle.challenger import SPLIT_FILE, split_record
from shipyard.lifecycle.lineage import share
from shipyard.lifecycle.record import run_tags
from shipyard.metrics import ANOMALY, BINARY
from shipyard.prepare import labels
from shipyard.progress import Report
from shipyard.spec import Project
from shipyard.workspace import Workspace

if TYPE_CHECKING:
    from shipyard.lifecycle import Challenge, Replay


@dataclass(frozen=True)
class Gathered:
    profile: profile.Profile | None  # None without a target (an unlabelled anomaly task)
    ds: prepare.Dataset  # every labelled row of the main query
    fit: prepare.Dataset  # what training sees
    held: prepare.Dataset  # what judges the final model
    snapshot: Snapshot
    held_rows: pd.DataFrame | None = None  # the holdout as extracted (all columns)
    early: list = field(default_factory=list)  # the data and privacy gates' records
    unlogged: list[str] = field(default_factory=list)  # kept out of the prediction log


def gather(project: Project, ws: Workspace, run, progress: Report,
           challenge: Challenge | None = None, replay: Replay | None = None,
           overrides: list[gates.Override] | None = None) -> Gathered:
    """Extract (unless a challenge or a replay gives the rows), derive the label,
    profile, judge the rows (data and privacy gates), choose features, split; and keep
    the snapshot(s) only once the rows are known to be usable."""
    if challenge is not None:
        table = challenge.table
    elif replay is not None:
        table = replay.table
    else:
        table = data.extract(project, lambda n: progress("Extracting rows", n, None))
    progress("Extracting rows", table.num_rows, table.num_rows)
    frame = labelled(project, table)
    prof = None
    if project.target is not None:  # the profile is of features against a target
        prof = profile_rows(project, frame, progress)
    early = _judge_rows(project, frame, prof, run, overrides or [])
    ds = prepare.dataset(frame, project, leave_out=_not_features(prof) | {
        c: f"{why}; gates.privacy.allow lets it in, with a reason"
        for c, why in early.refused.items()})
    # the same rows as the dataset's: those with a target, in order
    rows = frame if project.target is None else \
        frame.loc[frame[project.target].notna()].reset_index(drop=True)
    test_table = None
    if challenge is not None:
        fit_rows, holdout_rows, scored = challenge.split(ds)
        fit, held = ds.take(fit_rows), replace(ds.take(holdout_rows), scored=scored)
        held_rows = rows.iloc[holdout_rows].reset_index(drop=True)
        run.log_json(SPLIT_FILE, split_record(fit_rows, holdout_rows, scored))
    elif project.source.test_query:
        test_table = replay.test_table if replay is not None and \
            replay.test_table is not None else data.extract(project, test=True)
        held_rows = data.to_frame(test_table)
        fit, held = ds, prepare.holdout(held_rows, project, ds)
    else:
        fit_rows, holdout_rows = train.holdout(ds, project.split_strategy,
                                               project.split.holdout, project.seed)
        fit, held = ds.take(fit_rows), ds.take(holdout_rows)
        held_rows = rows.iloc[holdout_rows].reset_index(drop=True)
    snap = data.store(table, project, ws)
    run.set_tags({"shipyard.snapshot": snap.digest})
    share(run, project, snap)
    run.log_dataset(frame, snap.data_file, snap.digest, project.target)
    if test_table is not None:
        test_snap = data.store(test_table, project, ws, test=True)
        run.set_tags({"shipyard.snapshot.test": test_snap.digest})
        share(run, project, test_snap, test=True)
    return Gathered(prof, ds, fit, held, snap, held_rows, early.results, early.unlogged)


def labelled(project: Project, table) -> pd.DataFrame:
    """The extracted rows as a frame, with the label derived when the project says how."""
    frame = data.to_frame(table)
    if project.label:
        frame = labels.derive(frame, project.label, project.entity, project.time,
                              project.target)
    return frame


def profile_rows(project: Project, frame: pd.DataFrame, progress: Report) -> profile.Profile:
    progress("Profiling", 0, 1)
    # labelled anomalies are profiled as the binary target they are
    found = profile.profile(frame, target=project.target,
                            task=BINARY if project.task == ANOMALY else project.task,
                            entity=project.entity, time=project.time, seed=project.seed)
    progress("Profiling", 1, 1)
    return found


def _judge_rows(project: Project, frame: pd.DataFrame, prof, run,
                overrides: list[gates.Override]) -> gates.Early:
    """The data and privacy gates; a blocking failure that no override covers stops
    the run here, before anything is trained or stored."""
    early = gates.before_training(project, frame, prof.findings if prof else None)
    results = gates.apply(early.results, overrides)
    failed = gates.failures(results)
    if failed:
        run.log_json("gates.json", [r.to_dict() for r in results])
        run.set_tags(run_tags(results))
        raise GateFailed(f"{len(failed)} blocking check(s) failed on the extracted rows: "
                         "nothing was trained or registered",
                         details=data_gate.explain([r for r in failed if r.gate == "data"])
                         + [f"{r.key}: {r.details}" for r in failed if r.gate != "data"],
                         hint="fix the data or the project file, or let a check through "
                              "with --override CHECK --reason \"...\"")
    return replace(early, results=results)


def evaluate_held(project: Project, got: Gathered, result, progress: Report):
    progress("Evaluating on the holdout", 0, 1)
    fit, held = got.fit, got.held
    segments = None if held.segments is None else pd.Series(held.segments,
                                                            name=project.evaluate.segment)
    labelled = held.labelled
    ev = evaluate.evaluate(result.model, held.X, held.y if labelled else None,
                           task=project.task,
                           baseline=evaluate.baseline_for(project.task, fit.X, fit.y)
                           if labelled else None,
                           positive=got.ds.positive, threshold=result.threshold,
                           segments=segments if labelled else None,
                           importance=project.evaluate.importance and labelled,
                           seed=project.seed, scored=held.scored)
    if project.evaluate.costs is not None and labelled:
        keep = slice(None) if held.scored is None else np.flatnonzero(held.scored)
        ev = replace(ev, costs=evaluate.costs.table(
            project.evaluate.costs, held.groups[keep], held.times[keep],
            ev.prediction.y_true, ev.prediction.y_pred))
    progress("Evaluating on the holdout", 1, 1)
    return ev


def _not_features(prof) -> dict[str, str]:
    """Columns the profile found unfit to be features, with the reason."""
    if prof is None:
        return {}
    reasons = {"identifier": "it looks like an identifier", "constant": "it is constant",
               "leakage": "it alone predicts the target almost perfectly (a leakage suspect)"}
    return {f.column: reasons[f.kind] for f in prof.findings
            if f.kind in reasons and f.column is not None}


