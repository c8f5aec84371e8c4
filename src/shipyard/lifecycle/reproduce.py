"""`shipyard reproduce RUN_ID`: run an earlier run again, from the project file and
the snapshot it recorded, and say whether the result is the same. A retraining
challenger is replayed as its cycle ran: the recent holdout split from the
same rows, the cycle's budget, the parent champion's artifact (by version, its
digest checked against the one the challenger recorded) and the parameters it
was warm-started from. A registered version (number or alias) stands for the
run that registered it.

The reproduction is a new run (tagged ``shipyard.kind=reproduce`` and
``shipyard.reproduces=<run>``) that registers nothing. Every ``holdout_*`` and
``cv_*`` metric of the two runs is compared, and so are both models' outputs on
the first rows of the snapshot (a fixed input): exactly when the configuration
is deterministic, else within TOLERANCE, with the components that make it
non-deterministic named.

TOLERANCE is relative (1e-6, with an absolute floor of 1e-12 for values near
zero): thousands of times the last-bit differences that summing in another
order leaves (about 1e-15 relative), and far below a difference anyone would
act on. What a tolerance cannot cover, such as a tuning timeout that lets
another machine finish fewer trials and choose another model, is reported as a
mismatch and named among the non-deterministic components.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from shipyard import gates, registry, spec
from shipyard.data import Snapshot, open_snapshot, remote, to_frame
from shipyard.errors import RegistryError, ShipyardError, SnapshotError
from shipyard.lifecycle import Challenge, Replay, challenger, run_project
from shipyard.lifecycle.lineage import PROJECT_ARTIFACT, environment, nondeterministic
from shipyard.metrics import ANOMALY, CLASSIFICATION, anomaly_scores
from shipyard.progress import Report, silent
from shipyard.registry import history
from shipyard.spec import Project
from shipyard.workspace import Workspace

TOLERANCE, FLOOR = 1e-6, 1e-12
ROWS = 50  # rows of the snapshot both models score


class MetricCheck(NamedTuple):
    name: str
    original: float | None
    reproduced: float | None
    equal: bool  # exactly, or within the tolerance


@dataclass(frozen=True)
class Reproduction:
    run_id: str
    new_run_id: str
    metrics: list[MetricCheck]
    predictions_equal: bool
    deterministic: bool
    nondeterministic: list[str]  # the components that are not, and why
    tolerance: float  # relative; 0.0 when the comparison is exact
    matched: bool
    rows_compared: int = 0  # rows both models scored
    prediction_difference: float = 0.0  # the largest absolute difference of their outputs
    snapshot: str = ""
    fetched_from: str | None = None  # the remote store the snapshot came from, if it did


def reproduce(project: Project, run_id: str, progress: Report = silent) -> Reproduction:
    """Re-run ``run_id`` (found in ``project``'s tracking store; or the run of a
    registered version, by number or alias) and compare. Refuses, changing
    nothing, an unknown run, a run that is not a training run, a snapshot that is
    missing or no longer matches its hash, and a challenger's parent whose
    artifact is not the one it started from."""
    ws = Workspace.of(project)
    if history.is_version(run_id):
        run_id = history.model_version(ws, project.name, run_id).run_id
    run = history.find_run(ws, run_id, project.tracking.experiment or project.name)
    run_id, tags = run.info.run_id, run.data.tags
    _reproducible(run)
    recorded = _recorded_project(ws, run, project)
    snap, fetched = _snapshot(ws, tags["shipyard.snapshot"], run_id, recorded, project)
    table = _rows(snap, run_id)
    test_table = None
    if tags.get("shipyard.snapshot.test"):
        test_table = _rows(_snapshot(ws, tags["shipyard.snapshot.test"], run_id, recorded,
                                     project)[0], run_id)
    # the original model is loaded (and its files checked) before anything is written
    original, card = history.run_model(ws, run)
    reasons = nondeterministic(recorded) + environment(tags)
    deterministic = not reasons
    challenge = None
    if tags.get("shipyard.kind") == "challenger":
        recorded, challenge = _challenge(ws, run, recorded, table)

    outcome = run_project(recorded, progress, challenge=challenge,
                          replay=Replay(table, run_id, test_table),
                          overrides=_overrides(ws, run_id))

    new = history.find_run(ws, outcome.run_id)
    checks = compare(run.data.metrics, new.data.metrics, deterministic)
    frame = to_frame(table.slice(0, ROWS))
    # the model as logged: after a fairness mitigation, not the one training returned
    model, new_card = history.run_model(ws, new)
    same, difference = _same_outputs(original, card, model, new_card, frame, deterministic)
    matched = same and all(c.equal for c in checks)
    registry.tag_run(ws, outcome.run_id, {
        "shipyard.reproduced": "matched" if matched else "differs",
        "shipyard.reproduce.tolerance": "exact" if deterministic else f"{TOLERANCE:g}",
        "shipyard.reproduce.nondeterministic": "; ".join(reasons) or "none"})
    return Reproduction(run_id, outcome.run_id, checks, same, deterministic, reasons,
                        0.0 if deterministic else TOLERANCE, matched, len(frame),
                        difference, snap.digest, fetched)


def _challenge(ws: Workspace, run, recorded: Project, table) -> tuple[Project, Challenge]:
    """A retraining challenger's cycle as it ran: its rows, the recent holdout split
    from them, the parent champion's artifact (checked against the digest the run
    recorded, wherever its aliases have moved since) and the parameters it started
    from; with the cycle's budget."""
    run_id, tags = run.info.run_id, run.data.tags
    parent, want = tags.get("shipyard.parent"), tags.get("shipyard.parent_digest")
    warm = history.run_json(ws, run_id, challenger.WARM_FILE)
    if not parent or not want or warm is None:
        raise ShipyardError(
            f"Run {run_id} is a retraining challenger that did not record what its cycle "
            "needs to replay (its parent's artifact digest and its warm start)",
            hint="challengers record it since Shipyard reproduces them; reproduce a newer "
                 "one, or the runs of `shipyard run`")
    got = registry.version_digest(ws, recorded.name, parent)
    if got != want:
        raise RegistryError(
            f"Cannot reproduce run {run_id}: the artifact of its parent, version {parent}, "
            "is not the one it started from",
            details=[f"recorded digest: {want}", f"version {parent}'s digest now: {got}"])
    champion = registry.load_version(ws, recorded.name, parent)  # its files checked
    recent, seed = recorded.retrain.recent, recorded.seed
    return (challenger.budget(recorded, champion.card.estimator),
            Challenge(table, lambda ds: challenger.recent(ds, recent, seed), champion, warm))


