"""What a run records: lineage tags, parameters, metrics, and its HTML report."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime

from shipyard import evaluate, gates, profile, report
from shipyard.data import Snapshot
from shipyard.metrics import METRICS
from shipyard.prepare import Dataset
from shipyard.prepare.series import series_step
from shipyard.spec import Project
from shipyard.train.section import section as training_section


def log_results(run, project, result, ev, verdicts, n_fit: int, n_holdout: int) -> None:
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
    # what a retraining cycle warm-starts from (MLflow's params are strings)
    run.log_json("model.json", {"name": result.best.name, "params": result.best.params,
                                "iterations": result.best.best_iterations})
    if result.series is not None:
        run.log_json("series_choice.json", result.series.to_dict())
        run.log_params({f"series.{k}": v for k, v in result.series.to_dict()["settings"].items()})
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


def page(project, run_id, snap, prof, ds, result, ev, verdicts, rival=None, fair=None) -> str:
    metric = METRICS[result.metric]
    facts = {"run": run_id, "snapshot": snap.digest[:16], "rows": f"{snap.rows:,}",
             "model": result.best.name,
             f"holdout {metric.title}": f"{ev.metrics[metric.name]:.4g}",
             "gates": run_tags(verdicts)["shipyard.gates"]}
    sections = [
        _data_section(project, snap, ds),
        _with_smoothing(profile.section(prof), project, snap) if prof is not None
        else report.Section(
            "Profile", "<p>The data has no target, so there is no profile of features "
                       "against it.</p>"),
        *_regimes(result.model, snap, project.seed),
        training_section(result, project.task, project.split.folds, project.split_strategy),
        evaluate.section(ev, metric=metric.name,
                         cv={k: (result.best.mean(k), result.best.std(k))
                             for k in result.best.scores}),
        gates.section(verdicts),
    ]
    if fair is not None:
        sections.append(fair.section())
    if rival is not None:
        sections.append(_rival_section(metric, ev, rival))
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    what = (f"{project.task} of '{project.target}'" if project.target is not None
            else "anomaly detection (no labels)")
    return report.render(f"{project.name}: {what}", sections,
                         subtitle=f"Run {run_id[:12]}, {started}", facts=facts)


def _with_smoothing(section: report.Section, project, snap) -> report.Section:
    """The profile, with the raw and smoothed readings of a smoothed series."""
    series = project.prepare.series
    if series is None or series.smooth is None or not project.entity or not project.time:
        return section
    from shipyard.prepare.smoothing_plot import smoothing

    plots = smoothing(snap.frame(), series, project.entity, project.time)
    if not plots:
        return section
    return report.Section(section.title, section.html + "<h3 id=\"smoothing\">Smoothing"
                          "</h3>" + "".join(p.html for p in plots))


def _regimes(model, snap, seed: int) -> list[report.Section]:
    """The operating regimes the series step found, when it clustered for them."""
    found = getattr(series_step(model), "regimes_", None)
    if found is None:
        return []
    from shipyard.prepare.regimes_section import section

    return [section(found, snap.frame(), seed)]


def _rival_section(metric, ev, rival) -> report.Section:
    rows = [{"metric": name, "champion": rival.metrics[name], "challenger": ev.metrics[name]}
            for name in ev.metrics if name in rival.metrics]
    return report.Section("Champion and challenger", (
        f"<p>Both scored on the same {ev.n_rows:,} recent holdout rows; the decision is by "
        f"{html.escape(metric.title)}.</p>") + report.table(rows))


def _data_section(project: Project, snap: Snapshot, ds: Dataset) -> report.Section:
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


def _tag_key(key: str) -> str:
    # MLflow tag names allow letters, digits, _ - . / and spaces; column names may not
    return re.sub(r"[^\w.\- /]", "_", key)


def run_tags(verdicts: list[gates.GateResult]) -> dict[str, str]:
    """The gates on the run: overall, and one tag per check (pass, fail, warning,
    overridden); the full records are in gates.json."""
    overall = "failed" if not gates.passed(verdicts) else \
        "overridden" if any(r.overridden for r in verdicts) else "passed"
    tags = {"shipyard.gates": overall}
    for r in verdicts:
        tags[f"shipyard.gate.{_tag_key(r.key)}"] = (
            "pass" if r.passed else "overridden" if r.overridden else
            "fail" if r.blocking else "warning")
    return tags


def version_tags(verdicts: list[gates.GateResult], given: list[gates.Override]) -> dict:
    """What a registered version carries about its gates: the verdict, and every
    override that let a failed check through, with its reason, who and when."""
    tags = {"shipyard.gates": run_tags(verdicts)["shipyard.gates"]}
    used = [r for r in verdicts if r.overridden]
    if used:
        by = next((o.by for o in given if o.by), "")
        tags["shipyard.overrides"] = json.dumps(
            [{"check": r.key, "reason": r.overridden, "by": by,
              "at": datetime.now(UTC).isoformat(timespec="seconds")} for r in used])
    return tags
