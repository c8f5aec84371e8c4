"""One run of the life cycle, from the project file to the registry:

extract -> snapshot -> profile -> prepare -> train -> evaluate -> gates ->
report -> register.

Everything is recorded in one MLflow run. A model is registered (and becomes
the champion) only when every gate passes; a run that fails at any step
leaves the registry as it was.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path

import pandas as pd

from shipyard import data, evaluate, gates, prepare, profile, registry, report, train
from shipyard.card import ModelCard
from shipyard.data import Snapshot
from shipyard.metrics import ANOMALY, BINARY, METRICS
from shipyard.prepare import labels
from shipyard.progress import Report, silent
from shipyard.spec import Project
from shipyard.train.section import section as training_section
from shipyard.workspace import Workspace

log = logging.getLogger("shipyard.lifecycle")
_FAST_SAMPLE_ROWS = 2_000  # holdout rows on which the ONNX form must agree with the pipeline


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    workspace: Workspace
    snapshot: Snapshot
    card: ModelCard
    training: train.TrainResult
    evaluation: evaluate.Evaluation
    gates: list[gates.GateResult]
    report: Path
    version: str | None  # the registered version; None when a gate failed

    @property
    def passed(self) -> bool:
        return gates.passed(self.gates)


def run_project(project: Project, progress: Report = silent) -> RunOutcome:
    ws = Workspace.of(project).create()
    with registry.open_run(ws, project.tracking.experiment or project.name) as run:
        run.set_tags(_lineage(project))
        got = _gather(project, ws, run, progress)
        result = train.train(got.fit, prepare.steps(got.fit, project), project, progress)
        ev = _evaluate(project, got, result, progress)
        verdicts = gates.check(project, ev.metrics)
        ds = got.ds
        card = ModelCard(name=project.name, task=project.task, target=project.target,
                         schema=ds.schema, classes=ds.classes, positive_class=ds.positive,
                         threshold=result.threshold, entity=project.entity,
                         estimator=result.best.name, metrics=ev.metrics)
        _log_results(run, project, result, ev, verdicts, len(got.fit), len(got.held))
        run.log_model(result.model, card, got.held.X.head(5), registry.requirements())

        page = _report(project, run.id, got.snapshot, got.profile, ds, result, ev, verdicts)
        path = report.write(ws.reports / f"{run.id}.html", page)
        run.log_file(path)

        version = None
        if gates.passed(verdicts):
            run.log_fast(*_fast_form(project, result.model, card, got.held.X))
            version = registry.register(ws, project.name, run)
        run.set_tags({"shipyard.gates": "passed" if version else "failed",
                      "shipyard.registered_version": version or "none"})
    return RunOutcome(run.id, ws, got.snapshot, card.with_version(version) if version else card,
                      result, ev, verdicts, path, version)


def _fast_form(project: Project, model, card: ModelCard,
               X: pd.DataFrame) -> tuple[bytes | None, str]:
    """The pipeline compiled to ONNX and checked against it on holdout rows, or None
    and the reason. Never fails the run: without it the pipeline serves as it is."""
    if not project.serve.fast_path:
        return None, "the fast path is off (serve.fast_path: false)"
    # Imported here: the ONNX tool chain is slow to import and only needed now.
    from shipyard.serve.fast import NotCompilable, compile_pipeline

    sample = X.head(_FAST_SAMPLE_ROWS)
    try:
        onnx = compile_pipeline(model, card, sample)
    except NotCompilable as exc:
        log.info("%s: no ONNX form, the Python pipeline will serve: %s", project.name, exc)
        return None, str(exc)
    except Exception as exc:  # a converter's bug must not cost a model that passed its gates
        log.warning("%s: compiling to ONNX failed; the Python pipeline will serve",
                    project.name, exc_info=True)
        return None, f"compiling to ONNX failed: {type(exc).__name__}: {exc}"
    log.info("%s: compiled to ONNX (%d bytes), agrees with the pipeline on %d holdout rows",
             project.name, len(onnx), len(sample))
    return onnx, ""


@dataclass(frozen=True)
class _Gathered:
    profile: profile.Profile | None  # None without a target (an unlabelled anomaly task)
    ds: prepare.Dataset  # every labelled row of the main query
    fit: prepare.Dataset  # what training sees
    held: prepare.Dataset  # what judges the final model
    snapshot: Snapshot


def _gather(project: Project, ws: Workspace, run, progress: Report) -> _Gathered:
    """Extract, derive the label, profile, choose features, split; and keep the
    snapshot(s) only once the rows are known to be usable."""
    table = data.extract(project, lambda rows: progress("Extracting rows", rows, None))
    progress("Extracting rows", table.num_rows, table.num_rows)
    frame = data.to_frame(table)
    if project.label:
        frame = labels.derive(frame, project.label, project.entity, project.time,
                              project.target)
    prof = None
    if project.target is not None:  # the profile is of features against a target
        progress("Profiling", 0, 1)
        # labelled anomalies are profiled as the binary target they are
        prof = profile.profile(frame, target=project.target,
                               task=BINARY if project.task == ANOMALY else project.task,
                               entity=project.entity, time=project.time, seed=project.seed)
        progress("Profiling", 1, 1)
    ds = prepare.dataset(frame, project, leave_out=_not_features(prof))
    test_table = None
    if project.source.test_query:
        test_table = data.extract(project, test=True)
        fit, held = ds, prepare.holdout(data.to_frame(test_table), project, ds)
    else:
        fit_rows, holdout_rows = train.holdout(ds, project.split_strategy,
                                               project.split.holdout, project.seed)
        fit, held = ds.take(fit_rows), ds.take(holdout_rows)
    snap = data.store(table, project, ws)
    run.set_tags({"shipyard.snapshot": snap.digest})
    run.log_dataset(frame, snap.data_file, snap.digest, project.target)
    if test_table is not None:
        run.set_tags({"shipyard.snapshot.test": data.store(test_table, project, ws,
                                                           test=True).digest})
    return _Gathered(prof, ds, fit, held, snap)


def _evaluate(project: Project, got: _Gathered, result, progress: Report):
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


def _lineage(project: Project) -> dict[str, str]:
    tags = {"shipyard.project": project.name, "shipyard.project_digest": project.digest,
            "shipyard.seed": str(project.seed)}
    for package in ("shipyard", "scikit-learn", "lightgbm", "pandas", "numpy"):
        tags[f"shipyard.versions.{package}"] = package_version(package)
    return tags


def _log_results(run, project, result, ev, verdicts, n_fit: int, n_holdout: int) -> None:
    run.log_params({"task": project.task, "target": project.target or "(none)",
                    "split.strategy": project.split_strategy, "split.folds": project.split.folds,
                    "split.holdout": project.split.holdout, "rows.train": n_fit,
                    "rows.holdout": n_holdout, "model": result.best.name,
                    **{f"model.{k}": v for k, v in result.best.params.items()}})
    metrics = {f"holdout_{k}": v for k, v in ev.metrics.items()}
    metrics |= {f"baseline_{k}": v for k, v in ev.baseline_metrics.items()}
    metrics |= {f"cv_{k}_mean": result.best.mean(k) for k in result.best.scores}
    run.log_metrics(metrics)
    run.log_json("gates.json", [g.to_dict() for g in verdicts])
    run.log_json("candidates.json", [
        {"name": c.name, "params": c.params, "scores": c.scores, "seconds": c.seconds,
         "trials": c.trials, "iterations": c.best_iterations} for c in result.candidates])
    for c in result.candidates:
        series = {"tuning_trial_score": c.history} if c.history else {}
        if c.curves:
            series[f"fold1_valid_{c.curves[0].metric}"] = c.curves[0].valid
            series[f"fold1_train_{c.curves[0].metric}"] = c.curves[0].train
        run.log_child(c.name, {"model": c.name, "chosen": c is result.best, **c.params},
                      {**{f"cv_{k}_mean": c.mean(k) for k in c.scores},
                       **{f"cv_{k}_std": c.std(k) for k in c.scores}}, series)


def _report(project, run_id, snap, prof, ds, result, ev, verdicts) -> str:
    metric = METRICS[result.metric]
    facts = {"run": run_id, "snapshot": snap.digest[:16], "rows": f"{snap.rows:,}",
             "model": result.best.name,
             f"holdout {metric.title}": f"{ev.metrics[metric.name]:.4g}",
             "gates": "passed" if gates.passed(verdicts) else "FAILED"}
    sections = [
        _data_section(project, snap, ds),
        profile.section(prof) if prof is not None else report.Section(
            "Profile", "<p>The data has no target, so there is no profile of features "
                       "against it.</p>"),
        training_section(result, project.task, project.split.folds, project.split_strategy),
        evaluate.section(ev, metric=metric.name,
                         cv={k: (result.best.mean(k), result.best.std(k))
                             for k in result.best.scores}),
        gates.section(verdicts),
    ]
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    what = (f"{project.task} of '{project.target}'" if project.target is not None
            else "anomaly detection (no labels)")
    return report.render(f"{project.name}: {what}", sections,
                         subtitle=f"Run {run_id[:12]}, {started}", facts=facts)


def _data_section(project: Project, snap: Snapshot, ds: prepare.Dataset) -> report.Section:
    src = snap.manifest["source"]
    where = src.get("url") or ", ".join(f"{k}: {v}" for k, v in src.get("files", {}).items())
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in ds.notes)
    body = (f"<p>Source <code>{html.escape(where)}</code>; snapshot "
            f"<code>{snap.digest}</code> ({snap.rows:,} rows).</p>"
            + (f"<p>{len(ds):,} rows have a target; {ds.set_aside:,} without one were set "
               "aside. " if ds.labelled else f"<p>{len(ds):,} rows, without labels. ")
            + f"{len(ds.schema.columns)} feature columns.</p>"
            + (f"<ul>{notes}</ul>" if notes else "")
            + f"<details><summary>Query</summary><pre>{html.escape(src['query'])}</pre>"
              "</details>")
    return report.Section("Data", body)