def _overrides(ws: Workspace, run_id: str) -> list[gates.Override]:
    """The overrides the run was given, so that the checks it let through do the same
    again (each recorded failed check with the reason it was let through)."""
    records = history.run_json(ws, run_id, "gates.json") or []
    return [gates.Override(r["key"], r["overridden"]) for r in records
            if not r.get("passed") and r.get("overridden") and r.get("key")]


def _reproducible(run) -> None:
    tags, run_id = run.data.tags, run.info.run_id
    kind = tags.get("shipyard.kind")
    if kind is None or "mlflow.parentRunId" in tags:
        raise ShipyardError(f"Run {run_id} is not a training run of Shipyard",
                            details=[f"run name: {run.info.run_name}"] + (
                                ["it is one candidate's cross-validation, nested in run "
                                 f"{tags['mlflow.parentRunId']}"]
                                if "mlflow.parentRunId" in tags else []),
                            hint="`shipyard runs` lists the runs that can be reproduced")
    if kind == "retrain":
        trained = tags.get("shipyard.challenger_run", "none")
        outcome = tags.get("shipyard.outcome", "unknown")
        if trained == "none":
            raise ShipyardError(f"Run {run_id} is the record of a retraining cycle "
                                f"({outcome}) that trained no challenger: there is no model "
                                "to reproduce",
                                hint="`shipyard runs` lists the runs that trained one")
        raise ShipyardError(
            f"Run {run_id} is the record of a retraining cycle ({outcome}); the model it "
            f"trained is its challenger, run {trained} (version "
            f"{tags.get('shipyard.challenger', 'none')}): reproduce that",
            hint=f"shipyard reproduce {trained}")
    if kind == "reproduce":
        raise ShipyardError(f"Run {run_id} is a reproduction of run "
                            f"{tags.get('shipyard.reproduces')}: reproduce that",
                            hint=f"shipyard reproduce {tags.get('shipyard.reproduces')}")
    if kind not in ("run", "challenger"):
        raise ShipyardError(f"Run {run_id} is a {kind} run, not a training run",
                            hint="`shipyard runs` lists the runs that can be reproduced")
    if run.info.status != "FINISHED":
        raise ShipyardError(f"Run {run_id} did not finish ({run.info.status}): it has no "
                            "results to compare with",
                            hint="`shipyard runs` lists the runs and their status")
    if not tags.get("shipyard.snapshot"):
        raise ShipyardError(f"Run {run_id} recorded no snapshot of its rows")


