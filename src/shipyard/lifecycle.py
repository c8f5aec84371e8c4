"""One run of the life cycle, from the project file to the registry:

extract -> snapshot -> profile -> prepare -> train -> evaluate -> gates ->
report -> register.

Everything is recorded in one MLflow run. A model is registered (and becomes
the champion) only when every gate passes; a run that fails at any step
leaves the registry as it was.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path

from shipyard import data, evaluate, gates, prepare, profile, registry, report, train
from shipyard.card import ModelCard
from shipyard.data import Snapshot
from shipyard.metrics import METRICS
from shipyard.progress import Report, silent
from shipyard.spec import Project
from shipyard.train.section import section as training_section
from shipyard.workspace import Workspace


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
    experiment = project.tracking.experiment or project.name
    with registry.open_run(ws, experiment) as run:
        run.set_tags(_lineage(project))
        table = data.extract(project, lambda rows: progress("Extracting rows", rows, None))
        progress("Extracting rows", table.num_rows, table.num_rows)
        frame = data.to_frame(table)
        ds = prepare.dataset(frame, project)  # refuses unusable rows before anything is kept
        snap = data.store(table, project, ws)
        run.set_tags({"shipyard.snapshot": snap.digest})
        run.log_dataset(frame, snap.data_file, snap.digest, project.target)

        progress("Profiling", 0, 1)
        prof = profile.profile(frame, target=project.target, task=project.task,
                               entity=project.entity, time=project.time)
        progress("Profiling", 1, 1)
        fit_rows, holdout_rows = train.holdout(ds, project.split_strategy,
                                               project.split.holdout, project.seed)
        fit, held = ds.take(fit_rows), ds.take(holdout_rows)
        result = train.train(fit, prepare.preprocessor(ds.schema), project, progress)

        baseline = evaluate.baseline_for(project.task, fit.X, fit.y)
        ev = evaluate.evaluate(result.model, held.X, held.y, task=project.task,
                               baseline=baseline, positive=ds.positive)
        verdicts = gates.check(project, ev.metrics)
        card = ModelCard(name=project.name, task=project.task, target=project.target,
                         schema=ds.schema, classes=ds.classes, positive_class=ds.positive,
                         entity=project.entity, estimator=result.best.name,
                         metrics=ev.metrics)
        _log_results(run, project, result, ev, verdicts, len(fit), len(held))
        run.log_model(result.model, card, held.X.head(5), registry.requirements())

        page = _report(project, run.id, snap, prof, ds, result, ev, verdicts)
        path = report.write(ws.reports / f"{run.id}.html", page)
        run.log_file(path)

        version = registry.register(ws, project.name, run) if gates.passed(verdicts) else None
        run.set_tags({"shipyard.gates": "passed" if version else "failed",
                      "shipyard.registered_version": version or "none"})
    return RunOutcome(run.id, ws, snap, card.with_version(version) if version else card, result,
                      ev, verdicts, path, version)


def _lineage(project: Project) -> dict[str, str]:
    tags = {"shipyard.project": project.name, "shipyard.project_digest": project.digest,
            "shipyard.seed": str(project.seed)}
    for package in ("shipyard", "scikit-learn", "lightgbm", "pandas", "numpy"):
        tags[f"shipyard.versions.{package}"] = package_version(package)
    return tags


def _log_results(run, project, result, ev, verdicts, n_fit: int, n_holdout: int) -> None:
    run.log_params({"task": project.task, "target": project.target,
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
         "trials": c.trials} for c in result.candidates])


def _report(project, run_id, snap, prof, ds, result, ev, verdicts) -> str:
    metric = METRICS[result.metric]
    facts = {"run": run_id, "snapshot": snap.digest[:16], "rows": f"{snap.rows:,}",
             "model": result.best.name,
             f"holdout {metric.title}": f"{ev.metrics[metric.name]:.4g}",
             "gates": "passed" if gates.passed(verdicts) else "FAILED"}
    sections = [
        _data_section(project, snap, ds), profile.section(prof),
        training_section(result, project.task, project.split.folds, project.split_strategy),
        evaluate.section(ev, metric=metric.name), gates.section(verdicts),
    ]
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return report.render(f"{project.name}: {project.task} of '{project.target}'", sections,
                         subtitle=f"Run {run_id[:12]}, {started}", facts=facts)


def _data_section(project: Project, snap: Snapshot, ds: prepare.Dataset) -> report.Section:
    src = snap.manifest["source"]
    where = src.get("url") or ", ".join(f"{k}: {v}" for k, v in src.get("files", {}).items())
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in ds.notes)
    body = (f"<p>Source <code>{html.escape(where)}</code>; snapshot "
            f"<code>{snap.digest}</code> ({snap.rows:,} rows).</p>"
            f"<p>{len(ds):,} rows have a target; {ds.set_aside:,} without one were set aside. "
            f"{len(ds.schema.columns)} feature columns.</p>"
            + (f"<ul>{notes}</ul>" if notes else "")
            + f"<details><summary>Query</summary><pre>{html.escape(src['query'])}</pre>"
              "</details>")
    return report.Section("Data", body)