def _recorded_project(ws: Workspace, run, current: Project) -> Project:
    """The project file as the run read it, made to track to the same store."""
    run_id, tags = run.info.run_id, run.data.tags
    text = history.run_text(ws, run_id, PROJECT_ARTIFACT)
    if text is None:
        raise ShipyardError(f"Run {run_id} did not record its project file, so it cannot be "
                            "reproduced", details=[f"no artifact {PROJECT_ARTIFACT}"],
                            hint="runs record it since Shipyard records lineage; "
                                 "reproduce a newer run")
    digest = hashlib.sha256(text.encode()).hexdigest()
    if digest != tags.get("shipyard.project_digest"):
        raise ShipyardError(f"The project file recorded with run {run_id} does not match the "
                            "digest the run recorded: it was changed after the run",
                            details=[f"recorded digest: {tags.get('shipyard.project_digest')}",
                                     f"the file's digest: {digest}"])
    original = Path(tags["shipyard.project_file"]) if tags.get("shipyard.project_file") \
        else None
    # Relative paths start where the file was, when that folder is on this machine.
    file = original if original is not None and original.parent.is_dir() else current.file
    recorded = spec.parse(text, name=f"run {run_id[:12]}: shipyard.yaml", file=file,
                          sources=False)
    # The new run goes beside the old one, in the store the current project names.
    return recorded.model_copy(update={
        "workspace": str(ws.root),
        "tracking": recorded.tracking.model_copy(update={"uri": current.tracking.uri})})


def _snapshot(ws: Workspace, digest: str, run_id: str, recorded: Project,
              current: Project) -> tuple[Snapshot, str | None]:
    """The run's snapshot from the workspace, else fetched (and checked) from a
    snapshot store the recorded or the current project file names."""
    try:
        return open_snapshot(ws.snapshots, digest), None
    except SnapshotError:
        pass
    stores = list(dict.fromkeys(remote.resolve(p.snapshots, p.root)
                                for p in (recorded, current) if p.snapshots))
    missing = []
    for url in stores:
        try:
            return remote.fetch(url, digest, ws.snapshots), url
        except SnapshotError as exc:
            if not exc.headline.startswith("No snapshot"):
                raise  # a copy that is there but corrupt, or a store that fails: say so
            missing.append(exc.headline)
    raise SnapshotError(
        f"The snapshot of run {run_id} ({digest[:12]}) is not in this workspace"
        + (" nor in the snapshot store" if stores else ""),
        details=[f"looked in {ws.snapshots}", *missing],
        hint="copy the snapshot folder into the workspace, or name the store it was "
             "pushed to with `snapshots:` in the project file")


def _rows(snap: Snapshot, run_id: str):
    try:
        return snap.table()
    except SnapshotError as exc:
        raise SnapshotError(
            f"Cannot reproduce run {run_id}: its snapshot {snap.digest[:12]} no longer matches "
            "its hash (the rows were changed or damaged after the run); refusing to use it",
            details=exc.details,
            hint="restore the snapshot folder from a backup, or remove it so that it is "
                 "fetched again from the project's `snapshots:` store") from exc


def compare(original: dict[str, float], reproduced: dict[str, float],
            exact: bool) -> list[MetricCheck]:
    """Every holdout_* and cv_* metric of either run, paired."""
    names = sorted(k for k in original.keys() | reproduced.keys()
                   if k.startswith(("holdout_", "cv_")))
    return [MetricCheck(n, original.get(n), reproduced.get(n),
                        _equal(original.get(n), reproduced.get(n), exact)) for n in names]


def _equal(a: float | None, b: float | None, exact: bool) -> bool:
    if a is None or b is None:
        return False
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b if exact else math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=FLOOR)


def _same_outputs(old, old_card, new, new_card, frame, exact: bool) -> tuple[bool, float]:
    """Whether both models give the same outputs on ``frame``, and the largest
    absolute difference (inf when they cannot be compared at all)."""
    if old_card.schema != new_card.schema or old_card.task != new_card.task or \
            old_card.threshold != new_card.threshold:
        return False, math.inf
    X = old_card.schema.model_frame(frame)
    a, b = _outputs(old, X, old_card.task), _outputs(new, X, new_card.task)
    if a.shape != b.shape:
        return False, math.inf
    difference = float(np.nanmax(np.abs(a - b))) if a.size else 0.0
    same = np.array_equal(a, b, equal_nan=True) if exact else \
        np.allclose(a, b, rtol=TOLERANCE, atol=FLOOR, equal_nan=True)
    return bool(same), difference


def _outputs(model, X, task: str) -> np.ndarray:
    """Numbers to compare: scores, probabilities or predicted values."""
    if task == ANOMALY:
        return np.asarray(anomaly_scores(model, X), dtype=float)
    if task in CLASSIFICATION:
        return np.asarray(model.predict_proba(X), dtype=float)
    return np.asarray(model.predict(X), dtype=float)
